package storetest

import (
	"testing"
	"time"

	"github.com/smppmux/smppmux/dlr"
)

// IDMappings are the mappings of the id conformance suite: an SMSC that
// issued aB1, Ab1, 07 and 7, which fold alike in pairs, and Xy9, alone of
// its folded form; another upstream with an aB1 of its own; and one
// expired.
func IDMappings(now time.Time) []dlr.Mapping {
	m := func(upstream, id, client string, ttl time.Duration) dlr.Mapping {
		return dlr.Mapping{Upstream: upstream, UpstreamID: id, Expires: now.Add(ttl),
			Origin: dlr.Origin{SystemID: "shop", ClientID: client, Session: 3, Submitted: 42}}
	}
	return []dlr.Mapping{
		m("u", "aB1", "c1", time.Hour), m("u", "Ab1", "c2", time.Hour),
		m("u", "07", "c3", time.Hour), m("u", "7", "c4", time.Hour),
		m("u", "Xy9", "c5", time.Hour), m("v", "aB1", "c6", time.Hour),
		m("u", "Gone1", "c7", -time.Second),
	}
}

// CheckIDs checks the answers of s, holding IDMappings, to every
// lookup of an upstream id: by the id as written (Get, and GetAsync for
// an dlr.AsyncGetter), by its folded form (GetFolded, GetFoldedAsync), and by
// the client's id (ByClient, which gives the upstream id as written).
// Every dlr.Store gives the same answers.
func CheckIDs(t *testing.T, s dlr.Store) {
	t.Helper()
	exact := []struct{ upstream, id, client string }{
		{"u", "aB1", "c1"}, {"u", "Ab1", "c2"}, {"u", "07", "c3"}, {"u", "7", "c4"}, {"u", "Xy9", "c5"},
		{"v", "aB1", "c6"}, {"u", "AB1", ""}, {"u", "ab1", ""}, {"u", "007", ""}, {"u", "xy9", ""},
		{"v", "Ab1", ""}, {"u", "Gone1", ""}, {"w", "aB1", ""},
	}
	for _, tt := range exact {
		r, ok, err := s.Get(tt.upstream, tt.id)
		if err != nil || ok != (tt.client != "") || r.ClientID != tt.client {
			t.Errorf("Get(%s, %s) = %+v, %v, %v; want client %q", tt.upstream, tt.id, r, ok, err, tt.client)
		}
		if ok && (r.SystemID != "shop" || r.Session != 3 || r.Submitted != 42) {
			t.Errorf("Get(%s, %s) = %+v", tt.upstream, tt.id, r)
		}
		if ag, isAsync := s.(dlr.AsyncGetter); isAsync {
			done := make(chan struct{})
			ag.GetAsync(tt.upstream, tt.id, func(ar dlr.Origin, aok bool, aerr error) {
				if aerr != nil || aok != ok || ar != r {
					t.Errorf("GetAsync(%s, %s) = %+v, %v, %v; Get said %+v, %v", tt.upstream, tt.id, ar, aok, aerr, r, ok)
				}
				close(done)
			})
			<-done
		}
	}
	folded := []struct {
		upstream, folded string
		n                int
		client           string
	}{
		{"u", "ab1", 2, ""}, {"u", "7", 2, ""}, {"u", "xy9", 1, "c5"}, {"v", "ab1", 1, "c6"},
		{"u", "zz", 0, ""}, {"u", "gone1", 0, ""}, {"w", "ab1", 0, ""},
	}
	for _, tt := range folded {
		r, n, err := s.GetFolded(tt.upstream, tt.folded)
		if err != nil || n != tt.n || r.ClientID != tt.client {
			t.Errorf("GetFolded(%s, %s) = %+v, %d, %v; want %d, client %q", tt.upstream, tt.folded, r, n, err, tt.n, tt.client)
		}
	}
	finds := []struct {
		upstream string
		ref      dlr.Ref
		res      dlr.Result
		client   string
	}{
		{"u", dlr.Ref{ID: "aB1"}, dlr.Found, "c1"}, {"u", dlr.Ref{ID: "aB1", Folded: "ab1"}, dlr.Found, "c1"},
		{"u", dlr.Ref{ID: "AB1"}, dlr.NotFound, ""}, {"u", dlr.Ref{ID: "AB1", Folded: "ab1"}, dlr.Ambiguous, ""},
		{"u", dlr.Ref{ID: "007", Folded: "7"}, dlr.Ambiguous, ""}, {"u", dlr.Ref{ID: "7", Folded: "7"}, dlr.Found, "c4"},
		{"u", dlr.Ref{ID: "XY9", Folded: "xy9"}, dlr.Found, "c5"}, {"u", dlr.Ref{ID: "xy9", Folded: "xy9"}, dlr.Found, "c5"}, {"u", dlr.Ref{ID: "xy9"}, dlr.NotFound, ""},
		{"v", dlr.Ref{ID: "AB1", Folded: "ab1"}, dlr.Found, "c6"}, {"u", dlr.Ref{ID: "GONE1", Folded: "gone1"}, dlr.NotFound, ""}, {"u", dlr.Ref{ID: "zz", Folded: "zz"}, dlr.NotFound, ""},
	}
	for _, tt := range finds {
		r, res, err := dlr.Find(s, tt.upstream, tt.ref)
		if err != nil || res != tt.res || r.ClientID != tt.client {
			t.Errorf("dlr.Find(%s, %+v) = %+v, %v, %v; want %v, client %q", tt.upstream, tt.ref, r, res, err, tt.res, tt.client)
		}
		if ag, isAsync := s.(dlr.AsyncGetter); isAsync {
			done := make(chan struct{})
			ag.FindAsync(tt.upstream, tt.ref, func(ar dlr.Origin, ares dlr.Result, aerr error) {
				if aerr != nil || ares != res || ar != r {
					t.Errorf("FindAsync(%s, %+v) = %+v, %v, %v; dlr.Find said %+v, %v", tt.upstream, tt.ref, ar, ares, aerr, r, res)
				}
				close(done)
			})
			<-done
		}
	}
	for client, want := range map[string]string{"c1": "aB1", "c2": "Ab1", "c3": "07", "c4": "7", "c5": "Xy9"} {
		m, ok, err := s.ByClient("shop", client)
		if err != nil || !ok || m.Upstream != "u" || m.UpstreamID != want || m.ClientID != client {
			t.Errorf("ByClient(shop, %s) = %+v, %v, %v; want upstream id %q", client, m, ok, err, want)
		}
	}
	if _, ok, err := s.ByClient("shop", "c7"); ok || err != nil {
		t.Errorf("ByClient of an expired mapping: %v, %v", ok, err)
	}
}

