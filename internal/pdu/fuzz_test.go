package pdu

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzReader feeds arbitrary streams to the frame reader and the field
// decoders: they must never panic, never return a frame longer than the
// maximum, and every frame must re-frame to itself.
func FuzzReader(f *testing.F) {
	f.Add(Empty(EnquireLink, 0, 1))
	f.Add(Request(SubmitSM, 2, AppendSM(nil, &SM{SourceAddr: []byte("a"), DestAddr: []byte("1"), ShortMessage: []byte("hi")})))
	f.Add(Bind(BindTransceiver, 3, BindFields{SystemID: "x", Password: "y"}))
	f.Add(AppendHeader(nil, SubmitSM, 0, 1, 1<<20))
	f.Fuzz(func(t *testing.T, stream []byte) {
		const max = 4096
		r := NewReader(bytes.NewReader(stream), max)
		for {
			fr, err := r.Read()
			if err != nil {
				var le *LengthError
				if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.As(err, &le) {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if len(fr.Raw) > max || len(fr.Raw) < HeaderLen || int(fr.Len) != len(fr.Raw) {
				t.Fatalf("frame of %d octets, command_length %d", len(fr.Raw), fr.Len)
			}
			var sm SM
			if ParseSM(fr.Body(), &sm) == nil {
				if !bytes.Equal(AppendSM(nil, &sm), fr.Body()) {
					t.Fatalf("parsed submit_sm does not re-encode to itself")
				}
			}
			var dsm SM
			if ParseDataSM(fr.Body(), &dsm) == nil {
				if !bytes.Equal(AppendSM(nil, &dsm), fr.Body()) {
					t.Fatalf("parsed data_sm does not re-encode to itself")
				}
			}
			_, _ = ParseBind(fr.Body())
			_, _ = ParseMessageIDResp(fr.Body())
		}
	})
}

// FuzzParseBodies feeds arbitrary bodies to the field decoders of
// submit_sm/deliver_sm, data_sm and bind: they never panic, a decoded
// submit_sm or data_sm re-encodes to itself, and every error carries a
// status.
func FuzzParseBodies(f *testing.F) {
	f.Add(AppendSM(nil, &SM{SourceAddr: []byte("Shop"), DestAddr: []byte("447700900001"), ShortMessage: []byte("hi"),
		TLVs: AppendTLV(nil, TagMessagePayload, []byte("long"))}))
	f.Add([]byte("CMT\x00\x05\x00Shop"))
	f.Add(AppendSM(nil, &SM{DataSM: true, SourceAddr: []byte("Shop"), DestAddr: []byte("447700900001"), ESMClass: 4,
		TLVs: AppendTLV(nil, TagReceiptedMessageID, []byte("ab1\x00"))}))
	f.Add(Bind(BindTransceiver, 1, BindFields{SystemID: "shop", Password: "secret"})[HeaderLen:])
	parsers := []struct {
		name  string
		parse func([]byte, *SM) error
	}{{"submit_sm", ParseSM}, {"data_sm", ParseDataSM}}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, p := range parsers {
			var sm SM
			if err := p.parse(body, &sm); err == nil {
				if !bytes.Equal(AppendSM(nil, &sm), body) {
					t.Fatalf("decoded %s does not re-encode to itself", p.name)
				}
			} else if fe := new(FieldError); !errors.As(err, &fe) || fe.Status == StatusOK {
				t.Fatalf("%s error without a status: %v", p.name, err)
			}
		}
		if _, err := ParseBind(body); err != nil {
			if fe := new(FieldError); !errors.As(err, &fe) || fe.Status == StatusOK {
				t.Fatalf("bind error without a status: %v", err)
			}
		}
	})
}
