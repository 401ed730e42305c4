package pdu

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
	"testing/iotest"
)

func TestReaderFrames(t *testing.T) {
	t.Parallel()
	var stream []byte
	stream = append(stream, Empty(EnquireLink, StatusOK, 7)...)
	stream = append(stream, MessageIDResp(SubmitSMResp, StatusOK, 8, "abc")...)
	r := NewReader(bytes.NewReader(stream), 0)
	f, err := r.Read()
	if err != nil || f.ID != EnquireLink || f.Seq != 7 || len(f.Body()) != 0 {
		t.Fatalf("first frame = %+v, %v", f.Header, err)
	}
	f, err = r.Read()
	if err != nil || f.ID != SubmitSMResp || f.Seq != 8 || string(f.Body()) != "abc\x00" {
		t.Fatalf("second frame = %+v %q, %v", f.Header, f.Body(), err)
	}
	if _, err := r.Read(); err != io.EOF {
		t.Fatalf("after last frame: %v, want io.EOF", err)
	}
}

// TestReaderChunks: however the stream is cut into reads, the frames
// come out whole and in order, large ones too, and a reader that found
// the stream drained holds no pooled buffer.
func TestReaderChunks(t *testing.T) {
	t.Parallel()
	var stream []byte
	var want [][]byte
	for i, n := range []int{0, 3, 200, 4000, 4080, 5000, 9000, 17, 0} {
		f := Request(SubmitSM, uint32(i+1), bytes.Repeat([]byte{byte(i)}, n))
		stream = append(stream, f...)
		want = append(want, f)
	}
	chunkers := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"halves":   iotest.HalfReader,
		"data+EOF": iotest.DataErrReader,
	}
	for name, chunk := range chunkers {
		t.Run(name, func(t *testing.T) {
			r := NewReader(chunk(bytes.NewReader(stream)), 0)
			for i, w := range want {
				f, err := r.Read()
				if err != nil || !bytes.Equal(f.Raw, w) {
					t.Fatalf("frame %d: %d octets, %v; want %d octets", i, len(f.Raw), err, len(w))
				}
			}
			if _, err := r.Read(); err != io.EOF {
				t.Fatalf("after the last frame: %v, want io.EOF", err)
			}
			if r.cur != nil || r.Buffered() != 0 {
				t.Fatalf("a drained reader holds a buffer (%d octets buffered)", r.Buffered())
			}
		})
		t.Run(name+" cut", func(t *testing.T) {
			// Cut inside every frame and header: the frames before the cut
			// come out, then io.ErrUnexpectedEOF.
			for cut := 1; cut < len(stream); cut += 997 {
				r := NewReader(chunk(bytes.NewReader(stream[:cut])), 0)
				var err error
				for err == nil {
					_, err = r.Read()
				}
				whole := 0
				for _, w := range want {
					if whole+len(w) > cut {
						break
					}
					whole += len(w)
				}
				wantErr := io.ErrUnexpectedEOF
				if whole == cut {
					wantErr = io.EOF
				}
				if err != wantErr {
					t.Fatalf("cut at %d: %v, want %v", cut, err, wantErr)
				}
			}
		})
	}
}

// deadlineReader fails every other read with a missed deadline, as a
// connection whose read deadline passes does, and reads with r between.
type deadlineReader struct {
	r    io.Reader
	miss bool
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	d.miss = !d.miss
	if d.miss {
		return 0, os.ErrDeadlineExceeded
	}
	return d.r.Read(p)
}

// TestReaderDeadline: a read deadline that passes mid-header or mid-body
// loses nothing: the next Read goes on with the frame it cut, and Idle
// says whether a frame is under way.
func TestReaderDeadline(t *testing.T) {
	t.Parallel()
	var stream []byte
	var want [][]byte
	for i, n := range []int{0, 3, 200, 4000, 5000, 9000, readBufLen + 3000, 2 * readBufLen, 17} {
		f := Request(SubmitSM, uint32(i+1), bytes.Repeat([]byte{byte(i)}, n))
		stream = append(stream, f...)
		want = append(want, f)
	}
	for name, chunk := range map[string]func(io.Reader) io.Reader{
		"one byte": iotest.OneByteReader,
		"halves":   iotest.HalfReader,
	} {
		t.Run(name, func(t *testing.T) {
			r := NewReader(&deadlineReader{r: chunk(bytes.NewReader(stream))}, 0)
			if !r.Idle() {
				t.Fatal("a new reader is not idle")
			}
			misses := 0
			for i, w := range want {
				var f Frame
				var err error
				for {
					f, err = r.Read()
					if !errors.Is(err, os.ErrDeadlineExceeded) {
						break
					}
					misses++
				}
				if err != nil || !bytes.Equal(f.Raw, w) {
					t.Fatalf("frame %d: %d octets, %v; want %d octets", i, len(f.Raw), err, len(w))
				}
			}
			if misses < len(want) {
				t.Fatalf("only %d missed deadlines", misses)
			}
			for {
				_, err := r.Read()
				if errors.Is(err, os.ErrDeadlineExceeded) {
					continue
				}
				if err != io.EOF {
					t.Fatalf("after the last frame: %v, want io.EOF", err)
				}
				break
			}
		})
	}
	t.Run("idle", func(t *testing.T) {
		f := Request(SubmitSM, 1, []byte("body"))
		r := NewReader(&deadlineReader{r: iotest.OneByteReader(bytes.NewReader(f))}, 0)
		if _, err := r.Read(); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("first read: %v, want a missed deadline", err)
		}
		if !r.Idle() {
			t.Fatal("not idle after a deadline before the first octet")
		}
		if _, err := r.Read(); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("second read: %v, want a missed deadline", err)
		}
		if r.Idle() {
			t.Fatal("idle with one octet of a header read")
		}
	})
}

