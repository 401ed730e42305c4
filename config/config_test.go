package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"
)

// base is a small valid config, one section per entry, in file order.
var base = []struct{ key, text string }{
	{"listen", `listen: {smpp: ":2775"}`},
	{"clients", "clients:\n  - {system_id: shop, password: secret}"},
	{"upstreams", "upstreams:\n  - {name: carrier-a, addr: \"127.0.0.1:2776\", system_id: x}"},
	{"groups", "groups:\n  - name: main\n    members: [{upstream: carrier-a}]"},
	{"routes", "routes:\n  - group: main"},
}

// doc returns base with the sections named in replace replaced (or removed,
// when the text is empty), followed by extra.
func doc(replace map[string]string, extra string) string {
	var b strings.Builder
	for _, s := range base {
		text := s.text
		if r, ok := replace[s.key]; ok {
			text = r
		}
		if text != "" {
			b.WriteString(text + "\n")
		}
	}
	b.WriteString(extra)
	return b.String()
}

func mustParse(t *testing.T, text string) *Config {
	t.Helper()
	c, err := Parse([]byte(text))
	if err != nil {
		t.Fatalf("Parse: %v\n--- config:\n%s", err, text)
	}
	return c
}

func TestParseFull(t *testing.T) {
	t.Parallel()
	c, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Listen:   Listen{SMPP: "0.0.0.0:12775", Admin: "127.0.0.1:9090"},
		StateDir: "/tmp/smppmux-state",
		Log:      Log{Level: LevelDebug, Format: FormatJSON},
		Receipts: defaultReceipts,
		Store:    defaultStore,
		Server: Server{
			BindTimeout:         5 * time.Second,
			EnquireLinkInterval: 20 * time.Second,
			InactivityTimeout:   time.Minute,
			ResponseTimeout:     15 * time.Second,
			WriteTimeout:        3 * time.Second,
			SubmitTimeout:       45 * time.Second,
			NoRouteStatus:       "ESME_RINVDSTADR",
			FailedBindsPerIP:    10,
			FailedBindWindow:    time.Minute,
		},
		Clients: []Client{
			{SystemID: "shop", Password: "secret", MaxBinds: 2, Window: 10,
				MessageID: MessageID{Format: IDDecimal, Length: 20}, DestinationLimit: defaultDestLimit},
			{SystemID: "bank", Password: "12345678", MaxBinds: 4, Window: 100,
				MessageID: MessageID{Format: IDHex}, DestinationLimit: defaultDestLimit},
		},
		Upstreams: []Upstream{
			{Name: "carrier-a", Addr: "smsc-a.example:2775", SystemID: "mux-a", Password: "pa",
				SystemType: "VMA", Bind: BindTXRX, Binds: 4, Window: 200,
				ResponseTimeout: 7 * time.Second, EnquireLinkInterval: 45 * time.Second,
				ConnectTimeout: 2 * time.Second, ReconnectMin: 500 * time.Millisecond,
				ReconnectMax: time.Minute, IDFormat: "auto"},
			{Name: "carrier-b", Addr: "[::1]:2777", SystemID: "mux-b", Bind: BindTX, Binds: 1, Window: 50,
				ResponseTimeout: 10 * time.Second, EnquireLinkInterval: 30 * time.Second,
				ConnectTimeout: 5 * time.Second, ReconnectMin: time.Second, ReconnectMax: 30 * time.Second, IDFormat: "auto"},
			{Name: "carrier-mo", Addr: "127.0.0.1:2778", SystemID: "mux-mo", Bind: BindRX, Binds: 1, Window: 50,
				ResponseTimeout: 10 * time.Second, EnquireLinkInterval: 30 * time.Second,
				ConnectTimeout: 5 * time.Second, ReconnectMin: time.Second, ReconnectMax: 30 * time.Second, IDFormat: "auto"},
		},
		Groups: []Group{
			withGroupDefaults(Group{Name: "main", Mode: ModeActiveStandby, Members: []Member{
				{Upstream: "carrier-a", Weight: 5},
				{Upstream: "carrier-b", Weight: 0},
			}}),
			withGroupDefaults(Group{Name: "uk", Mode: ModeActiveActive, Members: []Member{{Upstream: "carrier-b", Weight: 1}}}),
		},
		Routes: []Route{
			{Clients: []string{"bank"}, DestinationPrefix: []string{"+44", "0044"}, Group: "uk"},
			{Clients: []string{"shop", "bank"}, Group: "main"},
			{Group: "main"},
		},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load:\n got %+v\nwant %+v", c, want)
	}
}

