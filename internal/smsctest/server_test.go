package smsctest_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
)

func timeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// rawBind binds r as a transceiver and checks the answer.
func rawBind(t *testing.T, ctx context.Context, r *esmetest.RawConn, systemID, password string) {
	t.Helper()
	if err := r.Send(pdu.Bind(pdu.BindTransceiver, 1, pdu.BindFields{SystemID: systemID, Password: password, Version: pdu.InterfaceVersion})); err != nil {
		t.Fatal(err)
	}
	f, err := r.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if f.ID != pdu.BindTransceiverResp || f.Status != pdu.StatusOK || f.Seq != 1 {
		t.Fatalf("bind answered %v status 0x%X seq %d", f.ID, uint32(f.Status), f.Seq)
	}
}

func TestBind(t *testing.T) {
	t.Parallel()
	s := smsctest.Start(t, smsctest.Config{SystemID: "shop", Password: "secret"})
	for _, tc := range []struct {
		name, systemID, password string
		want                     pdu.Status
	}{
		{"ok", "shop", "secret", pdu.StatusOK},
		{"wrong password", "shop", "nope", pdu.StatusInvPaswd},
		{"unknown system_id", "other", "secret", pdu.StatusInvSysID},
		{"system_id too long", "abcdefghijklmnopq", "secret", pdu.StatusInvSysID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := timeout(t)
			c, err := esmetest.Dial(ctx, esmetest.Config{Addr: s.Addr(), SystemID: tc.systemID, Password: tc.password})
			if tc.want == pdu.StatusOK {
				if err != nil {
					t.Fatal(err)
				}
				c.Close()
				return
			}
			var be *esmetest.BindError
			if !errors.As(err, &be) || be.Status != tc.want {
				t.Fatalf("err = %v, want bind error 0x%X", err, uint32(tc.want))
			}
		})
	}
}

