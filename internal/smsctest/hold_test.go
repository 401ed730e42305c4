package smsctest_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
)

// submitN submits n messages asking for a receipt, one after the other,
// and returns their message ids in order.
func submitN(t *testing.T, ctx context.Context, c *esmetest.Client, n int) []string {
	t.Helper()
	ids := make([]string, 0, n)
	for i := range n {
		r, err := c.Submit(ctx, esmetest.SubmitBody("Shop", "447700900001", []byte("msg "+strconv.Itoa(i)), 1, nil))
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != pdu.StatusOK || r.MessageID == "" {
			t.Fatalf("submit %d: status 0x%X id %q", i, uint32(r.Status), r.MessageID)
		}
		ids = append(ids, r.MessageID)
	}
	return ids
}

// nextDelivery returns the next delivery of c.
func nextDelivery(t *testing.T, ctx context.Context, c *esmetest.Client) esmetest.Delivery {
	t.Helper()
	select {
	case d, ok := <-c.Deliveries():
		if !ok {
			t.Fatalf("connection ended: %v", c.Err())
		}
		if d.SM.ESMClass != smsctest.EsmReceipt || d.ReceiptID == "" {
			t.Fatalf("not a receipt: esm_class 0x%X id %q", d.SM.ESMClass, d.ReceiptID)
		}
		return d
	case <-ctx.Done():
		t.Fatal("no delivery:", ctx.Err())
	}
	panic("unreachable")
}

// checkAllAcked waits for n receipts acknowledged and checks none more
// was, and none is pending.
func checkAllAcked(t *testing.T, ctx context.Context, s *smsctest.Server, n int) {
	t.Helper()
	if err := s.WaitReceiptsAcked(ctx, n); err != nil {
		t.Fatalf("acked %d of %d: %v", s.ReceiptsAcked(), n, err)
	}
	if s.ReceiptsAcked() != n || s.ReceiptsPending() != 0 || s.ReceiptsUnsent() != 0 || s.ReceiptStatuses()[pdu.StatusOK] != n {
		t.Fatalf("acked %d pending %d unsent %d statuses %v", s.ReceiptsAcked(), s.ReceiptsPending(), s.ReceiptsUnsent(), s.ReceiptStatuses())
	}
}

func TestHoldReceiptsUntilReceiverBinds(t *testing.T) {
	t.Parallel()
	const n = 100
	ctx := timeout(t)
	s := smsctest.Start(t, smsctest.Config{HoldReceipts: true})
	other := esmetest.Bind(t, ctx, esmetest.Config{Addr: s.Addr(), SystemID: "other", Bind: pdu.BindReceiver})
	tx := esmetest.Bind(t, ctx, esmetest.Config{Addr: s.Addr(), SystemID: "shop", Bind: pdu.BindTransmitter})
	ids := submitN(t, ctx, tx, n)
	if s.ReceiptsPending() != n || s.ReceiptsAcked() != 0 || s.ReceiptsUnsent() != 0 || len(s.ReceiptStatuses()) != 0 {
		t.Fatalf("pending %d acked %d unsent %d statuses %v", s.ReceiptsPending(), s.ReceiptsAcked(), s.ReceiptsUnsent(), s.ReceiptStatuses())
	}

	rx := esmetest.Bind(t, ctx, esmetest.Config{Addr: s.Addr(), SystemID: "shop", Bind: pdu.BindReceiver})
	for i, id := range ids {
		if d := nextDelivery(t, ctx, rx); d.ReceiptID != id {
			t.Fatalf("receipt %d is for %q, want %q", i, d.ReceiptID, id)
		}
	}
	checkAllAcked(t, ctx, s, n)
	if len(other.Deliveries()) != 0 {
		t.Fatal("a receipt went to another system_id")
	}
}

func TestHoldReceiptsRetryErrors(t *testing.T) {
	t.Parallel()
	const n, failures = 50, 10
	ctx := timeout(t)
	s := smsctest.Start(t, smsctest.Config{HoldReceipts: true})
	var answered atomic.Int32
	c := esmetest.Bind(t, ctx, esmetest.Config{Addr: s.Addr(), SystemID: "shop", DeliverStatus: func(pdu.Frame) pdu.Status {
		if answered.Add(1) <= failures {
			return pdu.StatusXTAppn
		}
		return pdu.StatusOK
	}})
	ids := submitN(t, ctx, c, n)

	// Each receipt refused once comes again, once.
	seen := make(map[string]int, n)
	for range n + failures {
		seen[nextDelivery(t, ctx, c).ReceiptID]++
	}
	for i, id := range ids {
		want := 1
		if i < failures {
			want = 2
		}
		if seen[id] != want {
			t.Fatalf("receipt %d (%q) delivered %d times, want %d", i, id, seen[id], want)
		}
	}
	checkAllAcked(t, ctx, s, n)
	if st := s.ReceiptStatuses()[pdu.StatusXTAppn]; st != failures {
		t.Fatalf("%d refusals counted, want %d", st, failures)
	}
}

