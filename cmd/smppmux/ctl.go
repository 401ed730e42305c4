package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/smppmux/smppmux/config"
)

const ctlUsage = `usage: smppmux ctl [flags] COMMAND [ARGS]

Acts on a running smppmux through its admin API (README, "Run-time
control"). What it changes holds across reloads; a restart forgets it.

  status                              readiness, upstreams, groups, clients, recent warnings
  upstream stop NAME                  unbind the upstream's binds and keep them down
  upstream start NAME                 bind a stopped upstream again
  client kick SYSTEM_ID [REASON]      unbind the client's sessions (it may bind again)
  client suspend SYSTEM_ID            unbind them and refuse its binds (ESME_RBINDFAIL)
  client resume SYSTEM_ID             let a suspended client bind again
  outbox list SYSTEM_ID               the receipts and MO messages waiting for the client
  outbox purge SYSTEM_ID [ITEM]       delete one of them, or all: the client never gets them
  deadletters list SYSTEM_ID          the client's dead letters
  deadletters retry SYSTEM_ID         put them back at the end of its outbox
  deadletters purge SYSTEM_ID [SEQ]   delete one of them, or all
  message SYSTEM_ID MESSAGE_ID        a message by the id its client was given
  log-level [LEVEL]                   show the log level, or set it (debug, info, warn, error)

The admin API's address is -admin, else listen.admin of the -config file
if it can be read, else http://127.0.0.1:9090. The token is read from
-token-file, else $SMPPMUX_TOKEN, else admin.token of that file; it is
never printed. Flags may come before or after the command. Times are UTC.

Exit status: 0 done, 1 the API refused or failed (its answer on stderr),
2 a wrong command line.

flags:
`

// defaultAdminURL is the admin API's address when neither -admin nor a
// configuration file says.
const defaultAdminURL = "http://127.0.0.1:9090"

// ctlOptions are ctl's flags, once read.
type ctlOptions struct {
	base    string // the admin API's URL, without a trailing slash
	token   string
	json    bool
	limit   int
	timeout time.Duration
}

