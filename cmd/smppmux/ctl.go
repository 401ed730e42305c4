package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/smppmux/smppmux/admin"
	"github.com/smppmux/smppmux/config"
	"github.com/smppmux/smppmux/metrics"
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

// apiError is an answer of the admin API other than 2xx.
type apiError struct {
	method, path string
	code         int
	msg          string
}

func (e *apiError) Error() string {
	s := fmt.Sprintf("ctl: %s %s: %d %s", e.method, e.path, e.code, http.StatusText(e.code))
	if e.msg != "" {
		s += ": " + e.msg
	}
	if e.code == http.StatusUnauthorized {
		s += " (the token is missing or wrong: -token-file, $SMPPMUX_TOKEN or admin.token of -config)"
	}
	return s
}

// call sends a request to the admin API and returns the answer's body,
// or an error for any answer but 2xx.
func (o *ctlOptions) call(ctx context.Context, method, path string, body io.Reader) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, o.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("ctl: %w", err)
	}
	if o.token != "" {
		req.Header.Set("Authorization", "Bearer "+o.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ctl: %s %s: %w", method, path, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("ctl: %s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, &apiError{method: method, path: path, code: resp.StatusCode, msg: strings.TrimSpace(string(b))}
	}
	return b, nil
}

// get calls the API and, unless -json prints the answer as it is,
// decodes it into v and reports true.
func (o *ctlOptions) get(ctx context.Context, method, path string, body io.Reader, stdout io.Writer, v any) (bool, error) {
	b, err := o.call(ctx, method, path, body)
	if err != nil {
		return false, err
	}
	if o.json {
		_, err := stdout.Write(b)
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("ctl: %s %s: the answer is not what ctl reads: %w", method, path, err)
	}
	return true, nil
}

// statusDoc is the status API's answer.
type statusDoc struct {
	metrics.Snapshot
	Control *admin.Control `json:"control"`
}

func ctlStatus(ctx context.Context, o *ctlOptions, stdout io.Writer) error {
	var s statusDoc
	if ok, err := o.get(ctx, "GET", "/api/v1/status", nil, stdout, &s); !ok {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	store := s.Store.Kind + " " + yesNo(s.Store.Healthy, "healthy", "unhealthy")
	if s.Store.Error != "" {
		store += ": " + s.Store.Error
	}
	fmt.Fprintf(tw, "ready:\t%s\n", yesNo(s.Ready, "yes", "no"))
	fmt.Fprintf(tw, "store:\t%s\n", store)
	var stopped, suspended map[string]bool
	if c := s.Control; c != nil {
		fmt.Fprintf(tw, "log level:\t%s\n", orDash(c.LogLevel))
		stopped, suspended = setOf(c.StoppedUpstreams), setOf(c.SuspendedClients)
	}
	tw.Flush()

	fmt.Fprintln(stdout)
	tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "UPSTREAM\tSTATE\tBOUND\tWINDOW USED\tPACE TPS\tTHROTTLED")
	for _, u := range s.Upstreams {
		bound, binds, used, window := 0, 0, 0, 0
		for _, b := range s.Binds {
			if b.Upstream == u.Name {
				binds++
				used += b.WindowUsed
				window += b.Window
				if b.State == "bound" {
					bound++
				}
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%d/%d\t%s\t%d\n", u.Name, yesNo(stopped[u.Name], "stopped", "running"),
			bound, binds, used, window, pace(u.PaceTPS), u.Throttled)
	}
	tw.Flush()

	fmt.Fprintln(stdout)
	tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tMODE\tMEMBER\tWEIGHT\tEFFECTIVE\tHEALTHY\tBREAKER")
	for _, g := range s.Groups {
		name := g.Name
		if !g.Available {
			name += " (unavailable)"
		}
		for _, m := range g.Members {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.1f\t%s\t%s\n", name, g.Mode, m.Upstream, m.Weight, m.EffectiveWeight,
				yesNo(m.Healthy, "yes", "no"), m.Breaker)
		}
	}
	tw.Flush()

	fmt.Fprintln(stdout)
	tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT\tSTATE\tSESSIONS\tOUTBOX\tOLDEST\tDEAD LETTERS")
	outbox := map[string]metrics.OutboxInfo{}
	for _, ob := range s.Outboxes {
		outbox[ob.SystemID] = ob
	}
	dead := map[string]int{}
	for _, d := range s.DeadLetters {
		dead[d.SystemID] = d.Count
	}
	for _, id := range clientsOf(s) {
		sessions := 0
		for _, ss := range s.Sessions {
			if ss.SystemID == id {
				sessions++
			}
		}
		ob := outbox[id]
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%d\n", id, yesNo(suspended[id], "suspended", "active"), sessions,
			ob.Depth, ob.OldestAge.Round(time.Second), dead[id])
	}
	tw.Flush()

	if c := s.Control; c != nil && len(c.Drained) > 0 {
		fmt.Fprintf(stdout, "\ndrained: %s\n", strings.Join(c.Drained, ", "))
	}
	if c := s.Control; c != nil && len(c.RecentErrors) > 0 {
		fmt.Fprintln(stdout, "\nrecent warnings and errors, newest first:")
		tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tLEVEL\tLOGGER\tCOUNT\tMESSAGE")
		for _, e := range c.RecentErrors {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", e.Time.UTC().Format(time.RFC3339), e.Level, orDash(e.Logger), e.Count, e.Message)
		}
		tw.Flush()
	}
	return nil
}

