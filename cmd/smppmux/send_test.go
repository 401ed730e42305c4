package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
)

func TestSend(t *testing.T) {
	t.Parallel()
	refuse := func(*smsctest.SubmitRequest) smsctest.Reply { return smsctest.Reply{Status: pdu.StatusInvDstAdr} }
	noReceipt := func(*smsctest.SubmitRequest) smsctest.Reply { return smsctest.Reply{NoReceipt: true} }
	for _, tc := range []struct {
		name    string
		cfg     smsctest.Config
		args    []string
		wantErr string // empty: success
		want    []string
	}{
		{
			name: "delivered",
			args: []string{"-from", "Shop", "-to", "+447700900123", "-text", "hello"},
			want: []string{
				"bound to ", "(bind_transceiver)",
				"submit_sm to 447700900123 (TON 1, NPI 1): 5 octets, data_coding 0x00, registered_delivery 1",
				"submit_sm_resp: 0x00000000 ESME_ROK (OK), message_id 1\n",
				"receipt id:1 stat:DELIVRD err:000\n", `text "id:1 sub:001 dlvrd:001 submit date:`, "text:hello\"",
				"unbound",
			},
		},
		{
			name: "receipt before submit_sm_resp",
			cfg:  smsctest.Config{ReceiptBeforeResp: true},
			args: []string{"-to", "447700900123", "-text", "early"},
			want: []string{"message_id 1\n", "receipt id:1 stat:DELIVRD"},
		},
		{
			name: "not registered",
			cfg:  smsctest.Config{SystemID: "shop", Password: "secret"},
			args: []string{"-to", "447700900123", "-text", "hi", "-registered=false"},
			want: []string{"registered_delivery 0", "message_id 1\n", "unbound"},
		},
		{
			name:    "refused submit",
			cfg:     smsctest.Config{Submit: refuse},
			args:    []string{"-to", "447700900123", "-text", "hi"},
			wantErr: "submit_sm refused: 0x0000000b ESME_RINVDSTADR",
			want:    []string{"submit_sm_resp: 0x0000000b ESME_RINVDSTADR (invalid destination address)"},
		},
		{
			name:    "undelivered",
			cfg:     smsctest.Config{ReceiptStat: "UNDELIV"},
			args:    []string{"-to", "447700900123", "-text", "hi"},
			wantErr: "message_id 1 not delivered: stat:UNDELIV err:000",
			want:    []string{"receipt id:1 stat:UNDELIV"},
		},
		{
			name:    "no receipt",
			cfg:     smsctest.Config{Submit: noReceipt},
			args:    []string{"-to", "447700900123", "-text", "hi", "-wait", "50ms"},
			wantErr: "no receipt for message_id 1 within 50ms",
			want:    []string{"message_id 1\n", "unbound"},
		},
		{
			name:    "wrong password",
			cfg:     smsctest.Config{SystemID: "shop", Password: "right"},
			args:    []string{"-to", "447700900123", "-text", "hi"},
			wantErr: "bind_transceiver as system_id \"shop\" refused: 0x0000000e ESME_RINVPASWD",
		},
		{
			name:    "missing -to",
			args:    []string{"-text", "hi"},
			wantErr: "-to is required",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := smsctest.Start(t, tc.cfg)
			args := append([]string{"send", "-addr", s.Addr(), "-system-id", "shop", "-password", "secret"}, tc.args...)
			var out bytes.Buffer
			err := run(context.Background(), args, &out, &out)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("send: %v\n%s", err, out.String())
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("send: error %v, want one with %q\n%s", err, tc.wantErr, out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			if strings.Contains(out.String(), "secret") || (err != nil && strings.Contains(err.Error(), "secret")) {
				t.Errorf("password printed:\n%s\n%v", out.String(), err)
			}
		})
	}
}