func TestHoldReceiptsRedeliveredAfterAbruptClose(t *testing.T) {
	t.Parallel()
	const n = 100
	ctx := timeout(t)
	s := smsctest.Start(t, smsctest.Config{HoldReceipts: true})
	tx := esmetest.Bind(t, ctx, esmetest.Config{Addr: s.Addr(), SystemID: "shop", Bind: pdu.BindTransmitter})
	ids := submitN(t, ctx, tx, n)

	// The first receiver answers what it reads, but holds back the peer
	// once its one-slot buffer is full, then goes away without unbind.
	var mu sync.Mutex
	answered := make(map[string]bool)
	first, err := esmetest.Dial(ctx, esmetest.Config{
		Addr: s.Addr(), SystemID: "shop", Bind: pdu.BindReceiver, DeliveryBuffer: 1,
		DeliverStatus: func(f pdu.Frame) pdu.Status {
			var sm pdu.SM
			if err := pdu.ParseSM(f.Body(), &sm); err != nil {
				return pdu.StatusSysErr
			}
			mu.Lock()
			answered[esmetest.ReceiptID(&sm)] = true
			mu.Unlock()
			return pdu.StatusOK
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		nextDelivery(t, ctx, first)
	}
	first.Close()
	mu.Lock()
	if len(answered) >= n {
		t.Fatalf("the first receiver answered %d receipts", len(answered))
	}
	mu.Unlock()

	// Every receipt it did not answer comes to the next receiver.
	second := esmetest.Bind(t, ctx, esmetest.Config{Addr: s.Addr(), SystemID: "shop", Bind: pdu.BindTransceiver})
	missing := make(map[string]bool, n)
	for _, id := range ids {
		if !answered[id] {
			missing[id] = true
		}
	}
	for len(missing) > 0 {
		delete(missing, nextDelivery(t, ctx, second).ReceiptID)
	}
	checkAllAcked(t, ctx, s, n)
}

func TestHoldReceiptsWindow(t *testing.T) {
	t.Parallel()
	const n, window = 100, 64
	ctx := timeout(t)
	s := smsctest.Start(t, smsctest.Config{HoldReceipts: true})
	tx := esmetest.Bind(t, ctx, esmetest.Config{Addr: s.Addr(), SystemID: "shop", Bind: pdu.BindTransmitter})
	ids := submitN(t, ctx, tx, n)

	r := esmetest.Connect(t, ctx, s.Addr())
	if err := r.Send(pdu.Bind(pdu.BindReceiver, 1, pdu.BindFields{SystemID: "shop", Version: pdu.InterfaceVersion})); err != nil {
		t.Fatal(err)
	}
	if f, err := r.Read(ctx); err != nil || f.ID != pdu.BindReceiverResp || f.Status != pdu.StatusOK {
		t.Fatalf("bind: %v %v", f.ID, err)
	}
	read := func(ctx context.Context) (pdu.Frame, string, error) {
		f, err := r.Read(ctx)
		if err != nil {
			return f, "", err
		}
		var sm pdu.SM
		if f.ID != pdu.DeliverSM {
			t.Fatalf("got %v", f.ID)
		}
		if err := pdu.ParseSM(f.Body(), &sm); err != nil {
			t.Fatal(err)
		}
		return f, esmetest.ReceiptID(&sm), nil
	}
	var first pdu.Frame
	for i := range window {
		f, id, err := read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if id != ids[i] {
			t.Fatalf("receipt %d is for %q, want %q", i, id, ids[i])
		}
		if i == 0 {
			first = f
		}
	}
	// The window is full: nothing more comes until an answer.
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, _, err := read(short)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read past the window: %v", err)
	}
	if s.ReceiptsPending() != n {
		t.Fatalf("pending %d", s.ReceiptsPending())
	}
	if err := r.Send(pdu.MessageIDResp(pdu.DeliverSMResp, pdu.StatusOK, first.Seq, "")); err != nil {
		t.Fatal(err)
	}
	if _, id, err := read(ctx); err != nil || id != ids[window] {
		t.Fatalf("after one answer: %q %v", id, err)
	}
	if err := s.WaitReceiptsAcked(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if s.ReceiptsPending() != n-1 {
		t.Fatalf("pending %d", s.ReceiptsPending())
	}
}
