package admin

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/smppmux/smppmux/metrics"
)

// TestDeadLetters drives the dead letter endpoints: counts, listing with
// paging, purge of one and of all, retry, unknown clients and bad
// numbers, each behind the token.
func TestDeadLetters(t *testing.T) {
	t.Parallel()
	ctl := newFake()
	ctl.dead = map[string][]DeadLetter{
		"shop": {
			{Seq: 5, Attempts: 3, Refusals: 3, LastStatus: "0x00000064", Reason: "refused", Command: "deliver_sm",
				Receipt: true, MessageID: "00ab", Source: "447700900001", Destination: "Shop"},
			{Seq: 9, Attempts: 1, Refusals: 1, LastStatus: "0x00000065", Reason: "never", Command: "deliver_sm"},
			{Seq: 12, Attempts: 1, Refusals: 1, LastStatus: "0x00000066", Reason: "never", Command: "data_sm"},
		},
		"bank": nil,
	}
	core, logs := observer.New(zap.DebugLevel)
	srv := serve(t, ctl, Config{Token: "t0k", Logger: zap.New(core)})
	const bearer = "Bearer t0k"
	if code, _, _ := do(t, srv, "GET", "/api/v1/deadletters/shop", ""); code != http.StatusUnauthorized {
		t.Fatalf("listing without the token: %d, want 401", code)
	}
	if code, _, _ := do(t, srv, "DELETE", "/api/v1/deadletters/shop", "Bearer nope"); code != http.StatusUnauthorized {
		t.Fatalf("purge with a wrong token: %d, want 401", code)
	}

	code, body, _ := do(t, srv, "GET", "/api/v1/deadletters", bearer)
	var counts []metrics.DeadLetterInfo
	if code != http.StatusOK || json.Unmarshal([]byte(body), &counts) != nil || len(counts) != 2 {
		t.Fatalf("GET /api/v1/deadletters = %d %s", code, body)
	}

	code, body, _ = do(t, srv, "GET", "/api/v1/deadletters/shop?after=5&limit=1", bearer)
	var list []DeadLetter
	if code != http.StatusOK || json.Unmarshal([]byte(body), &list) != nil || len(list) != 1 || list[0].Seq != 9 {
		t.Fatalf("listing after 5, limit 1 = %d %s", code, body)
	}
	code, body, _ = do(t, srv, "GET", "/api/v1/deadletters/shop", bearer)
	if code != http.StatusOK || json.Unmarshal([]byte(body), &list) != nil || len(list) != 3 {
		t.Fatalf("listing = %d %s", code, body)
	}
	if !reflect.DeepEqual(list[0], ctl.dead["shop"][0]) {
		t.Fatalf("first dead letter %+v, want %+v", list[0], ctl.dead["shop"][0])
	}
	for _, key := range []string{`"seq": 5`, `"last_status": "0x00000064"`, `"reason": "refused"`, `"message_id": "00ab"`, `"receipt": true`} {
		if !strings.Contains(body, key) {
			t.Errorf("listing lacks %s:\n%s", key, body)
		}
	}
	if code, body, _ := do(t, srv, "GET", "/api/v1/deadletters/bank", bearer); code != http.StatusOK || body != "[]\n" {
		t.Fatalf("listing of a client without dead letters = %d %q, want 200 []", code, body)
	}
	for _, bad := range []string{"?after=x", "?limit=0", "?limit=10001"} {
		if code, _, _ := do(t, srv, "GET", "/api/v1/deadletters/shop"+bad, bearer); code != http.StatusBadRequest {
			t.Errorf("listing %s: %d, want 400", bad, code)
		}
	}
	if code, _, _ := do(t, srv, "GET", "/api/v1/deadletters/nobody", bearer); code != http.StatusNotFound {
		t.Errorf("listing of an unknown client: %d, want 404", code)
	}

	if code, body, _ := do(t, srv, "DELETE", "/api/v1/deadletters/shop/9", bearer); code != http.StatusOK || !strings.Contains(body, `"purged": 1`) {
		t.Fatalf("purge of one = %d %s", code, body)
	}
	if code, _, _ := do(t, srv, "DELETE", "/api/v1/deadletters/shop/9", bearer); code != http.StatusNotFound {
		t.Fatalf("purge of one already purged: %d, want 404", code)
	}
	if code, _, _ := do(t, srv, "DELETE", "/api/v1/deadletters/shop/x", bearer); code != http.StatusBadRequest {
		t.Fatalf("purge of a bad number: %d, want 400", code)
	}
	if code, body, _ := do(t, srv, "POST", "/api/v1/deadletters/shop/retry", bearer); code != http.StatusOK || !strings.Contains(body, `"requeued": 2`) {
		t.Fatalf("retry = %d %s", code, body)
	}
	if code, body, _ := do(t, srv, "DELETE", "/api/v1/deadletters/shop", bearer); code != http.StatusOK || !strings.Contains(body, `"purged": 0`) {
		t.Fatalf("purge of all, none left = %d %s", code, body)
	}
	if code, _, _ := do(t, srv, "POST", "/api/v1/deadletters/nobody/retry", bearer); code != http.StatusNotFound {
		t.Fatalf("retry of an unknown client: %d, want 404", code)
	}
	want := []string{"list shop after 5 limit 1", "list shop after 0 limit 1000", "list bank after 0 limit 1000",
		"list nobody after 0 limit 1000", "purge shop 9", "purge shop 9", "retry shop", "purge shop 0", "retry nobody"}
	if calls := ctl.recorded(); !reflect.DeepEqual(calls, want) {
		t.Errorf("controller calls\n got %q\nwant %q", calls, want)
	}
	// One line per purge and retry, none per listing.
	if n := logs.FilterLevelExact(zap.InfoLevel).Len(); n != 5 {
		t.Errorf("%d info lines, want 5: %v", n, logs.All())
	}
}