// ctl runs one command against the admin API of a running smppmux.
func ctl(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("smppmux ctl", ctlUsage)
	configPath := fs.String("config", defaultConfig, "configuration `file` to read the admin listener and token from")
	adminURL := fs.String("admin", "", "the admin API's `URL` (default: listen.admin of -config, else "+defaultAdminURL+")")
	tokenFile := fs.String("token-file", "", "`file` holding the admin token (default: $SMPPMUX_TOKEN, else admin.token of -config)")
	asJSON := fs.Bool("json", false, "print the API's JSON as it is, for scripts (nothing for a change answered 204)")
	limit := fs.Int("limit", 100, "list at most `n` items (outbox list, deadletters list), from 1 to 10000")
	timeout := fs.Duration("timeout", 30*time.Second, "give up on the API after this long")
	words, err := parseInterleaved(fs, args, stdout, stderr)
	if err != nil {
		return err
	}
	if *adminURL != "" {
		if u, err := url.Parse(*adminURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return badUsage(fs, stderr, "-admin %q: want a URL such as %s", *adminURL, defaultAdminURL)
		}
	}
	if *limit < 1 || *limit > 10000 {
		return badUsage(fs, stderr, "-limit: from 1 to 10000, got %d", *limit)
	}
	cmd, err := ctlCommand(words)
	if err != nil {
		return badUsage(fs, stderr, "%v", err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	o := ctlOptions{json: *asJSON, limit: *limit, timeout: *timeout}
	var cfg *config.Config
	if *adminURL == "" || (*tokenFile == "" && env("SMPPMUX_TOKEN") == "") {
		var err error
		if cfg, err = config.Load(*configPath); err != nil && set["config"] {
			fmt.Fprintf(stderr, "smppmux ctl: %s cannot be read (%v): using %s\n", *configPath, err, defaultAdminURL)
		}
	}
	if o.base, err = adminBase(*adminURL, cfg, *configPath); err != nil {
		return err
	}
	switch {
	case *tokenFile != "":
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return fmt.Errorf("ctl: -token-file: %w", err)
		}
		o.token = strings.TrimSpace(string(b))
	case env("SMPPMUX_TOKEN") != "":
		o.token = env("SMPPMUX_TOKEN")
	case cfg != nil:
		o.token = cfg.Admin.Token
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	return cmd(ctx, &o, stdout)
}

// parseInterleaved parses args with fs, flags before, between and after
// the words, and returns the words. "--" ends the flags.
func parseInterleaved(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) ([]string, error) {
	var words []string
	for {
		if err := parseArgs(fs, args, -1, stdout, stderr); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return words, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(words, rest...), nil
		}
		words, args = append(words, rest[0]), rest[1:]
	}
}

// adminBase returns the admin API's URL: flag, else listen.admin of cfg
// (nil when it could not be read), else defaultAdminURL.
func adminBase(flagURL string, cfg *config.Config, path string) (string, error) {
	if flagURL != "" {
		return strings.TrimSuffix(flagURL, "/"), nil
	}
	if cfg == nil {
		return defaultAdminURL, nil
	}
	if cfg.Listen.Admin == "" {
		return "", fmt.Errorf("ctl: %s turns the admin listener off (listen.admin is empty): nothing to talk to", path)
	}
	host, port, err := net.SplitHostPort(cfg.Listen.Admin)
	if err != nil {
		return "", fmt.Errorf("ctl: %s: listen.admin %q: %w", path, cfg.Listen.Admin, err)
	}
	// A listener on every address is reached on loopback.
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

// ctlFunc carries out one parsed command.
type ctlFunc func(ctx context.Context, o *ctlOptions, stdout io.Writer) error

// ctlCommand reads the command's words and returns what carries it out,
// or what is wrong with them.
func ctlCommand(w []string) (ctlFunc, error) {
	if len(w) == 0 {
		return nil, errors.New("no command")
	}
	// want checks the number of arguments after the command's n words.
	want := func(n, min, max int, names string) error {
		if got := len(w) - n; got < min || (max >= 0 && got > max) {
			if names == "" {
				return fmt.Errorf("%s takes no argument", strings.Join(w[:n], " "))
			}
			return fmt.Errorf("%s: want %s", strings.Join(w[:n], " "), names)
		}
		return nil
	}
	sub := func(verbs ...string) (string, error) {
		if len(w) < 2 {
			return "", fmt.Errorf("%s: want one of %s", w[0], strings.Join(verbs, ", "))
		}
		for _, v := range verbs {
			if w[1] == v {
				return v, nil
			}
		}
		return "", fmt.Errorf("%s: unknown %q, want one of %s", w[0], w[1], strings.Join(verbs, ", "))
	}
	switch w[0] {
	case "status":
		return ctlStatus, want(1, 0, 0, "")
	case "upstream":
		verb, err := sub("stop", "start")
		if err != nil {
			return nil, err
		}
		if err := want(2, 1, 1, "NAME"); err != nil {
			return nil, err
		}
		return upstreamOp(verb, w[2]), nil
	case "client":
		verb, err := sub("kick", "suspend", "resume")
		if err != nil {
			return nil, err
		}
		if verb == "kick" {
			if err := want(2, 1, -1, "SYSTEM_ID [REASON]"); err != nil {
				return nil, err
			}
			return clientKick(w[2], strings.Join(w[3:], " ")), nil
		}
		if err := want(2, 1, 1, "SYSTEM_ID"); err != nil {
			return nil, err
		}
		return clientOp(verb, w[2]), nil
	case "outbox":
		verb, err := sub("list", "purge")
		if err != nil {
			return nil, err
		}
		if verb == "list" {
			return outboxList(w[2:]), want(2, 1, 1, "SYSTEM_ID")
		}
		if err := want(2, 1, 2, "SYSTEM_ID [ITEM]"); err != nil {
			return nil, err
		}
		seq, err := optSeq(w[3:], "ITEM")
		return purge("outbox", "/api/v1/clients/"+url.PathEscape(w[2])+"/outbox", w[2], seq), err
	case "deadletters":
		verb, err := sub("list", "retry", "purge")
		if err != nil {
			return nil, err
		}
		switch verb {
		case "list":
			return deadLettersList(w[2:]), want(2, 1, 1, "SYSTEM_ID")
		case "retry":
			return deadLettersRetry(w[2:]), want(2, 1, 1, "SYSTEM_ID")
		}
		if err := want(2, 1, 2, "SYSTEM_ID [SEQ]"); err != nil {
			return nil, err
		}
		seq, err := optSeq(w[3:], "SEQ")
		return purge("dead letters", "/api/v1/deadletters/"+url.PathEscape(w[2]), w[2], seq), err
	case "message":
		if err := want(1, 2, 2, "SYSTEM_ID MESSAGE_ID"); err != nil {
			return nil, err
		}
		return messageLookup(w[1], w[2]), nil
	case "log-level":
		if err := want(1, 0, 1, "[LEVEL]"); err != nil {
			return nil, err
		}
		return logLevel(w[1:]), nil
	}
	return nil, fmt.Errorf("unknown command %q", w[0])
}

// optSeq reads an optional item number: 0 when absent.
func optSeq(w []string, name string) (uint64, error) {
	if len(w) == 0 {
		return 0, nil
	}
	seq, err := strconv.ParseUint(w[0], 10, 64)
	if err != nil || seq == 0 {
		return 0, fmt.Errorf("%s: want a number from 1, got %q", name, w[0])
	}
	return seq, nil
}

func yesNo(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func pace(tps float64) string {
	if tps == 0 {
		return "-"
	}
	return strconv.FormatFloat(tps, 'f', -1, 64)
}

// stamp writes t in UTC to the second, "-" when zero.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.DateTime)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

func setOf(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}
