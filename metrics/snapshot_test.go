package metrics

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestOutboxJSON(t *testing.T) {
	t.Parallel()
	in := OutboxInfo{SystemID: "shop", Depth: 4, OldestAge: 1500 * time.Millisecond}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"system_id":"shop","depth":4,"oldest_age_seconds":1.5}`; string(b) != want {
		t.Errorf("json %s, want %s", b, want)
	}
	var out OutboxInfo
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Errorf("round trip %+v, want %+v", out, in)
	}
}

func TestSnapshotJSONNames(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(testSnapshot())
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{
		`"sessions":`, `"binds":`, `"groups":`, `"outboxes":`, `"ready":true`,
		`"system_id":"shop"`, `"bind_type":"transceiver"`, `"remote":`, `"inflight":3`,
		`"upstream":"carrier-a"`, `"index":1`, `"state":"bound"`, `"local_addr":`, `"window_used":10`, `"window":50`,
		`"name":"main"`, `"mode":"active-active"`, `"members":`, `"weight":3`, `"effective_weight":0.1`,
		`"healthy":true`, `"breaker":"half_open"`, `"depth":12`, `"oldest_age_seconds":90`,
	} {
		if !strings.Contains(string(b), key) {
			t.Errorf("status JSON lacks %s: %s", key, b)
		}
	}
}