func TestReaderLengths(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"below header", AppendHeader(nil, EnquireLink, 0, 1, -1), ErrLength},
		{"zero", make([]byte, 16), ErrLength},
		{"above max", AppendHeader(nil, SubmitSM, 0, 1, 70000), ErrLength},
		{"truncated body", append(AppendHeader(nil, SubmitSM, 0, 1, 10), 1, 2, 3), io.ErrUnexpectedEOF},
		{"truncated header", []byte{0, 0, 0}, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewReader(bytes.NewReader(tt.in), 0).Read()
			if !errors.Is(err, tt.want) {
				t.Fatalf("Read() error = %v, want %v", err, tt.want)
			}
		})
	}
	var le *LengthError
	_, err := NewReader(bytes.NewReader(AppendHeader(nil, SubmitSM, 0, 99, 70000)), 0).Read()
	if !errors.As(err, &le) || le.Header.Seq != 99 {
		t.Fatalf("LengthError does not carry the sequence: %v", err)
	}
}

func TestNextSeqWraps(t *testing.T) {
	t.Parallel()
	for in, want := range map[uint32]uint32{0: 1, 1: 2, MaxSeq - 1: MaxSeq, MaxSeq: 1, 0xFFFFFFFF: 1} {
		if got := NextSeq(in); got != want {
			t.Errorf("NextSeq(%#x) = %#x, want %#x", in, got, want)
		}
	}
}

func TestParseSMRoundTrip(t *testing.T) {
	t.Parallel()
	tlvs := AppendTLV(AppendTLV(nil, 0x1401, []byte("x")), 0x1401, []byte("yy"))
	in := SM{
		ServiceType: []byte("CMT"), SourceTON: 5, SourceAddr: []byte("Shop"),
		DestTON: 1, DestNPI: 1, DestAddr: []byte("447700900001"), ESMClass: EsmUDHI,
		RegisteredDelivery: 1, DataCoding: 8, ShortMessage: []byte{5, 0, 3, 9, 2, 1, 0, 'h'},
		TLVs: tlvs,
	}
	body := AppendSM(nil, &in)
	var out SM
	if err := ParseSM(body, &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(AppendSM(nil, &out), body) {
		t.Fatalf("re-encoded body differs")
	}
	if string(out.DestAddr) != "447700900001" || out.DataCoding != 8 || !bytes.Equal(out.TLVs, tlvs) {
		t.Fatalf("decoded %+v", out)
	}
	if body[out.SMLengthOffset] != byte(len(in.ShortMessage)) {
		t.Fatalf("SMLengthOffset %d does not point at sm_length", out.SMLengthOffset)
	}
}

func TestParseSMErrors(t *testing.T) {
	t.Parallel()
	good := AppendSM(nil, &SM{SourceAddr: []byte("1"), DestAddr: []byte("2"), ShortMessage: []byte("hi")})
	long := AppendSM(nil, &SM{SourceAddr: []byte("1"), DestAddr: bytes.Repeat([]byte("9"), 21)})
	tests := []struct {
		name string
		body []byte
		want Status
	}{
		{"empty", nil, StatusInvMsgLen},
		{"truncated in short_message", good[:len(good)-1], StatusInvMsgLen},
		{"no NUL", []byte("CMT"), StatusInvMsgLen},
		{"destination too long", long, StatusInvDstAdr},
		{"service_type too long", append([]byte("CMTCMTCMT"), good[1:]...), StatusInvSerTyp},
		{"bad TLV length", append(append([]byte{}, good...), 0x14, 0x01, 0, 9, 1), StatusInvParLen},
		{"truncated TLV header", append(append([]byte{}, good...), 0x14), StatusInvOptParStream},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sm SM
			err := ParseSM(tt.body, &sm)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Status != tt.want {
				t.Fatalf("ParseSM() = %v, want status %#x", err, tt.want)
			}
		})
	}
}

