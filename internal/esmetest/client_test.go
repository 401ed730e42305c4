package esmetest_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
)

func timeout(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestSubmitAndSend(t *testing.T) {
	t.Parallel()
	ctx := timeout(t)
	s := smsctest.Start(t, smsctest.Config{SystemID: "shop", Password: "pw", IDFormat: func(n uint64) string { return "ID" + string(rune('A'+n)) }})
	c := esmetest.Bind(t, ctx, esmetest.Config{Addr: s.Addr(), SystemID: "shop", Password: "pw"})
	r, err := c.Submit(ctx, esmetest.SubmitBody("Shop", "4477", []byte("hi"), 0, nil))
	if err != nil || r.Status != pdu.StatusOK || r.MessageID != "IDB" || r.Frame.ID != pdu.SubmitSMResp {
		t.Fatalf("%+v %v", r, err)
	}
	f, err := c.Send(ctx, pdu.EnquireLink, nil)
	if err != nil || f.ID != pdu.EnquireLinkResp || f.Status != pdu.StatusOK {
		t.Fatalf("%+v %v", f.Header, err)
	}
	f, err = c.Send(ctx, pdu.QuerySM, []byte("IDB\x00\x00\x00\x00"))
	if err != nil || f.ID != pdu.QuerySMResp || f.Status != pdu.StatusOK {
		t.Fatalf("query_sm: %+v %v", f.Header, err)
	}
	// A request the fake does not implement comes back as generic_nack.
	f, err = c.Send(ctx, pdu.SubmitMulti, []byte{0})
	if err != nil || f.ID != pdu.GenericNack || f.Status != pdu.StatusInvCmdID {
		t.Fatalf("submit_multi: %+v %v", f.Header, err)
	}
	if c.LocalAddr() == nil {
		t.Fatal("no local address")
	}
}

func TestDeliverStatusAndReceiptDelay(t *testing.T) {
	t.Parallel()
	ctx := timeout(t)
	s := smsctest.Start(t, smsctest.Config{ReceiptDelay: 2 * time.Millisecond})
	c := esmetest.Bind(t, ctx, esmetest.Config{Addr: s.Addr(), DeliverStatus: func(pdu.Frame) pdu.Status { return pdu.StatusXTAppn }})
	r, err := c.Submit(ctx, esmetest.SubmitBody("1", "2", []byte("x"), 1, nil))
	if err != nil || r.Status != pdu.StatusOK {
		t.Fatalf("%+v %v", r, err)
	}
	var d esmetest.Delivery
	select {
	case d = <-c.Deliveries():
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	if d.ReceiptID != r.MessageID {
		t.Fatalf("receipt %q for %q", d.ReceiptID, r.MessageID)
	}
	// The deliver_sm_resp was queued before the delivery was handed over,
	// so it reaches the server before this enquire_link.
	if _, err := c.Send(ctx, pdu.EnquireLink, nil); err != nil {
		t.Fatal(err)
	}
	if st := s.ReceiptStatuses(); st[pdu.StatusXTAppn] != 1 || s.ReceiptsAcked() != 0 {
		t.Fatalf("statuses %v", st)
	}
}

func TestWindow(t *testing.T) {
	t.Parallel()
	ctx := timeout(t)
	got := make(chan struct{}, 10)
	s := smsctest.Start(t, smsctest.Config{Submit: func(*smsctest.SubmitRequest) smsctest.Reply {
		got <- struct{}{}
		return smsctest.Reply{Drop: true}
	}})
	c := esmetest.Bind(t, ctx, esmetest.Config{Addr: s.Addr(), Window: 2})
	errs := make(chan error, 3)
	done := func(_ esmetest.Resp, err error) { errs <- err }
	body := esmetest.SubmitBody("1", "2", nil, 0, nil)
	for range 2 {
		if err := c.SubmitAsync(body, done); err != nil {
			t.Fatal(err)
		}
	}
	<-got
	<-got
	third := make(chan error, 1)
	go func() { third <- c.SubmitAsync(body, done) }()
	// Nothing answers: the third waits for a slot until the link drops.
	s.DisconnectAll()
	if err := <-third; err == nil {
		t.Fatal("third submit was sent")
	}
	for range 2 {
		if err := <-errs; err == nil {
			t.Fatal("pending submit did not fail")
		}
	}
	if s.Received() != 2 {
		t.Fatalf("received %d, want 2", s.Received())
	}
	if _, err := c.Submit(ctx, body); err == nil {
		t.Fatal("submit after the end succeeded")
	}
	if _, ok := <-c.Deliveries(); ok {
		t.Fatal("deliveries not closed")
	}
}

func TestCloseFailsPending(t *testing.T) {
	t.Parallel()
	ctx := timeout(t)
	got := make(chan struct{}, 1)
	s := smsctest.Start(t, smsctest.Config{Submit: func(*smsctest.SubmitRequest) smsctest.Reply {
		got <- struct{}{}
		return smsctest.Reply{Drop: true}
	}})
	c := esmetest.Bind(t, ctx, esmetest.Config{Addr: s.Addr()})
	res := make(chan error, 1)
	go func() {
		_, err := c.Submit(ctx, esmetest.SubmitBody("1", "2", nil, 0, nil))
		res <- err
	}()
	<-got
	c.Close()
	if err := <-res; !errors.Is(err, esmetest.ErrClosed) {
		t.Fatalf("err = %v", err)
	}
	<-c.Done()
	if !errors.Is(c.Err(), esmetest.ErrClosed) {
		t.Fatalf("Err = %v", c.Err())
	}
}

// fakePeer accepts one connection, answers its bind, then runs script.
func fakePeer(t *testing.T, script func(conn net.Conn, rd *pdu.Reader)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	go func() {
		defer wg.Done()
		conn, err := l.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		rd := pdu.NewReader(conn, 0)
		f, err := rd.Read()
		if err != nil {
			return
		}
		conn.Write(pdu.BindResp(f.ID, pdu.StatusOK, f.Seq, "peer"))
		script(conn, rd)
	}()
	return l.Addr().String()
}

func TestAnswersPeerRequests(t *testing.T) {
	t.Parallel()
	ctx := timeout(t)
	type seen struct {
		id  pdu.ID
		st  pdu.Status
		seq uint32
	}
	var got []seen
	end := make(chan struct{})
	addr := fakePeer(t, func(conn net.Conn, rd *pdu.Reader) {
		defer close(end)
		conn.Write(pdu.Empty(pdu.EnquireLink, pdu.StatusOK, 10))
		conn.Write(pdu.Empty(0x0000ABCD, pdu.StatusOK, 11))
		conn.Write(pdu.Request(pdu.DeliverSM, 12, []byte{1, 2, 3}))
		conn.Write(pdu.Empty(pdu.Unbind, pdu.StatusOK, 13))
		for {
			f, err := rd.Read()
			if err != nil {
				return
			}
			got = append(got, seen{f.ID, f.Status, f.Seq})
		}
	})
	c := esmetest.Bind(t, ctx, esmetest.Config{Addr: addr})
	d := <-c.Deliveries()
	if d.Frame.Seq != 12 || d.ReceiptID != "" || d.SM.SourceAddr != nil {
		t.Fatalf("malformed delivery %+v", d)
	}
	<-c.Done()
	if !errors.Is(c.Err(), esmetest.ErrUnbound) {
		t.Fatalf("Err = %v", c.Err())
	}
	c.Close()
	select {
	case <-end:
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	want := []seen{
		{pdu.EnquireLinkResp, pdu.StatusOK, 10},
		{pdu.GenericNack, pdu.StatusInvCmdID, 11},
		{pdu.DeliverSMResp, pdu.StatusInvMsgLen, 12},
		{pdu.UnbindResp, pdu.StatusOK, 13},
	}
	if len(got) != len(want) {
		t.Fatalf("peer got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("peer got %v, want %v", got, want)
		}
	}
}

func TestResponsesMatchIDAndSeq(t *testing.T) {
	t.Parallel()
	ctx := timeout(t)
	addr := fakePeer(t, func(conn net.Conn, rd *pdu.Reader) {
		f, err := rd.Read()
		if err != nil || f.ID != pdu.SubmitSM {
			return
		}
		// A request and a wrong response with the submit's sequence
		// number must not complete it.
		conn.Write(pdu.Request(pdu.DeliverSM, f.Seq, esmetest.SubmitBody("1", "2", []byte("mo"), 0, nil)))
		conn.Write(pdu.MessageIDResp(pdu.DataSMResp, pdu.StatusOK, f.Seq, "wrong"))
		conn.Write(pdu.MessageIDResp(pdu.SubmitSMResp, pdu.StatusOK, f.Seq, "right"))
		f, err = rd.Read() // deliver_sm_resp
		if err != nil {
			return
		}
		f, err = rd.Read() // second submit
		if err != nil {
			return
		}
		conn.Write(pdu.Empty(pdu.GenericNack, pdu.StatusSysErr, f.Seq))
		for {
			if _, err := rd.Read(); err != nil {
				return
			}
		}
	})
	c := esmetest.Bind(t, ctx, esmetest.Config{Addr: addr})
	r, err := c.Submit(ctx, esmetest.SubmitBody("1", "2", []byte("x"), 0, nil))
	if err != nil || r.MessageID != "right" {
		t.Fatalf("%+v %v", r, err)
	}
	if d := <-c.Deliveries(); string(d.SM.ShortMessage) != "mo" {
		t.Fatalf("delivery %q", d.SM.ShortMessage)
	}
	r, err = c.Submit(ctx, esmetest.SubmitBody("1", "2", []byte("x"), 0, nil))
	if err != nil || r.Frame.ID != pdu.GenericNack || r.Status != pdu.StatusSysErr {
		t.Fatalf("%+v %v", r, err)
	}
}

func TestRawReadHonoursContext(t *testing.T) {
	t.Parallel()
	s := smsctest.Start(t, smsctest.Config{})
	ctx := timeout(t)
	r := esmetest.Connect(t, ctx, s.Addr())
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := r.Read(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("deadline: %v", err)
	}
	canc, cancel2 := context.WithCancel(ctx)
	go func() {
		// Cancel once the read is under way; the read must return.
		cancel2()
	}()
	if _, err := r.Read(canc); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancel: %v", err)
	}
}

func TestSubmitBodyAndReceiptID(t *testing.T) {
	t.Parallel()
	var sm pdu.SM
	body := esmetest.SubmitBody("Shop", "447700", []byte("hi"), 1, pdu.AppendTLV(nil, 0x1400, []byte{1}))
	if err := pdu.ParseSM(body, &sm); err != nil {
		t.Fatal(err)
	}
	if sm.SourceTON != 5 || sm.SourceNPI != 0 || sm.DestTON != 1 || sm.DestNPI != 1 || sm.RegisteredDelivery != 1 || string(sm.ShortMessage) != "hi" || len(sm.TLVs) != 5 {
		t.Fatalf("%+v", sm)
	}
	long := make([]byte, 300)
	body = esmetest.SubmitBody("4477", "4478", long, 0, nil)
	if err := pdu.ParseSM(body, &sm); err != nil || sm.SourceTON != 1 || len(sm.ShortMessage) != 0 {
		t.Fatalf("%+v %v", sm, err)
	}
	if v, ok := pdu.FindTLV(sm.TLVs, pdu.TagMessagePayload); !ok || len(v) != 300 {
		t.Fatal("no message_payload")
	}

	for _, tc := range []struct {
		name string
		sm   *pdu.SM
		want string
	}{
		{"nil", nil, ""},
		{"tlv", &pdu.SM{TLVs: pdu.AppendTLV(nil, pdu.TagReceiptedMessageID, []byte("abc\x00")), ShortMessage: []byte("id:zzz")}, "abc"},
		{"tlv without NUL", &pdu.SM{TLVs: pdu.AppendTLV(nil, pdu.TagReceiptedMessageID, []byte("abc"))}, "abc"},
		{"text", &pdu.SM{ShortMessage: []byte("id:0123 sub:001 stat:DELIVRD")}, "0123"},
		{"text upper case", &pdu.SM{ShortMessage: []byte("ID:77 sub:001")}, "77"},
		{"text not first", &pdu.SM{ShortMessage: []byte("x id:99")}, "99"},
		{"no id", &pdu.SM{ShortMessage: []byte("valid:1 stat:DELIVRD")}, ""},
	} {
		if got := esmetest.ReceiptID(tc.sm); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// BenchmarkSubmitWindow100 measures submit_sm with receipts through a
// window of 100 on loopback.
func BenchmarkSubmitWindow100(b *testing.B) {
	ctx := timeout(b)
	s := smsctest.Start(b, smsctest.Config{DiscardRecords: true})
	c := esmetest.Bind(b, ctx, esmetest.Config{Addr: s.Addr(), Window: 100})
	body := esmetest.SubmitBody("Shop", "447700900001", []byte("hello"), 1, nil)
	var failed atomic.Int64
	var wg sync.WaitGroup
	done := func(r esmetest.Resp, err error) {
		if err != nil || r.Status != pdu.StatusOK {
			failed.Add(1)
		}
		wg.Done()
	}
	drained := make(chan int)
	go func() {
		n := 0
		for range c.Deliveries() {
			n++
		}
		drained <- n
	}()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		wg.Add(1)
		if err := c.SubmitAsync(body, done); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
	if err := s.WaitReceiptsAcked(ctx, b.N); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msg/s")
	b.StopTimer()
	c.Close()
	if n := <-drained; n != b.N || failed.Load() != 0 {
		b.Fatalf("receipts %d of %d, failed %d", n, b.N, failed.Load())
	}
}

// TestUnbindThenClose: a peer that unbinds and closes at once, without
// waiting for the unbind_resp, ended the session by its unbind: Err is
// ErrUnbound whichever of the reader's EOF and the writer's unbind_resp
// comes first.
func TestUnbindThenClose(t *testing.T) {
	t.Parallel()
	ctx := timeout(t)
	for i := range 200 {
		addr := fakePeer(t, func(conn net.Conn, _ *pdu.Reader) {
			conn.Write(pdu.Empty(pdu.Unbind, pdu.StatusOK, 1))
		})
		c := esmetest.Bind(t, ctx, esmetest.Config{Addr: addr})
		select {
		case <-c.Done():
		case <-ctx.Done():
			t.Fatal("the session outlived its unbind")
		}
		if err := c.Err(); !errors.Is(err, esmetest.ErrUnbound) {
			t.Fatalf("session %d ended with %v, want ErrUnbound", i, err)
		}
	}
}
