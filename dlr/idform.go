package dlr

import (
	"bytes"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/smppmux/smppmux/internal/pdu"
)

// IDForm says how an upstream writes the message id in the text of its
// receipts compared with its submit_sm_resp (and receipted_message_id,
// which carries the submit_sm_resp form by the SMPP specification).
type IDForm int32

// ID forms.
const (
	// FormSame: the text carries the id in the response's form, up to
	// case and leading zeros.
	FormSame IDForm = iota
	// FormHexDecimal: hexadecimal in the response, decimal in the text.
	FormHexDecimal
	// FormDecimalHex: decimal in the response, hexadecimal in the text.
	FormDecimalHex
)

// ParseIDForm reads an upstream's id_format: "auto" and "same" start as
// FormSame (auto learns), "hex-decimal", "decimal-hex".
func ParseIDForm(s string) (form IDForm, auto bool, err error) {
	switch s {
	case "", "auto":
		return FormSame, true, nil
	case "same":
		return FormSame, false, nil
	case "hex-decimal":
		return FormHexDecimal, false, nil
	case "decimal-hex":
		return FormDecimalHex, false, nil
	}
	return 0, false, fmt.Errorf("unknown id_format %q", s)
}

var idFormNames = [...]string{"same", "hex-decimal", "decimal-hex"}

func (f IDForm) String() string {
	if f >= 0 && int(f) < len(idFormNames) {
		return idFormNames[f]
	}
	return "unknown"
}

// IDReader turns the ids in one upstream's receipts into the canonical key
// its submit_sm_resp ids are stored under. With auto, it starts as
// FormSame and learns the form from receipts that carry the id both in the
// TLV and in the text. Safe for concurrent use.
type IDReader struct {
	form atomic.Int32
	auto bool
}

// NewIDReader returns an IDReader for form; auto lets it learn.
func NewIDReader(form IDForm, auto bool) *IDReader {
	r := &IDReader{auto: auto}
	r.form.Store(int32(form))
	return r
}

// Form returns the form in use.
func (r *IDReader) Form() IDForm { return IDForm(r.form.Load()) }

// Key returns the canonical key of the message a receipt refers to, and,
// when it learnt a new form from this receipt, that form.
func (r *IDReader) Key(sm *pdu.SM) (key string, learnt IDForm, changed bool, err error) {
	var tlvID, textID []byte
	if v, ok := pdu.FindTLV(sm.TLVs, pdu.TagReceiptedMessageID); ok {
		tlvID = bytes.TrimRight(v, "\x00")
	}
	if text := receiptText(sm); text != nil {
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
		return Canonical(tlvID), learnt, changed, nil
	case len(textID) > 0:
		return r.fromText(textID), learnt, changed, nil
	}
	return "", learnt, changed, ErrNoID
}

// fromText converts a text id to the response's form.
func (r *IDReader) fromText(id []byte) string {
	c := Canonical(id)
	switch r.Form() {
	case FormHexDecimal:
		if n, err := strconv.ParseUint(c, 10, 64); err == nil {
			return strconv.FormatUint(n, 16)
		}
	case FormDecimalHex:
		if n, err := strconv.ParseUint(c, 16, 64); err == nil {
			return strconv.FormatUint(n, 10)
		}
	}
	return c
}

// detect finds the form from one receipt's TLV id (response form) and
// text id.
func detect(tlvID, textID []byte) (IDForm, bool) {
	t, x := Canonical(tlvID), Canonical(textID)
	if t == x {
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
