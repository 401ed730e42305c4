package dlr

import (
	"bytes"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/smppmux/smppmux/internal/pdu"
)

// ReceiptIDForm says how an upstream writes the message ids of its
// receipts compared with its submit_sm_resp (which receipted_message_id
// repeats, by the SMPP specification), and so how far smppmux may fold a
// receipt's id to find its message: the upstream's id_format in the
// configuration. How a client's own ids are written is an IDBase.
type ReceiptIDForm int32

// ID forms.
const (
	// FormExact: receipts carry the id octet for octet; nothing is
	// folded.
	FormExact ReceiptIDForm = iota
	// FormSame: receipts carry the id up to case and leading zeros.
	FormSame
	// FormHexDecimal: hexadecimal in the response, decimal in the text;
	// otherwise as FormSame.
	FormHexDecimal
	// FormDecimalHex: decimal in the response, hexadecimal in the text;
	// otherwise as FormSame.
	FormDecimalHex
)

// ParseReceiptIDForm reads an upstream's id_format: "auto" (starts as
// FormExact and learns), "exact", "same", "hex-decimal", "decimal-hex".
func ParseReceiptIDForm(s string) (form ReceiptIDForm, auto bool, err error) {
	switch s {
	case "", "auto":
		return FormExact, true, nil
	case "exact":
		return FormExact, false, nil
	case "same":
		return FormSame, false, nil
	case "hex-decimal":
		return FormHexDecimal, false, nil
	case "decimal-hex":
		return FormDecimalHex, false, nil
	}
	return 0, false, fmt.Errorf("unknown id_format %q", s)
}

var idFormNames = [...]string{"exact", "same", "hex-decimal", "decimal-hex"}

func (f ReceiptIDForm) String() string {
	if f >= 0 && int(f) < len(idFormNames) {
		return idFormNames[f]
	}
	return "unknown"
}

// Folds reports whether receipts of form f may name their message up to
// case and leading zeros.
func (f ReceiptIDForm) Folds() bool { return f != FormExact }

// Ref is how a receipt names its message.
type Ref struct {
	// ID is looked up octet for octet: the receipted_message_id TLV as
	// the SMSC wrote it, else the text's id (turned into the response's
	// base under FormHexDecimal and FormDecimalHex).
	ID string
	// Folded is FoldID(ID) when the upstream's form allows folding, and
	// empty when it does not: then only ID can match.
	Folded string
}

// IDReader reads the message ids of one upstream's receipts. With auto,
// it starts as FormExact and learns the form from receipts that carry the
// id both in the TLV and in the text, differently. Safe for concurrent
// use.
type IDReader struct {
	form atomic.Int32
	auto bool
}

// NewIDReader returns an IDReader for form; auto lets it learn.
func NewIDReader(form ReceiptIDForm, auto bool) *IDReader {
	r := &IDReader{auto: auto}
	r.form.Store(int32(form))
	return r
}

// Form returns the form in use.
func (r *IDReader) Form() ReceiptIDForm { return ReceiptIDForm(r.form.Load()) }

// Ref returns how the deliver_sm receipt sm names its message, and, when
// it learnt a new form from this receipt, that form.
func (r *IDReader) Ref(sm *pdu.SM) (ref Ref, learnt ReceiptIDForm, changed bool, err error) {
	var tlvID, textID []byte
	if v, ok := pdu.FindTLV(sm.TLVs, pdu.TagReceiptedMessageID); ok {
		tlvID = cstring(v)
	}
	if text := sm.Text(); text != nil {
		if s, e, ok := TextID(text); ok {
			textID = text[s:e]
		}
	}
	if r.auto && len(tlvID) > 0 && len(textID) > 0 {
		if f, ok := detect(tlvID, textID); ok && f != r.Form() {
			r.form.Store(int32(f))
			learnt, changed = f, true
		}
	}
	switch {
	case len(tlvID) > 0:
		return r.RefTLV(tlvID), learnt, changed, nil
	case len(textID) > 0:
		return r.fromText(textID), learnt, changed, nil
	}
	return Ref{}, learnt, changed, ErrNoID
}

// RefTLV returns how a receipted_message_id TLV value id (without its
// NUL) names its message.
func (r *IDReader) RefTLV(id []byte) Ref {
	ref := Ref{ID: string(id)}
	if r.Form().Folds() {
		ref.Folded = FoldID(ref.ID)
	}
	return ref
}

// fromText reads a text id, turned into the response's base when the
// form says the bases differ and the id reads in the text's base.
func (r *IDReader) fromText(id []byte) Ref {
	form := r.Form()
	ref := Ref{ID: string(id)}
	switch form {
	case FormHexDecimal:
		if n, err := strconv.ParseUint(ref.ID, 10, 64); err == nil {
			ref.ID = strconv.FormatUint(n, 16)
		}
	case FormDecimalHex:
		if n, err := strconv.ParseUint(ref.ID, 16, 64); err == nil {
			ref.ID = strconv.FormatUint(n, 10)
		}
	}
	if form.Folds() {
		ref.Folded = FoldID(ref.ID)
	}
	return ref
}

// TextID locates the value of the "id:" field in a receipt text such as
// "id:1234 sub:001 dlvrd:001 ... stat:DELIVRD". It matches "id:" at the
// start or after a space, in any case, and returns the value's bounds.
func TextID(text []byte) (start, end int, ok bool) {
	for i := 0; i+3 <= len(text); i++ {
		if (i == 0 || text[i-1] == ' ') &&
			(text[i]|0x20) == 'i' && (text[i+1]|0x20) == 'd' && text[i+2] == ':' {
			start = i + 3
			end = start
			for end < len(text) && text[end] != ' ' && text[end] != 0 {
				end++
			}
			return start, end, end > start
		}
	}
	return 0, 0, false
}

// ReceiptID returns the upstream message id a deliver_sm or data_sm
// receipt refers to: the receipted_message_id TLV first, the "id:" of the
// text second.
func ReceiptID(sm *pdu.SM) ([]byte, error) {
	if v, ok := pdu.FindTLV(sm.TLVs, pdu.TagReceiptedMessageID); ok {
		v = cstring(v)
		if len(v) > 0 {
			return v, nil
		}
	}
	if text := sm.Text(); text != nil {
		if s, e, ok := TextID(text); ok {
			return text[s:e], nil
		}
	}
	return nil, ErrNoID
}

// cstring returns v up to its first NUL.
func cstring(v []byte) []byte {
	if i := bytes.IndexByte(v, 0); i >= 0 {
		return v[:i]
	}
	return v
}

// detect finds the form from one receipt's TLV id (response form) and
// text id. Ids written alike say nothing: a form that folds is learnt
// only from a receipt that shows the folding. Nor does one digit, padded
// or not, which reads the same in both bases.
func detect(tlvID, textID []byte) (ReceiptIDForm, bool) {
	if bytes.Equal(tlvID, textID) {
		return 0, false
	}
	t, x := FoldID(string(tlvID)), FoldID(string(textID))
	if t == x {
		if len(t) == 1 && '0' <= t[0] && t[0] <= '9' {
			return 0, false
		}
		return FormSame, true
	}
	if n, err := strconv.ParseUint(t, 16, 64); err == nil {
		if m, err := strconv.ParseUint(x, 10, 64); err == nil && m == n {
			return FormHexDecimal, true
		}
	}
	if n, err := strconv.ParseUint(t, 10, 64); err == nil {
		if m, err := strconv.ParseUint(x, 16, 64); err == nil && m == n {
			return FormDecimalHex, true
		}
	}
	return 0, false
}