func TestParseDefaults(t *testing.T) {
	t.Parallel()
	c := mustParse(t, doc(nil, ""))
	want := &Config{
		Listen:   Listen{SMPP: ":2775", Admin: "127.0.0.1:9090"},
		StateDir: "/var/lib/smppmux",
		Log:      Log{Level: LevelInfo, Format: FormatAuto},
		Receipts: defaultReceipts,
		Store:    defaultStore,
		Server: Server{
			BindTimeout:         10 * time.Second,
			EnquireLinkInterval: 30 * time.Second,
			InactivityTimeout:   90 * time.Second,
			ResponseTimeout:     30 * time.Second,
			WriteTimeout:        10 * time.Second,
			SubmitTimeout:       30 * time.Second,
			NoRouteStatus:       "ESME_RINVDSTADR",
			FailedBindsPerIP:    10,
			FailedBindWindow:    time.Minute,
		},
		Clients: []Client{{SystemID: "shop", Password: "secret", MaxBinds: 4, Window: 100,
			MessageID: MessageID{Format: IDHex, Length: 0}, DestinationLimit: defaultDestLimit}},
		Upstreams: []Upstream{{Name: "carrier-a", Addr: "127.0.0.1:2776", SystemID: "x",
			Bind: BindTRX, Binds: 1, Window: 50,
			ResponseTimeout: 10 * time.Second, EnquireLinkInterval: 30 * time.Second,
			ConnectTimeout: 5 * time.Second, ReconnectMin: time.Second, ReconnectMax: 30 * time.Second, IDFormat: "auto"}},
		Groups: []Group{withGroupDefaults(Group{Name: "main", Mode: ModeActiveActive, Members: []Member{{Upstream: "carrier-a", Weight: 1}}})},
		Routes: []Route{{Group: "main"}},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Parse:\n got %+v\nwant %+v", c, want)
	}
}

var defaultDestLimit = DestinationLimit{Per: time.Minute, Status: "ESME_RTHROTTLED"}

var defaultStore = Store{Kind: StorePebble, Instance: -1, Redis: Redis{Addrs: []string{}, Prefix: "smppmux:",
	LeaseTTL: 10 * time.Second, WaitTimeout: time.Second}, MaxPendingWrites: 10000,
	Sync: SyncAlways, SyncInterval: 5 * time.Millisecond}

var defaultReceipts = Receipts{MappingTTL: 72 * time.Hour, WaitForMapping: 30 * time.Second, ResendWindow: time.Hour, UnmatchedHold: 250 * time.Millisecond, DeliveryHold: 200 * time.Millisecond,
	OutboxMaxItems: 1_000_000, OutboxMaxAge: 72 * time.Hour, RetryMin: time.Second, RetryMax: time.Minute,
	MaxAttempts: 10, DeadLetterStatuses: []string{"ESME_RX_P_APPN", "ESME_RX_R_APPN"}}

// withGroupDefaults fills in what a group gets when its keys are absent.
func withGroupDefaults(g Group) Group {
	g.RetryOn = []string{"ESME_RTHROTTLED", "ESME_RMSGQFUL", "ESME_RSYSERR"}
	g.MaxAttempts = 3
	g.QueueTimeout = 5 * time.Second
	g.StickyTTL = 10 * time.Minute
	g.Breaker = Breaker{Failures: 5, ErrorRate: 0.5, MinRequests: 20, Window: 10 * time.Second,
		Cooldown: 5 * time.Second, Probes: 3, SlowStart: 30 * time.Second}
	g.Queue = Queue{Mode: QueueRelay, MaxItems: DefaultQueueMaxItems, MaxAge: DefaultQueueMaxAge}
	return g
}