// PutIDs writes IDMappings to s.
func PutIDs(t *testing.T, s dlr.MappingStore, now time.Time) {
	t.Helper()
	for _, m := range IDMappings(now) {
		PutSync(t, s, m)
	}
}

// CheckIDGivenAgain writes through w, to a store holding IDMappings, the
// mapping of an id the SMSC gives again, and checks in r that it goes to
// its new message, still apart from the ids that only fold like it.
func CheckIDGivenAgain(t *testing.T, w, r dlr.Store, now time.Time) {
	t.Helper()
	again := dlr.Mapping{Upstream: "u", UpstreamID: "Xy9", Expires: now.Add(time.Hour), Origin: dlr.Origin{SystemID: "shop", ClientID: "c8"}}
	PutSync(t, w, again)
	if route, ok, err := r.Get("u", "Xy9"); !ok || err != nil || route.ClientID != "c8" {
		t.Errorf("Get of an id given again = %+v, %v, %v; want c8", route, ok, err)
	}
	if route, n, err := r.GetFolded("u", "xy9"); n != 1 || err != nil || route.ClientID != "c8" {
		t.Errorf("GetFolded of an id given again = %+v, %d, %v; want c8 alone", route, n, err)
	}
	if m, ok, err := r.ByClient("shop", "c5"); !ok || err != nil || m.UpstreamID != "Xy9" {
		t.Errorf("ByClient of the message whose id was given again = %+v, %v, %v", m, ok, err)
	}
	if _, n, err := r.GetFolded("u", "ab1"); n != 2 || err != nil {
		t.Errorf("GetFolded(ab1) after another write = %d, %v", n, err)
	}
}