func TestParseBind(t *testing.T) {
	t.Parallel()
	raw := Bind(BindTransceiver, 1, BindFields{SystemID: "shop", Password: "secret", Version: InterfaceVersion})
	b, err := ParseBind(raw[HeaderLen:])
	if err != nil || string(b.SystemID) != "shop" || string(b.Password) != "secret" || b.Version != 0x34 {
		t.Fatalf("ParseBind = %+v, %v", b, err)
	}
	raw = Bind(BindTransceiver, 1, BindFields{SystemID: "shop", Password: "123456789"})
	_, err = ParseBind(raw[HeaderLen:])
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Status != StatusInvPaswd {
		t.Fatalf("9-octet password: %v, want ESME_RINVPASWD", err)
	}
}

func TestResponsesHaveNoBodyOnError(t *testing.T) {
	t.Parallel()
	if b := MessageIDResp(SubmitSMResp, StatusThrottled, 3, "abc"); len(b) != HeaderLen {
		t.Fatalf("error submit_sm_resp has %d octets", len(b))
	}
	if b := BindResp(BindTransmitter, StatusInvPaswd, 3, "smppmux"); len(b) != HeaderLen || ParseHeader(b).ID != BindTransmitterResp {
		t.Fatalf("error bind_resp = %x", b)
	}
	b := BindResp(BindTransmitter, StatusOK, 3, "smppmux")
	if v, ok := FindTLV(b[HeaderLen+8:], TagSCInterfaceVersion); !ok || v[0] != InterfaceVersion {
		t.Fatalf("bind_resp lacks sc_interface_version: %x", b)
	}
}

func TestRewriteSMKeepsEverythingElse(t *testing.T) {
	t.Parallel()
	tlvs := AppendTLV(AppendTLV(AppendTLV(nil, 0x0427, []byte{2}), TagReceiptedMessageID, []byte("ab\x00")), 0x1500, []byte("z"))
	raw := Request(DeliverSM, 5, AppendSM(nil, &SM{SourceAddr: []byte("44"), DestAddr: []byte("1"), ESMClass: 4, ShortMessage: []byte("id:ab stat:DELIVRD"), TLVs: tlvs}))
	var sm SM
	if err := ParseSM(raw[HeaderLen:], &sm); err != nil {
		t.Fatal(err)
	}
	out := RewriteSM(raw, &sm, 77, []byte("id:0123 stat:DELIVRD"), ReplaceTLV(sm.TLVs, TagReceiptedMessageID, []byte("0123\x00")))
	f, err := NewReader(bytes.NewReader(out), 0).Read()
	if err != nil || f.Seq != 77 || f.ID != DeliverSM {
		t.Fatalf("rewritten frame %+v, %v", f.Header, err)
	}
	var got SM
	if err := ParseSM(f.Body(), &got); err != nil {
		t.Fatal(err)
	}
	want := AppendTLV(AppendTLV(AppendTLV(nil, 0x0427, []byte{2}), TagReceiptedMessageID, []byte("0123\x00")), 0x1500, []byte("z"))
	if string(got.ShortMessage) != "id:0123 stat:DELIVRD" || !bytes.Equal(got.TLVs, want) || got.ESMClass != 4 {
		t.Fatalf("rewritten deliver_sm = %+v", got)
	}
}

func TestStatusNames(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"ESME_RTHROTTLED", "esme_rthrottled", "0x58", "88", " 0x00000058 "} {
		if st, ok := ParseStatus(s); !ok || st != StatusThrottled {
			t.Errorf("ParseStatus(%q) = %#x, %v", s, st, ok)
		}
	}
	if _, ok := ParseStatus("ESME_NOPE"); ok {
		t.Error("unknown name parsed")
	}
	if name, ok := StatusName(StatusInvDstAdr); !ok || name != "ESME_RINVDSTADR" {
		t.Errorf("StatusName(0x0b) = %q, %v", name, ok)
	}
}

func TestStatusText(t *testing.T) {
	t.Parallel()
	for st, want := range map[Status]string{
		StatusOK:        "0x00000000 (ESME_ROK)",
		StatusThrottled: "0x00000058 (ESME_RTHROTTLED)",
		StatusInvPaswd:  "0x0000000e (ESME_RINVPASWD)",
		0x400:           "0x00000400 (unknown)",
	} {
		if got := StatusText(st); got != want {
			t.Errorf("StatusText(%#x) = %q, want %q", uint32(st), got, want)
		}
		if got := LogStatus(st).String(); got != want {
			t.Errorf("LogStatus(%#x) = %q, want %q", uint32(st), got, want)
		}
	}
}

