package config

import (
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestDiff(t *testing.T) {
	t.Parallel()
	base := mustParse(t, doc(nil, ""))
	next := mustParse(t, doc(nil, ""))
	if d := Diff(base, next); !d.Empty() {
		t.Fatalf("same file differs: %+v", d)
	}
	next.Clients = append(next.Clients, Client{SystemID: "bank", Password: "pw", MaxBinds: 1, Window: 1})
	next.Upstreams[0].Window = 7
	next.Log.Level = LevelDebug
	d := Diff(base, next)
	if len(d.Restart) != 0 {
		t.Fatalf("restart asked for %v", d.Restart)
	}
	for _, want := range []string{"client bank added", "upstream carrier-a changed", "log.level info -> debug"} {
		if !slices.Contains(d.Live, want) {
			t.Errorf("Live %v lacks %q", d.Live, want)
		}
	}
	next.Listen.SMPP = "127.0.0.1:9999"
	next.Server.BindTimeout *= 2
	next.Server.SubmitTimeout *= 2
	d = Diff(base, next)
	if !slices.Equal(d.Restart, []string{"listen.smpp", "server (session timers)"}) {
		t.Fatalf("Restart = %v", d.Restart)
	}
}

// TestDiffStoreSync: the store's sync mode and interval are read when the
// store opens; a reload that changes either asks for a restart.
func TestDiffStoreSync(t *testing.T) {
	t.Parallel()
	base := mustParse(t, doc(nil, ""))
	for _, change := range []func(*Config){
		func(c *Config) { c.Store.Sync = SyncInterval },
		func(c *Config) { c.Store.SyncInterval = 10 * time.Millisecond },
	} {
		next := mustParse(t, doc(nil, ""))
		change(next)
		if d := Diff(base, next); !slices.Equal(d.Restart, []string{"store"}) {
			t.Errorf("Restart = %v, want [store]", d.Restart)
		}
	}
}

// TestDiffEntities: each kind of entity lists what was added, removed and
// changed, a changed one with the keys that differ, nested keys by their
// path; the first configuration adds everything and restarts nothing.
func TestDiffEntities(t *testing.T) {
	t.Parallel()
	base := mustParse(t, doc(nil, ""))
	first := Diff(nil, base)
	if len(first.Restart) != 0 || !slices.Equal(first.Clients.Added, []string{"shop"}) ||
		!slices.Equal(first.Upstreams.Added, []string{"carrier-a"}) || !slices.Equal(first.Groups.Added, []string{"main"}) || !first.Routes {
		t.Fatalf("first configuration: %+v", first)
	}
	next := mustParse(t, doc(nil, ""))
	next.Clients = append(next.Clients, Client{SystemID: "bank", Password: "pw", MaxBinds: 1, Window: 1})
	next.Upstreams[0].Window = 7
	next.Upstreams[0].TLS.CAFile = "ca.pem"
	next.Groups[0].Breaker.Failures = 9
	next.Routes[0].DestinationPrefix = []string{"44"}
	d := Diff(base, next)
	if !slices.Equal(d.Clients.Added, []string{"bank"}) || len(d.Clients.Changed) != 0 || len(d.Clients.Removed) != 0 {
		t.Errorf("clients: %+v", d.Clients)
	}
	if want := []Changed{{Name: "carrier-a", Keys: []string{"window", "tls.ca_file"}}}; !reflect.DeepEqual(d.Upstreams.Changed, want) {
		t.Errorf("upstreams changed %+v, want %+v", d.Upstreams.Changed, want)
	}
	if want := []Changed{{Name: "main", Keys: []string{"breaker.failures"}}}; !reflect.DeepEqual(d.Groups.Changed, want) {
		t.Errorf("groups changed %+v, want %+v", d.Groups.Changed, want)
	}
	if !d.Routes || d.MORoutes || d.Submit || d.LogLevel || d.TLS {
		t.Errorf("flags: %+v", d)
	}
	if d.Clients.Kept("bank") || !d.Clients.Kept("shop") || d.Upstreams.Kept("carrier-a") || d.Groups.Kept("main") {
		t.Errorf("Kept: %+v", d)
	}
	back := Diff(next, base)
	if !slices.Equal(back.Clients.Removed, []string{"bank"}) || back.Clients.Kept("bank") {
		t.Errorf("removing a client: %+v", back.Clients)
	}
}
