package dlr

import (
	"bytes"
	"slices"
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
)

// messageStates names the message_state TLV's values (SMPP 3.4, 5.2.28)
// as receipts' text writes them.
var messageStates = [...]string{1: "ENROUTE", 2: "DELIVRD", 3: "EXPIRED", 4: "DELETED",
	5: "UNDELIV", 6: "ACCEPTD", 7: "UNKNOWN", 8: "REJECTD"}

// Summarize decodes what a deliver_sm or data_sm says about itself,
// never its text: the receipt's message id, its state, the addresses.
// Fields that do not decode are empty.
func Summarize(raw []byte) DeadLetterSummary {
	s, _ := summarize(raw)
	return s
}

// summarize is Summarize that also returns the message text
// (short_message, else message_payload), for those allowed to see it.
func summarize(raw []byte) (DeadLetterSummary, []byte) {
	if len(raw) < pdu.HeaderLen {
		return DeadLetterSummary{}, nil
	}
	f := pdu.Frame{Header: pdu.ParseHeader(raw), Raw: raw}
	s := DeadLetterSummary{Command: pdu.IDName(f.ID)}
	if f.ID != pdu.DeliverSM && f.ID != pdu.DataSM {
		return s, nil
	}
	var sm pdu.SM
	if pdu.ParseMessage(f.ID, f.Body(), &sm) != nil {
		return s, nil
	}
	s.Source, s.Destination = string(sm.SourceAddr), string(sm.DestAddr)
	if s.Receipt = pdu.IsReceipt(sm.ESMClass); s.Receipt {
		if id, err := ReceiptID(&sm); err == nil {
			s.MessageID = string(id)
		}
		s.State = receiptState(&sm)
	}
	return s, sm.Text()
}

// receiptState returns the state a receipt reports, as its text writes
// it (DELIVRD, UNDELIV...): the message_state TLV first, the text's
// "stat:" second; "" when neither says.
func receiptState(sm *pdu.SM) string {
	if v, ok := pdu.FindTLV(sm.TLVs, pdu.TagMessageState); ok && len(v) == 1 && int(v[0]) < len(messageStates) {
		if st := messageStates[v[0]]; st != "" {
			return st
		}
	}
	text := sm.Text()
	i := bytes.Index(text, []byte("stat:"))
	if i < 0 {
		return ""
	}
	stat := text[i+5:]
	if j := bytes.IndexByte(stat, ' '); j >= 0 {
		stat = stat[:j]
	}
	return string(bytes.ToUpper(stat))
}

// ItemInfo is one outbox item as an operator sees it.
type ItemInfo struct {
	Seq        uint64
	Arrived    time.Time
	Attempts   int
	Refusals   int
	LastStatus pdu.Status
	// RetryAt is when an item set aside after a failed delivery goes
	// again; zero for one waiting its turn.
	RetryAt time.Time
	DeadLetterSummary
	// Text is the message's text: short_message, else message_payload.
	// Filled only when asked for.
	Text []byte
}

func itemInfo(it *Item, text bool) ItemInfo {
	sum, t := summarize(it.Raw)
	info := ItemInfo{Seq: it.Seq, Arrived: it.At, Attempts: it.Attempts, Refusals: it.Refusals,
		LastStatus: it.LastStatus, RetryAt: it.notBefore, DeadLetterSummary: sum}
	if text {
		info.Text = slices.Clone(t)
	}
	return info
}

// Items returns up to n of the items waiting in systemID's outbox, in
// order of arrival, those numbered after after (0: from the first), with
// their text when text is set. Items being delivered at this moment are
// not listed, except in a shared outbox, which is read from the store.
func (o *Outbox) Items(systemID string, after uint64, n int, text bool) ([]ItemInfo, error) {
	return o.keep.items(systemID, after, n, text)
}

// Purge deletes the item seq from systemID's outbox, or every item
// waiting there when seq is 0, and returns how many it deleted. Items
// being delivered at this moment stay: they leave when the client
// answers, or are set aside and deleted by the next purge. The deletes
// are not synced: a crash right after a purge may bring items back. In a
// shared outbox an item another instance has already read for delivery
// may still go out once.
func (o *Outbox) Purge(systemID string, seq uint64) (int, error) { return o.keep.purge(systemID, seq) }
