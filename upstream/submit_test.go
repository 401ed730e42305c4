package upstream

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
)

func TestSubmitRelaysBodyUnderBindSequence(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv := smsctest.Start(t, smsctest.Config{IDFormat: func(n uint64) string { return fmt.Sprintf("smsc-%d", n) }})
	u, _ := startBound(t, ctx, srv, Config{}, nil)

	const n = 5
	var sent [][]byte
	var bodies [][]byte
	var resps []pdu.Frame
	for i := range n {
		// The caller's own numbering, which must not reach the SMSC.
		raw, body := submitSM(0x7000_0000+uint32(i)*7, "447700900123", fmt.Sprintf("text %d ünïcode", i), 1)
		sent = append(sent, slices.Clone(raw))
		bodies = append(bodies, body)
		r := await(t, ctx, submit(t, ctx, u, raw))
		if r.err != nil {
			t.Fatalf("submit %d: %v", i, r.err)
		}
		if r.f.ID != pdu.SubmitSMResp || r.f.Status != pdu.StatusOK {
			t.Fatalf("submit %d answered %s status 0x%x", i, pdu.IDName(r.f.ID), uint32(r.f.Status))
		}
		resps = append(resps, r.f)
	}
	recs := srv.Records()
	if len(recs) != n {
		t.Fatalf("SMSC accepted %d, want %d", len(recs), n)
	}
	for i, rec := range recs {
		if !bytes.Equal(rec.Body, bodies[i]) {
			t.Errorf("submit %d body changed on the way:\n got %x\nwant %x", i, rec.Body, bodies[i])
		}
		if !bytes.Equal(rec.Raw[:12], sent[i][:12]) {
			t.Errorf("submit %d header changed: got %x, want %x", i, rec.Raw[:12], sent[i][:12])
		}
		// The bind_transceiver took sequence 1.
		seq := pdu.ParseHeader(rec.Raw).Seq
		if want := uint32(i + 2); seq != want {
			t.Errorf("submit %d went out with sequence %d, want the bind's %d", i, seq, want)
		}
		if resps[i].Seq != seq {
			t.Errorf("submit %d: response sequence %d for request %d", i, resps[i].Seq, seq)
		}
		if id := messageID(t, resps[i]); id != rec.MessageID || id != fmt.Sprintf("smsc-%d", i+1) {
			t.Errorf("submit %d: done got message id %q, SMSC issued %q", i, id, rec.MessageID)
		}
	}
}

func TestSubmitDataSM(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv := smsctest.Start(t, smsctest.Config{})
	u, _ := startBound(t, ctx, srv, Config{}, nil)

	body := dataSMBody("447700900999", 1, "447700900123", "a data_sm payload")
	r := await(t, ctx, submit(t, ctx, u, pdu.Request(pdu.DataSM, 99, body)))
	if r.err != nil || r.f.ID != pdu.DataSMResp || r.f.Status != pdu.StatusOK {
		t.Fatalf("data_sm: %v, %s status 0x%x", r.err, pdu.IDName(r.f.ID), uint32(r.f.Status))
	}
	recs := srv.Records()
	if len(recs) != 1 || !bytes.Equal(recs[0].Body, body) || pdu.ParseHeader(recs[0].Raw).ID != pdu.DataSM {
		t.Fatalf("SMSC records %+v", recs)
	}
	if id := messageID(t, r.f); id != recs[0].MessageID {
		t.Errorf("message id %q, SMSC issued %q", id, recs[0].MessageID)
	}
}

func TestSequencePerBind(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	var mu sync.Mutex
	seqs := make(map[*smsctest.Session][]uint32)
	srv := smsctest.Start(t, smsctest.Config{Submit: func(r *smsctest.SubmitRequest) smsctest.Reply {
		mu.Lock()
		seqs[r.Session] = append(seqs[r.Session], r.Frame.Seq)
		mu.Unlock()
		return smsctest.Reply{}
	}})
	u, _ := startBound(t, ctx, srv, Config{Binds: 3}, nil)
	for i := range 9 {
		raw, _ := submitSM(1, "447700900123", fmt.Sprint(i), 0)
		if r := await(t, ctx, submit(t, ctx, u, raw)); r.err != nil {
			t.Fatal(r.err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seqs) != 3 {
		t.Fatalf("submits on %d sessions, want 3 (round robin)", len(seqs))
	}
	for _, got := range seqs {
		if want := []uint32{2, 3, 4}; !slices.Equal(got, want) {
			t.Errorf("a bind numbered its submits %v, want %v", got, want)
		}
	}
}

// TestSubmitRoundRobinCounterWraps runs the round-robin counter through
// 2^31 and 2^32, where an int conversion turns negative on 32-bit
// platforms (GOARCH=386 shows it).
func TestSubmitRoundRobinCounterWraps(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	var mu sync.Mutex
	per := make(map[*smsctest.Session]int)
	srv := smsctest.Start(t, smsctest.Config{Submit: func(r *smsctest.SubmitRequest) smsctest.Reply {
		mu.Lock()
		per[r.Session]++
		mu.Unlock()
		return smsctest.Reply{}
	}})
	u, _ := startBound(t, ctx, srv, Config{Binds: 3}, nil)
	u.next.Store(1<<32 - 4)
	for i := range 6 {
		raw, _ := submitSM(1, "447700900123", fmt.Sprint(i), 0)
		if r := await(t, ctx, submit(t, ctx, u, raw)); r.err != nil {
			t.Fatal(r.err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(per) != 3 {
		t.Errorf("submits across the counter's wrap on %d binds, want 3", len(per))
	}
}

func TestSubmitErrorStatusPassedThrough(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv := smsctest.Start(t, smsctest.Config{Submit: func(*smsctest.SubmitRequest) smsctest.Reply {
		return smsctest.Reply{Status: pdu.StatusThrottled}
	}})
	u, _ := startBound(t, ctx, srv, Config{Window: 1}, nil)
	// With a window of 1, the second submit only goes out if the error
	// response freed the slot.
	for i := range 2 {
		raw, _ := submitSM(1, "447700900123", "hi", 0)
		r := await(t, ctx, submit(t, ctx, u, raw))
		if r.err != nil || r.f.ID != pdu.SubmitSMResp || r.f.Status != pdu.StatusThrottled || len(r.f.Body()) != 0 {
			t.Fatalf("submit %d: %v, %s status 0x%x body %x", i, r.err, pdu.IDName(r.f.ID), uint32(r.f.Status), r.f.Body())
		}
	}
}
