package daemon

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/smppmux/smppmux/admin"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
)

// TestOutboxListAndPurge: the outbox lists the receipts waiting for a
// client, their text only at debug; purged, one or all, they are never
// delivered.
func TestOutboxListAndPurge(t *testing.T) {
	t.Parallel()
	c := startControl(t)
	ctx := deadline(t)
	tx := c.dial(t, "shop", "secret", pdu.BindTransmitter, 10)
	ids := receiptsWaiting(t, c, tx, 0, 4)

	var ob admin.Outbox
	c.callJSON(t, "GET", "/api/v1/clients/shop/outbox", "", http.StatusOK, &ob)
	if ob.SystemID != "shop" || ob.Depth != 4 || len(ob.Items) != 4 || ob.OldestAgeSeconds < 0 {
		t.Fatalf("outbox %+v, want 4 receipts", ob)
	}
	for i, it := range ob.Items {
		if !it.Receipt || it.Command != "deliver_sm" || it.MessageID != ids[i] || it.State != "DELIVRD" ||
			it.Source != destination(i) || it.Destination != "Shop" || it.Text != "" || it.Arrived.IsZero() || it.Seq == 0 {
			t.Errorf("item %d: %+v, want the receipt of %s without its text", i, it, ids[i])
		}
	}
	seqs := make([]uint64, len(ob.Items))
	for i, it := range ob.Items {
		seqs[i] = it.Seq
	}
	var page admin.Outbox
	c.callJSON(t, "GET", fmt.Sprintf("/api/v1/clients/shop/outbox?after=%d&limit=2", seqs[0]), "", http.StatusOK, &page)
	if len(page.Items) != 2 || page.Items[0].Seq != seqs[1] || page.Items[1].Seq != seqs[2] || page.Depth != 4 {
		t.Fatalf("page after the first, 2 items: %+v", page)
	}
	c.level.SetLevel(zapcore.DebugLevel)
	c.callJSON(t, "GET", "/api/v1/clients/shop/outbox?limit=1", "", http.StatusOK, &page)
	if len(page.Items) != 1 || !strings.Contains(page.Items[0].Text, "id:") || !strings.Contains(page.Items[0].Text, "stat:DELIVRD") {
		t.Fatalf("at debug, the item's text is %q, want the receipt's", page.Items[0].Text)
	}
	c.level.SetLevel(zapcore.InfoLevel)

	one := fmt.Sprintf("/api/v1/clients/shop/outbox/%d", seqs[1])
	var res map[string]int
	c.callJSON(t, "DELETE", one, "", http.StatusOK, &res)
	if res["purged"] != 1 {
		t.Fatalf("purge of one: %v", res)
	}
	if code, body := c.call(t, "DELETE", one, ""); code != http.StatusNotFound {
		t.Fatalf("purge of one already purged: %d %s, want 404", code, body)
	}
	c.callJSON(t, "GET", "/api/v1/clients/shop/outbox", "", http.StatusOK, &ob)
	if ob.Depth != 3 || len(ob.Items) != 3 || ob.Items[1].Seq != seqs[2] {
		t.Fatalf("after the purge of the second: %+v", ob)
	}
	c.callJSON(t, "DELETE", "/api/v1/clients/shop/outbox", "", http.StatusOK, &res)
	if res["purged"] != 3 {
		t.Fatalf("purge of all: %v, want 3", res)
	}
	c.callJSON(t, "GET", "/api/v1/clients/shop/outbox", "", http.StatusOK, &ob)
	if ob.Depth != 0 || len(ob.Items) != 0 || ob.OldestAgeSeconds != 0 {
		t.Fatalf("after the purge of all: %+v", ob)
	}

	// One more receipt waits behind where the purged ones were: it is the
	// first the client gets, and the outbox is empty after it.
	last := receiptsWaiting(t, c, tx, 4, 1)[0]
	rx := c.dial(t, "shop", "secret", pdu.BindReceiver, 10)
	select {
	case d := <-rx.Deliveries():
		if d.ReceiptID != last {
			t.Fatalf("first receipt delivered after the purge is %s's, want %s's (the purged were %q)", d.ReceiptID, last, ids)
		}
	case <-ctx.Done():
		t.Fatal("the receipt after the purge never came")
	}
	waitUntil(t, ctx, "the outbox empty", func() bool {
		c.callJSON(t, "GET", "/api/v1/clients/shop/outbox", "", http.StatusOK, &ob)
		return ob.Depth == 0
	})

	for _, tc := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/api/v1/clients/nobody/outbox", http.StatusNotFound},
		{"DELETE", "/api/v1/clients/nobody/outbox", http.StatusNotFound},
		{"DELETE", "/api/v1/clients/shop/outbox/x", http.StatusBadRequest},
		{"DELETE", "/api/v1/clients/shop/outbox/0", http.StatusBadRequest},
		{"GET", "/api/v1/clients/shop/outbox?limit=0", http.StatusBadRequest},
		{"GET", "/api/v1/clients/shop/outbox?limit=10001", http.StatusBadRequest},
		{"GET", "/api/v1/clients/shop/outbox?after=-1", http.StatusBadRequest},
	} {
		if code, body := c.call(t, tc.method, tc.path, ""); code != tc.code {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, code, body, tc.code)
		}
	}
}

