package config

import (
	"slices"
	"testing"
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