// TestParseEmptySections checks that a section written with no value, or
// with some keys only, takes the defaults of the rest.
func TestParseEmptySections(t *testing.T) {
	t.Parallel()
	c := mustParse(t, doc(
		map[string]string{"clients": "clients:\n  - {system_id: shop, password: secret, message_id: {length: 12}}"},
		"log:\nserver: {write_timeout: 2s}\nstate_dir:\n"))
	if c.Log.Level != LevelInfo || c.Log.Format != FormatAuto {
		t.Errorf("log = %+v, want defaults", c.Log)
	}
	if c.Server.WriteTimeout != 2*time.Second || c.Server.BindTimeout != 10*time.Second {
		t.Errorf("server = %+v, want write_timeout 2s and other defaults", c.Server)
	}
	if c.StateDir != "/var/lib/smppmux" {
		t.Errorf("state_dir = %q, want the default", c.StateDir)
	}
	if got := c.Clients[0].MessageID; got != (MessageID{Format: IDHex, Length: 12}) {
		t.Errorf("message_id = %+v, want hex, 12", got)
	}
}

func TestExplicitWeightZeroKept(t *testing.T) {
	t.Parallel()
	c := mustParse(t, doc(map[string]string{
		"upstreams": "upstreams:\n  - {name: a, addr: \"h:1\", system_id: x}\n  - {name: b, addr: \"h:2\", system_id: x}" +
			"\n  - {name: c, addr: \"h:3\", system_id: x}",
		"groups": "groups:\n  - name: main\n    members:\n      - {upstream: a, weight: 0}\n" +
			"      - {upstream: b}\n      - upstream: c\n        weight:\n",
	}, ""))
	var got []int
	for _, m := range c.Groups[0].Members {
		got = append(got, m.Weight)
	}
	if want := []int{0, 1, 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("weights = %v, want %v (explicit 0 kept, absent or empty is 1)", got, want)
	}
}