// clientsOf returns the clients the status names: every configured one
// when it says, else those with sessions, outboxes or dead letters.
func clientsOf(s statusDoc) []string {
	var ids []string
	seen := map[string]bool{}
	add := func(id string) {
		if id != "" && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if s.Control != nil {
		for _, c := range s.Control.Clients {
			add(c.SystemID)
		}
	}
	for _, ss := range s.Sessions {
		add(ss.SystemID)
	}
	for _, ob := range s.Outboxes {
		add(ob.SystemID)
	}
	for _, d := range s.DeadLetters {
		add(d.SystemID)
	}
	return ids
}

func upstreamOp(verb, name string) ctlFunc {
	return func(ctx context.Context, o *ctlOptions, stdout io.Writer) error {
		if _, err := o.call(ctx, "POST", "/api/v1/upstreams/"+url.PathEscape(name)+"/"+verb, nil); err != nil {
			return err
		}
		if o.json {
			return nil
		}
		if verb == "stop" {
			fmt.Fprintf(stdout, "upstream %s stopped: its binds stay down, across reloads, until \"ctl upstream start %s\" or a restart\n", name, name)
			return nil
		}
		fmt.Fprintf(stdout, "upstream %s started: it binds again\n", name)
		return nil
	}
}

func clientKick(id, reason string) ctlFunc {
	return func(ctx context.Context, o *ctlOptions, stdout io.Writer) error {
		path := "/api/v1/clients/" + url.PathEscape(id) + "/kick"
		if reason != "" {
			path += "?reason=" + url.QueryEscape(reason)
		}
		var res struct {
			Closed int `json:"closed"`
		}
		if ok, err := o.get(ctx, "POST", path, nil, stdout, &res); !ok {
			return err
		}
		fmt.Fprintf(stdout, "client %s kicked: %s closed\n", id, plural(res.Closed, "session"))
		return nil
	}
}

func clientOp(verb, id string) ctlFunc {
	return func(ctx context.Context, o *ctlOptions, stdout io.Writer) error {
		path := "/api/v1/clients/" + url.PathEscape(id) + "/" + verb
		if verb == "resume" {
			if _, err := o.call(ctx, "POST", path, nil); err != nil || o.json {
				return err
			}
			fmt.Fprintf(stdout, "client %s resumed: it may bind again\n", id)
			return nil
		}
		var res struct {
			Closed int `json:"closed"`
		}
		if ok, err := o.get(ctx, "POST", path, nil, stdout, &res); !ok {
			return err
		}
		fmt.Fprintf(stdout, "client %s suspended: %s closed; its binds are refused, across reloads, until \"ctl client resume %s\" or a restart\n",
			id, plural(res.Closed, "session"), id)
		return nil
	}
}

func outboxList(w []string) ctlFunc {
	return func(ctx context.Context, o *ctlOptions, stdout io.Writer) error {
		path := fmt.Sprintf("/api/v1/clients/%s/outbox?limit=%d", url.PathEscape(w[0]), o.limit)
		var ob admin.Outbox
		if ok, err := o.get(ctx, "GET", path, nil, stdout, &ob); !ok {
			return err
		}
		fmt.Fprintf(stdout, "outbox of %s: %s waiting", ob.SystemID, plural(ob.Depth, "item"))
		if ob.Depth > 0 {
			fmt.Fprintf(stdout, ", the oldest for %s", (time.Duration(ob.OldestAgeSeconds * float64(time.Second))).Round(time.Second))
		}
		fmt.Fprintln(stdout)
		if len(ob.Items) == 0 {
			return nil
		}
		text := false
		for _, it := range ob.Items {
			text = text || it.Text != ""
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		head := "ITEM\tARRIVED\tCOMMAND\tMESSAGE ID\tSTATE\tSOURCE\tDESTINATION\tATTEMPTS\tREFUSALS\tLAST STATUS\tRETRY AT"
		if text {
			head += "\tTEXT"
		}
		fmt.Fprintln(tw, head)
		for _, it := range ob.Items {
			cmd := it.Command
			if it.Receipt {
				cmd += " (receipt)"
			}
			retry := "-"
			if !it.RetryAt.IsZero() {
				retry = stamp(it.RetryAt)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s", it.Seq, stamp(it.Arrived), cmd, orDash(it.MessageID),
				orDash(it.State), orDash(it.Source), orDash(it.Destination), it.Attempts, it.Refusals, orDash(it.LastStatus), retry)
			if text {
				fmt.Fprintf(tw, "\t%q", it.Text)
			}
			fmt.Fprintln(tw)
		}
		tw.Flush()
		if n := ob.Depth - len(ob.Items); n > 0 && len(ob.Items) == o.limit {
			fmt.Fprintf(stdout, "(%d more: -limit)\n", n)
		}
		return nil
	}
}

// purge deletes one item (seq) or all of a client's outbox or dead
// letters at path.
func purge(what, path, id string, seq uint64) ctlFunc {
	return func(ctx context.Context, o *ctlOptions, stdout io.Writer) error {
		p := path
		if seq != 0 {
			p += "/" + strconv.FormatUint(seq, 10)
		}
		var res struct {
			Purged int `json:"purged"`
		}
		if ok, err := o.get(ctx, "DELETE", p, nil, stdout, &res); !ok {
			return err
		}
		fmt.Fprintf(stdout, "%s of %s: %d purged\n", what, id, res.Purged)
		return nil
	}
}

func deadLettersList(w []string) ctlFunc {
	return func(ctx context.Context, o *ctlOptions, stdout io.Writer) error {
		path := fmt.Sprintf("/api/v1/deadletters/%s?limit=%d", url.PathEscape(w[0]), o.limit)
		var list []admin.DeadLetter
		if ok, err := o.get(ctx, "GET", path, nil, stdout, &list); !ok {
			return err
		}
		fmt.Fprintf(stdout, "dead letters of %s: %d listed\n", w[0], len(list))
		if len(list) == 0 {
			return nil
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SEQ\tARRIVED\tDEAD AT\tREASON\tCOMMAND\tMESSAGE ID\tSOURCE\tDESTINATION\tATTEMPTS\tREFUSALS\tLAST STATUS")
		for _, d := range list {
			cmd := d.Command
			if d.Receipt {
				cmd += " (receipt)"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", d.Seq, stamp(d.Arrived), stamp(d.DeadAt), d.Reason, cmd,
				orDash(d.MessageID), orDash(d.Source), orDash(d.Destination), d.Attempts, d.Refusals, orDash(d.LastStatus))
		}
		tw.Flush()
		if len(list) == o.limit {
			fmt.Fprintln(stdout, "(there may be more: -limit)")
		}
		return nil
	}
}

func deadLettersRetry(w []string) ctlFunc {
	return func(ctx context.Context, o *ctlOptions, stdout io.Writer) error {
		var res struct {
			Requeued int `json:"requeued"`
		}
		if ok, err := o.get(ctx, "POST", "/api/v1/deadletters/"+url.PathEscape(w[0])+"/retry", nil, stdout, &res); !ok {
			return err
		}
		fmt.Fprintf(stdout, "dead letters of %s: %d put back in its outbox\n", w[0], res.Requeued)
		return nil
	}
}

func messageLookup(id, msgID string) ctlFunc {
	return func(ctx context.Context, o *ctlOptions, stdout io.Writer) error {
		var m admin.Message
		path := "/api/v1/clients/" + url.PathEscape(id) + "/messages/" + url.PathEscape(msgID)
		if ok, err := o.get(ctx, "GET", path, nil, stdout, &m); !ok {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "system_id:\t%s\n", m.SystemID)
		fmt.Fprintf(tw, "message_id:\t%s\n", m.MessageID)
		fmt.Fprintf(tw, "state:\t%s\n", m.State)
		if m.Upstream != "" {
			fmt.Fprintf(tw, "upstream:\t%s\n", m.Upstream)
			fmt.Fprintf(tw, "upstream id:\t%s\n", orDash(m.UpstreamID))
			fmt.Fprintf(tw, "session:\t%d (%s)\n", m.Session, yesNo(m.SessionBound, "bound: receipts go there first", "gone: receipts go to another session of the client"))
			fmt.Fprintf(tw, "submitted:\t%s\n", stamp(m.Submitted))
			fmt.Fprintf(tw, "expires:\t%s\n", stamp(m.Expires))
		}
		tw.Flush()
		if len(m.Receipts) > 0 {
			fmt.Fprintln(stdout)
			tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RECEIPT IN\tITEM\tSTATE\tARRIVED")
			for _, r := range m.Receipts {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", r.Where, r.Seq, orDash(r.State), stamp(r.Arrived))
			}
			tw.Flush()
		}
		return nil
	}
}

func logLevel(w []string) ctlFunc {
	return func(ctx context.Context, o *ctlOptions, stdout io.Writer) error {
		method, body := "GET", io.Reader(nil)
		if len(w) == 1 {
			b, _ := json.Marshal(map[string]string{"level": w[0]})
			method, body = "PUT", strings.NewReader(string(b))
		}
		var res struct {
			Level string `json:"level"`
		}
		if ok, err := o.get(ctx, method, "/api/v1/log-level", body, stdout, &res); !ok {
			return err
		}
		if res.Level == "" {
			fmt.Fprintln(stdout, "log level: fixed (this smppmux's logger cannot change it)")
			return nil
		}
		fmt.Fprintf(stdout, "log level: %s\n", res.Level)
		return nil
	}
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