// TestSendUCS2Payload checks the encoding of a long UCS2 text: UTF-16BE,
// data_coding 0x08, in message_payload with an empty short_message.
func TestSendUCS2Payload(t *testing.T) {
	t.Parallel()
	s := smsctest.Start(t, smsctest.Config{})
	text := strings.Repeat("Привет, 世界 🙂 ", 12) // above 254 octets in UTF-16
	var out bytes.Buffer
	err := run(context.Background(), []string{"send", "-addr", s.Addr(), "-system-id", "shop",
		"-to", "447700900123", "-text", text, "-coding", "ucs2"}, &out, &out)
	if err != nil {
		t.Fatalf("send: %v\n%s", err, out.String())
	}
	recs := s.Records()
	if len(recs) != 1 {
		t.Fatalf("%d messages reached the SMSC, want 1", len(recs))
	}
	var sm pdu.SM
	if err := pdu.ParseSM(recs[0].Body, &sm); err != nil {
		t.Fatal(err)
	}
	payload, ok := pdu.FindTLV(sm.TLVs, pdu.TagMessagePayload)
	if sm.DataCoding != 0x08 || len(sm.ShortMessage) != 0 || !ok {
		t.Fatalf("data_coding 0x%02x, short_message %d octets, message_payload %v; want 0x08, 0, present",
			sm.DataCoding, len(sm.ShortMessage), ok)
	}
	if len(payload)%2 != 0 {
		t.Fatalf("message_payload of %d octets is not UTF-16", len(payload))
	}
	u := make([]uint16, len(payload)/2)
	for i := range u {
		u[i] = uint16(payload[2*i])<<8 | uint16(payload[2*i+1])
	}
	if got := string(utf16.Decode(u)); got != text {
		t.Fatalf("message_payload decodes to %q, want %q", got, text)
	}
	if !strings.Contains(out.String(), "receipt id:1 stat:DELIVRD") {
		t.Fatalf("no receipt in output:\n%s", out.String())
	}
}

func TestSendFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"-to", "1", "-text", "x"}, "-system-id is required"},
		{[]string{"-system-id", "shop", "-to", "1"}, "-text is required"},
		{[]string{"-system-id", "shop", "-to", "1", "-text", "x", "-coding", "latin1"}, `-coding "latin1" is neither gsm nor ucs2`},
		{[]string{"-system-id", "shop", "-to", "1", "-text", "x", "-bind", "rx"}, `-bind "rx" is neither trx nor tx`},
		{[]string{"-system-id", "shop", "-password", "toolongpw", "-to", "1", "-text", "x"}, "password is at most 8 characters"},
		{[]string{"-system-id", "shop", "-to", "123456789012345678901", "-text", "x"}, "destination_addr is at most 20"},
		{[]string{"-system-id", "shop", "-to", "1", "-text", strings.Repeat("x", 70000)}, "above the 65536"},
	} {
		var out bytes.Buffer
		err := run(context.Background(), append([]string{"send", "-addr", "127.0.0.1:1"}, tc.args...), &out, &out)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%q: error %v, want one with %q", tc.args, err, tc.wantErr)
			continue
		}
		if strings.Contains(out.String()+err.Error(), "toolongpw") {
			t.Errorf("%q: password printed", tc.args)
		}
	}
}

// TestCredentialFlags: bench, idle and send refuse a system_id or password
// longer than a bind carries, before connecting, and never print the
// password.
func TestCredentialFlags(t *testing.T) {
	t.Parallel()
	for _, cmd := range [][]string{
		{"bench"},
		{"idle"},
		{"send", "-to", "1", "-text", "x"},
	} {
		for _, tc := range []struct {
			args    []string
			wantErr string
		}{
			{[]string{"-system-id", "sixteen-chars-id", "-password", "pw"}, "system_id is at most 15 characters"},
			{[]string{"-system-id", "shop", "-password", "toolongpw"}, "password is at most 8 characters"},
		} {
			args := append(append(append([]string{}, cmd...), "-addr", "127.0.0.1:1"), tc.args...)
			var out bytes.Buffer
			err := run(context.Background(), args, &out, &out)
			if err == nil || !strings.Contains(err.Error(), cmd[0]+": ") || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: error %v, want %q from %s", args, err, tc.wantErr, cmd[0])
				continue
			}
			if strings.Contains(out.String()+err.Error(), "toolongpw") {
				t.Errorf("%q: password printed", args)
			}
		}
	}
}