func TestBcryptPassword(t *testing.T) {
	t.Parallel()
	hash, err := bcrypt.GenerateFromPassword([]byte("a long secret, longer than SMPP allows"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		h := prefix + strings.TrimPrefix(string(hash), "$2a$")
		c := mustParse(t, doc(map[string]string{
			"clients": "clients:\n  - {system_id: shop, password: \"" + h + "\"}",
		}, ""))
		if cl := c.Client("shop"); !cl.IsBcrypt() || cl.Password != h {
			t.Errorf("%s: client %+v: want the bcrypt hash kept and IsBcrypt", prefix, cl)
		}
	}
	if (&Client{Password: "secret"}).IsBcrypt() {
		t.Error("plain password reported as bcrypt")
	}
}

func TestCommaLists(t *testing.T) {
	t.Parallel()
	c := mustParse(t, doc(map[string]string{
		"clients": "clients:\n  - {system_id: shop, password: secret}\n  - {system_id: bank, password: secret}",
		"routes":  "routes:\n  - {clients: \"shop, bank\", destination_prefix: \"44,+33\", group: main}",
	}, ""))
	r := c.Routes[0]
	if want := []string{"shop", "bank"}; !reflect.DeepEqual(r.Clients, want) {
		t.Errorf("clients = %q, want %q", r.Clients, want)
	}
	if want := []string{"44", "+33"}; !reflect.DeepEqual(r.DestinationPrefix, want) {
		t.Errorf("destination_prefix = %q, want %q", r.DestinationPrefix, want)
	}
}

// TestEnvDoesNotOverride cannot run in parallel: it sets the environment.
func TestEnvDoesNotOverride(t *testing.T) {
	for _, kv := range [][2]string{
		{"STATE_DIR", "/env"},
		{"SMPPMUX_STATE_DIR", "/env"},
		{"LOG_LEVEL", "debug"},
		{"LOG.LEVEL", "debug"},
		{"SMPPMUX_LOG_LEVEL", "debug"},
		{"LISTEN_SMPP", ":1"},
		{"SERVER_BIND_TIMEOUT", "1s"},
	} {
		t.Setenv(kv[0], kv[1])
	}
	c := mustParse(t, doc(nil, ""))
	if c.StateDir != "/var/lib/smppmux" || c.Log.Level != LevelInfo ||
		c.Listen.SMPP != ":2775" || c.Server.BindTimeout != 10*time.Second {
		t.Errorf("environment changed the config: %+v", c)
	}
}

func TestExampleConfig(t *testing.T) {
	t.Parallel()
	c, err := Load("../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen.SMPP != "127.0.0.1:2775" || c.StateDir != "/var/lib/smppmux" {
		t.Errorf("listen/state_dir = %q, %q", c.Listen.SMPP, c.StateDir)
	}
	if cl := c.Client("shop"); cl == nil || cl.Password != "secret" {
		t.Errorf("client shop = %+v", cl)
	}
	if a, b := c.Upstream("carrier-a"), c.Upstream("carrier-b"); a == nil || b == nil ||
		a.Addr != "127.0.0.1:2776" || b.Addr != "127.0.0.1:2777" {
		t.Errorf("upstreams = %+v", c.Upstreams)
	}
	g := c.Group("main")
	want := []Member{{Upstream: "carrier-a", Weight: 3}, {Upstream: "carrier-b", Weight: 1}}
	if g == nil || g.Mode != ModeActiveActive || !reflect.DeepEqual(g.Members, want) {
		t.Errorf("group main = %+v", g)
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	_, err := Load(filepath.Join(dir, "missing.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("listen: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(bad)
	if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), bad) {
		t.Errorf("bad YAML: %v, want ErrSyntax naming the file", err)
	}

	if _, err := Parse([]byte("- a list\n")); !errors.Is(err, ErrSyntax) {
		t.Errorf("top level not a set of keys: %v, want ErrSyntax", err)
	}

	invalid := filepath.Join(dir, "invalid.yaml")
	if err := os.WriteFile(invalid, []byte(doc(nil, "listn: x\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(invalid)
	var fe *FieldError
	if !errors.Is(err, ErrInvalid) || !errors.As(err, &fe) || fe.Path != "listn" ||
		!strings.Contains(err.Error(), invalid) {
		t.Errorf("unknown key: %v, want ErrInvalid naming the file and a FieldError for listn", err)
	}
}

func TestRedacted(t *testing.T) {
	t.Parallel()
	c, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := c.Redacted()
	for _, cl := range r.Clients {
		if cl.Password != RedactedPassword {
			t.Errorf("client %s password = %q", cl.SystemID, cl.Password)
		}
	}
	for _, u := range r.Upstreams {
		if want := map[bool]string{true: "", false: RedactedPassword}[c.Upstream(u.Name).Password == ""]; u.Password != want {
			t.Errorf("upstream %s password = %q, want %q", u.Name, u.Password, want)
		}
	}
	if c.Clients[0].Password != "secret" || c.Upstreams[0].Password != "pa" {
		t.Error("Redacted changed the original")
	}
	c.Store.Redis.Password, c.Store.Redis.SentinelPassword = "redis-secret", "sentinel-secret"
	if r := c.Redacted(); r.Store.Redis.Password != RedactedPassword || r.Store.Redis.SentinelPassword != RedactedPassword {
		t.Errorf("redis passwords = %q, %q", r.Store.Redis.Password, r.Store.Redis.SentinelPassword)
	}
	r.Groups[0].Members[0].Weight = 99
	r.Routes[0].Clients[0] = "changed"
	if c.Groups[0].Members[0].Weight == 99 || c.Routes[0].Clients[0] == "changed" {
		t.Error("Redacted shares slices with the original")
	}
}

// TestYAMLRoundTrip checks that the yaml tags match the keys Parse reads.
func TestYAMLRoundTrip(t *testing.T) {
	t.Parallel()
	c, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if again := mustParse(t, string(out)); !reflect.DeepEqual(again, c) {
		t.Errorf("round trip:\n got %+v\nwant %+v\n--- yaml:\n%s", again, c, out)
	}
}

// TestDeadLetterStatusesNone: an empty list turns the statuses off rather
// than taking the default.
func TestDeadLetterStatusesNone(t *testing.T) {
	t.Parallel()
	c := mustParse(t, doc(nil, "receipts: {max_attempts: 3, dead_letter_statuses: []}\n"))
	if c.Receipts.MaxAttempts != 3 || c.Receipts.DeadLetterStatuses == nil || len(c.Receipts.DeadLetterStatuses) != 0 {
		t.Fatalf("receipts = %+v, want max_attempts 3 and no dead letter status", c.Receipts)
	}
}