func TestParseDataSM(t *testing.T) {
	t.Parallel()
	tlvs := AppendTLV(AppendTLV(nil, TagReceiptedMessageID, []byte("ab\x00")), TagMessagePayload, []byte("id:ab stat:DELIVRD"))
	in := SM{DataSM: true, ServiceType: []byte("CMT"), SourceTON: 1, SourceAddr: []byte("447700900001"),
		DestAddr: []byte("Shop"), ESMClass: 4, RegisteredDelivery: 1, DataCoding: 8, TLVs: tlvs}
	body := AppendSM(nil, &in)
	// A data_sm parsed into an SM that held a submit_sm keeps nothing of it.
	out := SM{ProtocolID: 9, Validity: []byte("x"), ShortMessage: []byte("old"), SMLengthOffset: 40}
	if err := ParseMessage(DataSM, body, &out); err != nil {
		t.Fatal(err)
	}
	if !out.DataSM || string(out.DestAddr) != "Shop" || out.ESMClass != 4 || out.DataCoding != 8 || !bytes.Equal(out.TLVs, tlvs) ||
		out.ProtocolID != 0 || out.Validity != nil || out.ShortMessage != nil || out.SMLengthOffset != 0 {
		t.Fatalf("decoded %+v", out)
	}
	if string(out.Text()) != "id:ab stat:DELIVRD" {
		t.Fatalf("Text() = %q, want the message_payload", out.Text())
	}
	if err := ParseMessage(SubmitSM, AppendSM(nil, &SM{DestAddr: []byte("1"), ShortMessage: []byte("hi")}), &out); err != nil || out.DataSM || string(out.Text()) != "hi" {
		t.Fatalf("submit_sm after data_sm: %+v, %v", out, err)
	}
	var fe *FieldError
	if err := ParseMessage(QuerySM, body, &out); !errors.As(err, &fe) || fe.Status != StatusInvCmdID {
		t.Fatalf("ParseMessage(query_sm) = %v", err)
	}
}

func TestRewriteSMDataSM(t *testing.T) {
	t.Parallel()
	tlvs := AppendTLV(AppendTLV(nil, TagMessageState, []byte{2}), TagReceiptedMessageID, []byte("ab\x00"))
	head := AppendSM(nil, &SM{DataSM: true, SourceAddr: []byte("44"), DestAddr: []byte("1"), ESMClass: 4})
	raw := Request(DataSM, 5, append(head, tlvs...))
	var sm SM
	if err := ParseDataSM(raw[HeaderLen:], &sm); err != nil {
		t.Fatal(err)
	}
	newTLVs := ReplaceTLV(sm.TLVs, TagReceiptedMessageID, []byte("0123\x00"))
	out := RewriteSM(raw, &sm, 77, []byte("ignored"), newTLVs)
	f, err := NewReader(bytes.NewReader(out), 0).Read()
	if err != nil || f.Seq != 77 || f.ID != DataSM {
		t.Fatalf("rewritten frame %+v, %v", f.Header, err)
	}
	if want := append(append([]byte{}, head...), newTLVs...); !bytes.Equal(f.Body(), want) {
		t.Fatalf("rewritten data_sm body %x, want %x", f.Body(), want)
	}
}

func TestRewriteSMCutsLongText(t *testing.T) {
	t.Parallel()
	raw := Request(DeliverSM, 5, AppendSM(nil, &SM{DestAddr: []byte("1"), ShortMessage: []byte("id:ab")}))
	var sm SM
	if err := ParseSM(raw[HeaderLen:], &sm); err != nil {
		t.Fatal(err)
	}
	out := RewriteSM(raw, &sm, 1, bytes.Repeat([]byte("x"), 300), nil)
	var got SM
	if err := ParseSM(out[HeaderLen:], &got); err != nil || len(got.ShortMessage) != 254 {
		t.Fatalf("300-octet text rewritten as %d octets, %v", len(got.ShortMessage), err)
	}
}

func TestSplice(t *testing.T) {
	t.Parallel()
	b := []byte("id:ab stat:DELIVRD")
	if got := Splice(b, 3, 5, "0123", "-x"); string(got) != "id:0123-x stat:DELIVRD" {
		t.Fatalf("Splice = %q", got)
	}
	if string(b) != "id:ab stat:DELIVRD" {
		t.Fatalf("Splice changed its input: %q", b)
	}
	if got := Splice[string](b, 0, len(b)); len(got) != 0 {
		t.Fatalf("Splice of everything by nothing = %q", got)
	}
}