func TestBindTwiceAndSubmitBeforeBind(t *testing.T) {
	t.Parallel()
	ctx := timeout(t)
	s := smsctest.Start(t, smsctest.Config{})
	r := esmetest.Connect(t, ctx, s.Addr())
	body := esmetest.SubmitBody("SHOP", "447700900001", []byte("hi"), 0, nil)
	r.Send(pdu.Request(pdu.SubmitSM, 7, body))
	f, err := r.Read(ctx)
	if err != nil || f.ID != pdu.SubmitSMResp || f.Status != pdu.StatusInvBndSts || f.Seq != 7 || len(f.Raw) != pdu.HeaderLen {
		t.Fatalf("submit before bind: %+v %v", f.Header, err)
	}
	rawBind(t, ctx, r, "a", "b")
	r.Send(pdu.Bind(pdu.BindTransceiver, 2, pdu.BindFields{SystemID: "a"}))
	f, err = r.Read(ctx)
	if err != nil || f.Status != pdu.StatusAlyBnd || f.Seq != 2 {
		t.Fatalf("second bind: %+v %v", f.Header, err)
	}
	if err := s.WaitBinds(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if got := s.Sessions(); len(got) != 1 || got[0].SystemID() != "a" || got[0].BindType() != pdu.BindTransceiver {
		t.Fatalf("sessions = %v", got)
	}
	if s.Received() != 1 || s.Accepted() != 0 {
		t.Fatalf("received %d accepted %d", s.Received(), s.Accepted())
	}
}

func TestSubmitWithReceipts(t *testing.T) {
	t.Parallel()
	const n = 2000
	ctx := timeout(t)
	s := smsctest.Start(t, smsctest.Config{})
	c := esmetest.Bind(t, ctx, esmetest.Config{Addr: s.Addr(), SystemID: "shop", Password: "pw", Window: 50})

	var mu sync.Mutex
	issued := make(map[string]bool, n)
	var failed error
	var wg sync.WaitGroup
	wg.Add(n)
	body := esmetest.SubmitBody("Shop", "447700900001", []byte("hello \x01world, a fairly long text"), 1, nil)
	for range n {
		err := c.SubmitAsync(body, func(r esmetest.Resp, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				failed = err
			case r.Status != pdu.StatusOK || r.MessageID == "":
				failed = errors.New("submit not accepted")
			case issued[r.MessageID]:
				failed = errors.New("message id issued twice: " + r.MessageID)
			default:
				issued[r.MessageID] = true
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	seen := make(map[string]bool, n)
	for len(seen) < n {
		select {
		case d, ok := <-c.Deliveries():
			if !ok {
				t.Fatalf("connection ended after %d receipts: %v", len(seen), c.Err())
			}
			if d.SM.ESMClass != smsctest.EsmReceipt || d.ReceiptID == "" || seen[d.ReceiptID] {
				t.Fatalf("bad or repeated receipt %q esm_class 0x%X", d.ReceiptID, d.SM.ESMClass)
			}
			seen[d.ReceiptID] = true
			if len(seen) == 1 {
				checkReceipt(t, d)
			}
		case <-ctx.Done():
			t.Fatalf("%d receipts of %d", len(seen), n)
		}
	}
	wg.Wait()
	if failed != nil {
		t.Fatal(failed)
	}
	for id := range seen {
		if !issued[id] {
			t.Fatalf("receipt for %q, never issued", id)
		}
	}
	if err := s.WaitReceiptsAcked(ctx, n); err != nil {
		t.Fatal(err)
	}
	if s.Accepted() != n || s.Received() != n || len(s.Records()) != n || s.ReceiptStatuses()[pdu.StatusOK] != n {
		t.Fatalf("accepted %d received %d records %d statuses %v", s.Accepted(), s.Received(), len(s.Records()), s.ReceiptStatuses())
	}
	recs := s.Records()
	if recs[0].MessageID != "1" || recs[n-1].MessageID != "7d0" || recs[0].SystemID != "shop" || !bytes.Equal(recs[0].Body, body) {
		t.Fatalf("records: first %+v last %q", recs[0], recs[n-1].MessageID)
	}
}

func checkReceipt(t *testing.T, d esmetest.Delivery) {
	t.Helper()
	text := string(d.SM.ShortMessage)
	if !strings.HasPrefix(text, "id:"+d.ReceiptID+" sub:001 dlvrd:001 submit date:") ||
		!strings.HasSuffix(text, " stat:DELIVRD err:000 text:hello world, a fair") {
		t.Fatalf("receipt text %q", text)
	}
	if string(d.SM.SourceAddr) != "447700900001" || string(d.SM.DestAddr) != "Shop" || d.SM.DestTON != 5 || d.SM.DataCoding != 0 {
		t.Fatalf("receipt addresses %q -> %q", d.SM.SourceAddr, d.SM.DestAddr)
	}
	st, ok := pdu.FindTLV(d.SM.TLVs, pdu.TagMessageState)
	if !ok || len(st) != 1 || st[0] != 2 {
		t.Fatalf("message_state %v", st)
	}
	id, _ := pdu.FindTLV(d.SM.TLVs, pdu.TagReceiptedMessageID)
	if string(id) != d.ReceiptID+"\x00" {
		t.Fatalf("receipted_message_id %q", id)
	}
}

func TestReplyStatusHasNoBody(t *testing.T) {
	t.Parallel()
	ctx := timeout(t)
	s := smsctest.Start(t, smsctest.Config{Submit: func(r *smsctest.SubmitRequest) smsctest.Reply {
		if r.SM == nil || string(r.SM.DestAddr) != "4411" || r.Session.SystemID() != "x" {
			return smsctest.Reply{Status: pdu.StatusSysErr}
		}
		return smsctest.Reply{Status: pdu.StatusThrottled}
	}})
	c := esmetest.Bind(t, ctx, esmetest.Config{Addr: s.Addr(), SystemID: "x"})
	r, err := c.Submit(ctx, esmetest.SubmitBody("1", "4411", []byte("x"), 1, nil))
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != pdu.StatusThrottled || r.MessageID != "" || len(r.Frame.Raw) != pdu.HeaderLen {
		t.Fatalf("resp %+v", r)
	}
	if s.Accepted() != 0 || s.Received() != 1 || s.ReceiptsUnsent() != 0 {
		t.Fatalf("accepted %d received %d", s.Accepted(), s.Received())
	}
}

func TestMalformedSubmit(t *testing.T) {
	t.Parallel()
	ctx := timeout(t)
	s := smsctest.Start(t, smsctest.Config{})
	c := esmetest.Bind(t, ctx, esmetest.Config{Addr: s.Addr()})
	body := esmetest.SubmitBody("1", "2", []byte("x"), 0, nil)
	for _, tc := range []struct {
		name string
		body []byte
		want pdu.Status
	}{
		{"truncated", body[:5], pdu.StatusInvMsgLen},
		{"bad tlv", append(append([]byte(nil), body...), 0, 1, 0, 9, 1), pdu.StatusInvParLen},
		{"empty", nil, pdu.StatusInvMsgLen},
	} {
		f, err := c.Send(ctx, pdu.SubmitSM, tc.body)
		if err != nil || f.ID != pdu.SubmitSMResp || f.Status != tc.want || len(f.Raw) != pdu.HeaderLen {
			t.Fatalf("%s: %+v %v", tc.name, f.Header, err)
		}
	}
}

func TestReceiptBeforeResp(t *testing.T) {
	t.Parallel()
	ctx := timeout(t)
	s := smsctest.Start(t, smsctest.Config{ReceiptBeforeResp: true, ReceiptStat: "UNDELIV", IDFormat: func(n uint64) string { return "X-" + string(rune('0'+n)) }})
	r := esmetest.Connect(t, ctx, s.Addr())
	rawBind(t, ctx, r, "shop", "")
	r.Send(pdu.Request(pdu.SubmitSM, 2, esmetest.SubmitBody("1", "2", []byte("x"), 1, nil)))
	f, err := r.Read(ctx)
	if err != nil || f.ID != pdu.DeliverSM {
		t.Fatalf("first frame %+v %v", f.Header, err)
	}
	var sm pdu.SM
	if err := pdu.ParseSM(f.Body(), &sm); err != nil {
		t.Fatal(err)
	}
	if got := esmetest.ReceiptID(&sm); got != "X-1" || !bytes.Contains(sm.ShortMessage, []byte(" dlvrd:000 ")) || !bytes.Contains(sm.ShortMessage, []byte(" stat:UNDELIV ")) {
		t.Fatalf("receipt %q id %q", sm.ShortMessage, got)
	}
	if st, _ := pdu.FindTLV(sm.TLVs, pdu.TagMessageState); len(st) != 1 || st[0] != 5 {
		t.Fatalf("message_state %v", st)
	}
	r.Send(pdu.MessageIDResp(pdu.DeliverSMResp, pdu.StatusSysErr, f.Seq, ""))
	f, err = r.Read(ctx)
	if err != nil || f.ID != pdu.SubmitSMResp || f.Seq != 2 || string(f.Body()) != "X-1\x00" {
		t.Fatalf("second frame %+v %q %v", f.Header, f.Raw, err)
	}
	// The answered receipt is counted once its response was read: an
	// enquire_link round trip orders it.
	r.Send(pdu.Empty(pdu.EnquireLink, pdu.StatusOK, 3))
	if f, err = r.Read(ctx); err != nil || f.ID != pdu.EnquireLinkResp || f.Seq != 3 {
		t.Fatalf("enquire_link: %+v %v", f.Header, err)
	}
	if st := s.ReceiptStatuses(); st[pdu.StatusSysErr] != 1 || s.ReceiptsAcked() != 0 {
		t.Fatalf("receipt statuses %v", st)
	}
}

func TestReceiptOnReceiverOnly(t *testing.T) {
	t.Parallel()
	ctx := timeout(t)
	s := smsctest.Start(t, smsctest.Config{})
	tx := esmetest.Bind(t, ctx, esmetest.Config{Addr: s.Addr(), SystemID: "shop", Bind: pdu.BindTransmitter})
	if r, err := tx.Submit(ctx, esmetest.SubmitBody("1", "2", []byte("x"), 1, nil)); err != nil || r.Status != pdu.StatusOK {
		t.Fatalf("%+v %v", r, err)
	}
	// No receiver bound: the receipt is dropped.
	if err := s.WaitAccepted(ctx, 1); err != nil {
		t.Fatal(err)
	}
	rx := esmetest.Bind(t, ctx, esmetest.Config{Addr: s.Addr(), SystemID: "shop", Bind: pdu.BindReceiver})
	other := esmetest.Bind(t, ctx, esmetest.Config{Addr: s.Addr(), SystemID: "other", Bind: pdu.BindReceiver})
	r, err := tx.Submit(ctx, esmetest.SubmitBody("1", "2", []byte("x"), 1, nil))
	if err != nil || r.Status != pdu.StatusOK || r.MessageID != "2" {
		t.Fatalf("%+v %v", r, err)
	}
	select {
	case d := <-rx.Deliveries():
		if d.ReceiptID != "2" {
			t.Fatalf("receipt id %q", d.ReceiptID)
		}
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	if err := s.WaitReceiptsAcked(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if s.ReceiptsUnsent() != 1 || len(other.Deliveries()) != 0 {
		t.Fatalf("unsent %d", s.ReceiptsUnsent())
	}
	// A receiver cannot submit.
	if r, err := rx.Submit(ctx, esmetest.SubmitBody("1", "2", []byte("x"), 1, nil)); err != nil || r.Status != pdu.StatusInvBndSts {
		t.Fatalf("%+v %v", r, err)
	}
}

func TestDelayDropAndDisconnect(t *testing.T) {
	t.Parallel()
	ctx := timeout(t)
	s := smsctest.Start(t, smsctest.Config{Submit: func(r *smsctest.SubmitRequest) smsctest.Reply {
		switch string(r.SM.ShortMessage) {
		case "delay":
			return smsctest.Reply{Delay: 5 * time.Millisecond}
		case "drop":
			return smsctest.Reply{Drop: true}
		case "cut":
			return smsctest.Reply{Disconnect: true}
		}
		return smsctest.Reply{}
	}})
	c := esmetest.Bind(t, ctx, esmetest.Config{Addr: s.Addr()})
	if r, err := c.Submit(ctx, esmetest.SubmitBody("1", "2", []byte("delay"), 0, nil)); err != nil || r.MessageID != "1" {
		t.Fatalf("%+v %v", r, err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := c.Submit(short, esmetest.SubmitBody("1", "2", []byte("drop"), 0, nil)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dropped submit: %v", err)
	}
	if _, err := c.Submit(ctx, esmetest.SubmitBody("1", "2", []byte("cut"), 0, nil)); err == nil {
		t.Fatal("submit answered by a disconnect succeeded")
	}
	<-c.Done()
	if s.Accepted() != 1 || s.Received() != 3 {
		t.Fatalf("accepted %d received %d", s.Accepted(), s.Received())
	}
}

func TestDisconnectAll(t *testing.T) {
	t.Parallel()
	ctx := timeout(t)
	s := smsctest.Start(t, smsctest.Config{Submit: func(*smsctest.SubmitRequest) smsctest.Reply { return smsctest.Reply{Drop: true} }})
	c1 := esmetest.Bind(t, ctx, esmetest.Config{Addr: s.Addr()})
	c2 := esmetest.Bind(t, ctx, esmetest.Config{Addr: s.Addr(), Bind: pdu.BindReceiver})
	if err := s.WaitBinds(ctx, 2); err != nil {
		t.Fatal(err)
	}
	failed := make(chan error, 1)
	if err := c1.SubmitAsync(esmetest.SubmitBody("1", "2", nil, 0, nil), func(_ esmetest.Resp, err error) { failed <- err }); err != nil {
		t.Fatal(err)
	}
	s.DisconnectAll()
	for _, c := range []*esmetest.Client{c1, c2} {
		select {
		case <-c.Done():
		case <-ctx.Done():
			t.Fatal("client still connected")
		}
	}
	if err := <-failed; err == nil {
		t.Fatal("pending submit did not fail")
	}
	// The server keeps listening.
	esmetest.Bind(t, ctx, esmetest.Config{Addr: s.Addr()})
	if err := s.WaitBinds(ctx, 1); err != nil {
		t.Fatal(err)
	}
}

func TestGenericNackUnknownID(t *testing.T) {
	t.Parallel()
	ctx := timeout(t)
	s := smsctest.Start(t, smsctest.Config{})
	r := esmetest.Connect(t, ctx, s.Addr())
	r.Send(pdu.Empty(0x00000999, pdu.StatusOK, 42))
	f, err := r.Read(ctx)
	if err != nil || f.ID != pdu.GenericNack || f.Status != pdu.StatusInvCmdID || f.Seq != 42 || len(f.Raw) != pdu.HeaderLen {
		t.Fatalf("%+v %v", f.Header, err)
	}
	// The connection stays usable.
	r.Send(pdu.Empty(pdu.EnquireLink, pdu.StatusOK, 43))
	if f, err = r.Read(ctx); err != nil || f.ID != pdu.EnquireLinkResp || f.Seq != 43 {
		t.Fatalf("%+v %v", f.Header, err)
	}
}

func TestBadLength(t *testing.T) {
	t.Parallel()
	for _, n := range []uint32{0, 8, 15, 1 << 20} {
		ctx := timeout(t)
		s := smsctest.Start(t, smsctest.Config{})
		r := esmetest.Connect(t, ctx, s.Addr())
		b := pdu.Empty(pdu.EnquireLink, pdu.StatusOK, 77)
		binary.BigEndian.PutUint32(b, n)
		r.Send(b)
		f, err := r.Read(ctx)
		if err != nil || f.ID != pdu.GenericNack || f.Status != pdu.StatusInvCmdLen || f.Seq != 77 {
			t.Fatalf("length %d: %+v %v", n, f.Header, err)
		}
		if _, err := r.Read(ctx); !errors.Is(err, io.EOF) && !isReset(err) {
			t.Fatalf("length %d: connection not closed: %v", n, err)
		}
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

func TestUnbind(t *testing.T) {
	t.Parallel()
	ctx := timeout(t)
	s := smsctest.Start(t, smsctest.Config{})
	c := esmetest.Bind(t, ctx, esmetest.Config{Addr: s.Addr()})
	if err := s.WaitBinds(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := c.Unbind(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitBinds(ctx, 0); err != nil {
		t.Fatal(err)
	}
}

func TestPushAndDataSM(t *testing.T) {
	t.Parallel()
	ctx := timeout(t)
	s := smsctest.Start(t, smsctest.Config{})
	if err := s.Push(pdu.Request(pdu.DeliverSM, 1, nil)); !errors.Is(err, smsctest.ErrNoReceiver) {
		t.Fatalf("push with nobody bound: %v", err)
	}
	var n int
	c := esmetest.Bind(t, ctx, esmetest.Config{Addr: s.Addr(), SystemID: "shop", DeliverStatus: func(f pdu.Frame) pdu.Status {
		n++
		if n == 2 {
			return pdu.StatusXTAppn
		}
		return pdu.StatusOK
	}})
	mo := pdu.Request(pdu.DeliverSM, 999, esmetest.SubmitBody("447700900001", "1234", []byte("STOP"), 0, nil))
	for range 2 {
		if err := s.Push(mo); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 2; i++ {
		d := <-c.Deliveries()
		if d.Frame.Seq == 999 || string(d.SM.ShortMessage) != "STOP" || d.ReceiptID != "" {
			t.Fatalf("push %d: seq %d %q", i, d.Frame.Seq, d.SM.ShortMessage)
		}
	}
	if err := s.WaitPushesAcked(ctx, 1); err != nil {
		t.Fatal(err)
	}

	// data_sm, with its receipt.
	var ds []byte
	ds = append(ds, 0, 1, 1)
	ds = pdu.AppendCString(ds, "447700900001")
	ds = append(ds, 1, 1)
	ds = pdu.AppendCString(ds, "447700900002")
	ds = append(ds, 0, 1, 0)
	ds = pdu.AppendTLV(ds, pdu.TagMessagePayload, []byte("payload text"))
	f, err := c.Send(ctx, pdu.DataSM, ds)
	if err != nil || f.ID != pdu.DataSMResp || f.Status != pdu.StatusOK || string(f.Body()) != "1\x00" {
		t.Fatalf("data_sm: %+v %q %v", f.Header, f.Raw, err)
	}
	d := <-c.Deliveries()
	if d.ReceiptID != "1" || !bytes.HasSuffix(d.SM.ShortMessage, []byte("text:payload text")) {
		t.Fatalf("data_sm receipt %q", d.SM.ShortMessage)
	}
	if err := s.WaitReceiptsAcked(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if s.PushesAcked() != 1 {
		t.Fatalf("pushes acked %d", s.PushesAcked())
	}
}

func TestEnquireLinkFromServer(t *testing.T) {
	t.Parallel()
	ctx := timeout(t)
	s := smsctest.Start(t, smsctest.Config{EnquireLinkInterval: time.Millisecond})
	r := esmetest.Connect(t, ctx, s.Addr())
	f, err := r.Read(ctx)
	if err != nil || f.ID != pdu.EnquireLink || f.Seq == 0 {
		t.Fatalf("%+v %v", f.Header, err)
	}
}

func TestReceiptFunc(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	sm := &pdu.SM{SourceAddr: []byte("Shop"), SourceTON: 5, DestAddr: []byte("4477"), DestTON: 1, DestNPI: 1, ShortMessage: []byte("\x00ab\ncd")}
	body := smsctest.Receipt("0xAB", sm, "", now)
	var got pdu.SM
	if err := pdu.ParseSM(body, &got); err != nil {
		t.Fatal(err)
	}
	want := "id:0xAB sub:001 dlvrd:001 submit date:2603040506 done date:2603040506 stat:DELIVRD err:000 text:abcd"
	if string(got.ShortMessage) != want || got.ESMClass != 0x04 || string(got.SourceAddr) != "4477" || string(got.DestAddr) != "Shop" || got.DestTON != 5 {
		t.Fatalf("receipt %q", got.ShortMessage)
	}
	// Long ids and nil submits do not break the PDU.
	body = smsctest.Receipt(strings.Repeat("9", 300), nil, "WEIRD", now)
	if err := pdu.ParseSM(body, &got); err != nil || len(got.ShortMessage) != 254 {
		t.Fatalf("long id: %v len %d", err, len(got.ShortMessage))
	}
	if st, _ := pdu.FindTLV(got.TLVs, pdu.TagMessageState); len(st) != 1 || st[0] != 7 {
		t.Fatalf("message_state %v", st)
	}
}

func TestCloseWithPendingTimers(t *testing.T) {
	t.Parallel()
	ctx := timeout(t)
	s := smsctest.Start(t, smsctest.Config{Submit: func(*smsctest.SubmitRequest) smsctest.Reply {
		return smsctest.Reply{Delay: time.Hour}
	}})
	c := esmetest.Bind(t, ctx, esmetest.Config{Addr: s.Addr()})
	failed := make(chan error, 1)
	c.SubmitAsync(esmetest.SubmitBody("1", "2", nil, 1, nil), func(_ esmetest.Resp, err error) { failed <- err })
	if err := s.WaitAccepted(ctx, 1); err != nil {
		t.Fatal(err)
	}
	s.Close() // must not wait an hour
	if err := <-failed; err == nil {
		t.Fatal("submit survived the server")
	}
	s.Close()
}

// TestCloseLeavesNoGoroutine runs alone (not parallel) so the goroutine
// count is stable: Close of the server and of the client wait for all
// their goroutines, timers included.
func TestCloseLeavesNoGoroutine(t *testing.T) {
	// A first round lets the runtime start what it starts lazily (the
	// finalizer goroutine, for one).
	// Each round is a subtest: what it opened is closed when it ends.
	t.Run("first", openClose)
	before := runtime.NumGoroutine()
	t.Run("counted", openClose)
	// A goroutine that has called wg.Done in a deferred call is still
	// counted until it finishes exiting: let such goroutines run. Under
	// the race detector a thousand yields are not always enough, so the
	// bound is a time, well above what exiting takes.
	for end := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before && time.Now().Before(end); {
		runtime.Gosched()
	}
	if after := runtime.NumGoroutine(); after > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines before, %d after\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}

func openClose(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := smsctest.Start(t, smsctest.Config{ReceiptDelay: time.Hour, EnquireLinkInterval: time.Hour})
	c := esmetest.Bind(t, ctx, esmetest.Config{Addr: s.Addr(), EnquireLinkInterval: time.Hour})
	if _, err := c.Submit(ctx, esmetest.SubmitBody("1", "2", []byte("x"), 1, nil)); err != nil {
		t.Fatal(err)
	}
	r := esmetest.Connect(t, ctx, s.Addr())
	r.Send(pdu.Empty(pdu.EnquireLink, pdu.StatusOK, 1))
	if _, err := r.Read(ctx); err != nil {
		t.Fatal(err)
	}
}