// TestMessageLookup: a message is found by the id its client was given:
// its upstream, the SMSC's id, the session its receipts go to and when it
// was submitted while its receipt is owed; its receipt while it waits in
// the outbox; nothing once the receipt was delivered.
func TestMessageLookup(t *testing.T) {
	t.Parallel()
	noReceipt := func(r *smsctest.SubmitRequest) smsctest.Reply {
		return smsctest.Reply{NoReceipt: r.SM != nil && string(r.SM.DestAddr) == destination(0)}
	}
	c := startControl(t, smsctest.Config{Submit: noReceipt}, smsctest.Config{Submit: noReceipt})
	ctx := deadline(t)
	tx := c.dial(t, "shop", "secret", pdu.BindTransmitter, 10)
	before := time.Now()
	ids := submitN(t, tx, 0, 2)
	after := time.Now()
	c.waitSMSCs(t, ctx, "the receipt taken", func() bool {
		return c.smscs[0].ReceiptsAcked()+c.smscs[1].ReceiptsAcked() == 1
	})
	// Where the first went, with the SMSC's id.
	var upstream, upstreamID string
	for i, s := range c.smscs {
		for _, r := range s.Records() {
			var sm pdu.SM
			if err := pdu.ParseSM(r.Body, &sm); err != nil {
				t.Fatal(err)
			}
			if string(sm.DestAddr) == destination(0) {
				upstream, upstreamID = []string{"a", "b"}[i], r.MessageID
			}
		}
	}
	var sessionID uint64
	for _, s := range c.d.Server.Sessions() {
		sessionID = s.ID()
	}

	var m admin.Message
	c.callJSON(t, "GET", "/api/v1/clients/shop/messages/"+ids[0], "", http.StatusOK, &m)
	if m.SystemID != "shop" || m.MessageID != ids[0] || m.State != "awaiting_receipt" ||
		m.Upstream != upstream || m.UpstreamID != upstreamID || m.UpstreamID == "" ||
		m.Session != sessionID || !m.SessionBound ||
		m.Submitted.Before(before.Add(-time.Millisecond)) || m.Submitted.After(after) ||
		!m.Expires.After(m.Submitted) || len(m.Receipts) != 0 {
		t.Fatalf("message %+v\nwant shop's %s awaiting its receipt, at %s as %q, on session %d, submitted in [%v, %v]",
			m, ids[0], upstream, upstreamID, sessionID, before, after)
	}

	c.callJSON(t, "GET", "/api/v1/clients/shop/messages/"+ids[1], "", http.StatusOK, &m)
	if m.MessageID != ids[1] || len(m.Receipts) != 1 || m.Receipts[0].Where != "outbox" ||
		m.Receipts[0].State != "DELIVRD" || m.Receipts[0].Seq == 0 || m.Receipts[0].Arrived.IsZero() {
		t.Fatalf("message %+v, want its receipt in the outbox", m)
	}
	if m.State != "receipt_in_outbox" {
		t.Fatalf("message state %q, want receipt_in_outbox", m.State)
	}

	// Delivered, its receipt is owed no more.
	rx := c.dial(t, "shop", "secret", pdu.BindReceiver, 10)
	select {
	case d := <-rx.Deliveries():
		if d.ReceiptID != ids[1] {
			t.Fatalf("receipt of %s, want %s's", d.ReceiptID, ids[1])
		}
	case <-ctx.Done():
		t.Fatal("the receipt never came")
	}
	waitUntil(t, ctx, "the delivered message unknown", func() bool {
		code, _ := c.call(t, "GET", "/api/v1/clients/shop/messages/"+ids[1], "")
		return code == http.StatusNotFound
	})
	// Once its session is gone, the mapping says so.
	tx.Unbind(ctx)
	waitUntil(t, ctx, "the session gone", func() bool {
		c.callJSON(t, "GET", "/api/v1/clients/shop/messages/"+ids[0], "", http.StatusOK, &m)
		return !m.SessionBound
	})

	for _, path := range []string{
		"/api/v1/clients/shop/messages/nosuchid",
		"/api/v1/clients/bank/messages/" + ids[0], // another client's
		"/api/v1/clients/nobody/messages/" + ids[0],
	} {
		if code, body := c.call(t, "GET", path, ""); code != http.StatusNotFound {
			t.Errorf("GET %s: %d %s, want 404", path, code, body)
		}
	}
}
