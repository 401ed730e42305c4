package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
)

const (
	// sendBindTimeout bounds the connect and the bind.
	sendBindTimeout = 10 * time.Second
	// sendRespTimeout bounds the wait for submit_sm_resp; smppmux answers
	// within its server.submit_timeout (30s by default) before that.
	sendRespTimeout = 60 * time.Second
	// sendUnbindTimeout bounds the unbind at the end.
	sendUnbindTimeout = 5 * time.Second
	// sendPasswordEnv is read when -password is not given.
	sendPasswordEnv = "SMPPMUX_PASSWORD"

	maxShortMessage = 254 // longer text travels in message_payload
	maxSystemID     = 15
	maxPassword     = 8
	maxAddrLen      = 20

	codingDefault = 0x00 // the SMSC's default alphabet
	codingUCS2    = 0x08 // UCS2, sent as UTF-16BE
)

const sendUsage = `usage: smppmux send -system-id ID -to NUMBER -text TEXT [flags]

Binds as an ESME (to smppmux or straight to an SMSC), submits one
submit_sm, prints the submit_sm_resp, then, with -registered, waits for
the delivery receipt of that message_id, prints it and unbinds.

It exits non-zero when the bind is refused, the submit_sm_resp carries an
error status, no receipt arrives within -wait, or the receipt's stat is not
DELIVRD.

-coding gsm sends the octets of -text as they are, with data_coding 0: the
SMSC reads them in its default alphabet (GSM 03.38 for most), which agrees
with ASCII for letters, digits, space and common punctuation only. Text
with other characters needs -coding ucs2 (UTF-16BE, data_coding 0x08, 2 or
4 octets a character).
Text longer than 254 octets goes in the message_payload TLV with an empty
short_message.

The password is never printed; give it in $SMPPMUX_PASSWORD rather than
-password to keep it out of the process list.

flags:
`

// sendOptions is a parsed smppmux send command line.
type sendOptions struct {
	addr, systemID, password string
	bind                     pdu.ID
	from, to                 string
	data                     []byte // the text, encoded
	coding                   byte
	registered               bool
	wait                     time.Duration
}

// send binds as an ESME, submits one message and waits for its receipt.
func send(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseSend(args, stdout, stderr)
	if err != nil {
		return err
	}
	body, err := submitBody(o)
	if err != nil {
		return err
	}

	dctx, cancel := context.WithTimeout(ctx, sendBindTimeout)
	c, err := esmetest.Dial(dctx, esmetest.Config{
		Addr: o.addr, SystemID: o.systemID, Password: o.password, Bind: o.bind, Window: 1,
	})
	cancel()
	if err != nil {
		var be *esmetest.BindError
		if errors.As(err, &be) {
			return fmt.Errorf("%s as system_id %q refused: %s", pdu.IDName(o.bind), o.systemID, statusText(be.Status))
		}
		return fmt.Errorf("bind to %s: %w", o.addr, err)
	}
	fmt.Fprintf(stdout, "bound to %s as system_id %s (%s)\n", o.addr, o.systemID, pdu.IDName(o.bind))
	defer func() {
		uctx, cancel := context.WithTimeout(context.Background(), sendUnbindTimeout)
		defer cancel()
		if err := c.Unbind(uctx); err != nil {
			fmt.Fprintf(stdout, "unbind: %v\n", err)
			return
		}
		fmt.Fprintln(stdout, "unbound")
	}()

	var rd byte
	if o.registered {
		rd = 1
	}
	ton, npi, dst := address(o.to)
	fmt.Fprintf(stdout, "submit_sm to %s (TON %d, NPI %d): %d octets, data_coding 0x%02x, registered_delivery %d\n",
		dst, ton, npi, len(o.data), o.coding, rd)
	sctx, cancel := context.WithTimeout(ctx, sendRespTimeout)
	resp, err := c.Submit(sctx, body)
	cancel()
	if err != nil {
		return fmt.Errorf("no submit_sm_resp: %w", err)
	}
	if resp.Frame.ID == pdu.GenericNack {
		fmt.Fprintf(stdout, "generic_nack: %s\n", statusText(resp.Status))
		return fmt.Errorf("submit_sm refused with generic_nack %s", statusText(resp.Status))
	}
	if resp.Status != pdu.StatusOK {
		fmt.Fprintf(stdout, "submit_sm_resp: %s\n", statusText(resp.Status))
		return fmt.Errorf("submit_sm refused: %s", statusText(resp.Status))
	}
	fmt.Fprintf(stdout, "submit_sm_resp: %s, message_id %s\n", statusText(resp.Status), resp.MessageID)

	switch {
	case !o.registered:
		return nil
	case o.bind == pdu.BindTransmitter:
		fmt.Fprintf(stdout, "receipt not waited for: with -bind tx it goes to a receiver or transceiver of system_id %s\n", o.systemID)
		return nil
	}
	return waitReceipt(ctx, c, resp.MessageID, o.wait, stdout)
}

// parseSend reads and checks the command line; usage and flag errors go
// to stderr.
func parseSend(args []string, stdout, stderr io.Writer) (*sendOptions, error) {
	fs := newFlagSet("smppmux send", sendUsage)
	addr := fs.String("addr", "127.0.0.1:2775", "SMPP `host:port` to bind to: smppmux or an SMSC")
	systemID := fs.String("system-id", "", "system_id to bind with (required)")
	password := fs.String("password", "", "bind password (default $"+sendPasswordEnv+")")
	bind := fs.String("bind", "trx", "trx (bind_transceiver: the receipt comes back on this bind) or tx (bind_transmitter: the receipt is not waited for)")
	from := fs.String("from", "", "source_addr: digits (TON/NPI 1/1, a leading + dropped) or an alphanumeric sender (5/0); empty leaves it to the SMSC")
	to := fs.String("to", "", "destination_addr, digits with an optional leading + (required)")
	text := fs.String("text", "", "message text (required)")
	coding := fs.String("coding", "gsm", "gsm (text as-is, data_coding 0: the SMSC's default alphabet, plain ASCII only) or ucs2 (UTF-16BE, data_coding 0x08: any text)")
	registered := fs.Bool("registered", true, "ask for a delivery receipt and wait for it")
	wait := fs.Duration("wait", 30*time.Second, "how long to wait for the receipt after submit_sm_resp")
	if err := parseArgs(fs, args, 0, stdout, stderr); err != nil {
		return nil, err
	}
	o := &sendOptions{
		addr: *addr, systemID: *systemID, password: *password,
		from: *from, to: *to, registered: *registered, wait: *wait,
	}
	if o.password == "" {
		o.password = os.Getenv(sendPasswordEnv)
	}
	if err := checkCredentials("send", o.systemID, o.password); err != nil {
		return nil, err
	}
	switch {
	case o.systemID == "":
		return nil, errors.New("send: -system-id is required")
	case o.to == "":
		return nil, errors.New("send: -to is required")
	case len(strings.TrimPrefix(o.to, "+")) > maxAddrLen:
		return nil, fmt.Errorf("send: -to: destination_addr is at most %d characters", maxAddrLen)
	case len(strings.TrimPrefix(o.from, "+")) > maxAddrLen:
		return nil, fmt.Errorf("send: -from: source_addr is at most %d characters", maxAddrLen)
	case *text == "":
		return nil, errors.New("send: -text is required")
	case o.wait <= 0:
		return nil, errors.New("send: -wait must be positive")
	}
	switch *bind {
	case "trx":
		o.bind = pdu.BindTransceiver
	case "tx":
		o.bind = pdu.BindTransmitter
	default:
		return nil, fmt.Errorf("send: -bind %q is neither trx nor tx", *bind)
	}
	switch *coding {
	case "gsm":
		o.coding = codingDefault
		o.data = []byte(*text)
		if !isASCII(*text) {
			fmt.Fprintln(stderr, "smppmux send: warning: -text has characters outside ASCII; with -coding gsm the SMSC reads its octets in its default alphabet; use -coding ucs2")
		}
	case "ucs2":
		if !utf8.ValidString(*text) {
			return nil, errors.New("send: -text is not valid UTF-8")
		}
		o.coding = codingUCS2
		o.data = utf16BE(*text)
	default:
		return nil, fmt.Errorf("send: -coding %q is neither gsm nor ucs2", *coding)
	}
	return o, nil
}

// submitBody builds the submit_sm body of o: short_message up to 254
// octets, message_payload beyond.
func submitBody(o *sendOptions) ([]byte, error) {
	sm := pdu.SM{DataCoding: o.coding, ShortMessage: o.data}
	sm.SourceTON, sm.SourceNPI, sm.SourceAddr = address(o.from)
	sm.DestTON, sm.DestNPI, sm.DestAddr = address(o.to)
	if o.registered {
		sm.RegisteredDelivery = 1
	}
	if len(o.data) > maxShortMessage {
		sm.ShortMessage = nil
		sm.TLVs = pdu.AppendTLV(make([]byte, 0, 4+len(o.data)), pdu.TagMessagePayload, o.data)
	}
	body := pdu.AppendSM(make([]byte, 0, 64+len(o.data)), &sm)
	if n := pdu.HeaderLen + len(body); n > pdu.DefaultMaxLen {
		return nil, fmt.Errorf("send: -text is %d octets encoded; the submit_sm would be %d octets, above the %d an SMPP peer takes",
			len(o.data), n, pdu.DefaultMaxLen)
	}
	return body, nil
}

// address returns the TON, NPI and octets of a source or destination:
// digits (a leading + dropped) are international 1/1, anything else is
// alphanumeric 5/0, empty is unknown 0/0.
func address(s string) (ton, npi byte, addr []byte) {
	if s == "" {
		return 0, 0, nil
	}
	if d := strings.TrimPrefix(s, "+"); d != "" && isDigits(d) {
		return 1, 1, []byte(d)
	}
	return 5, 0, []byte(s)
}

// waitReceipt waits up to wait for the final receipt of message id and
// prints it; other deliveries are acknowledged and noted.
func waitReceipt(ctx context.Context, c *esmetest.Client, id string, wait time.Duration, stdout io.Writer) error {
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case d, ok := <-c.Deliveries():
			if !ok {
				return fmt.Errorf("connection ended before the receipt for message_id %s: %w", id, c.Err())
			}
			if !pdu.IsReceipt(d.SM.ESMClass) || !sameID(d.ReceiptID, id) {
				fmt.Fprintf(stdout, "ignored %s: %s\n", pdu.IDName(d.Frame.ID), describeOther(d))
				continue
			}
			r := parseReceipt(&d.SM)
			fmt.Fprintf(stdout, "receipt id:%s stat:%s err:%s\n", d.ReceiptID, r.stat, r.err)
			fmt.Fprintf(stdout, "  text %q\n", r.text)
			switch r.stat {
			case "DELIVRD":
				return nil
			case "ENROUTE":
				continue // not final: wait for the next one
			}
			return fmt.Errorf("message_id %s not delivered: stat:%s err:%s", id, r.stat, r.err)
		case <-t.C:
			return fmt.Errorf("no receipt for message_id %s within %s", id, wait)
		case <-ctx.Done():
			return fmt.Errorf("stopped while waiting for the receipt for message_id %s: %w", id, ctx.Err())
		}
	}
}

func describeOther(d esmetest.Delivery) string {
	if pdu.IsReceipt(d.SM.ESMClass) {
		return fmt.Sprintf("receipt for another message_id %q", d.ReceiptID)
	}
	return fmt.Sprintf("message from %q, not a receipt", d.SM.SourceAddr)
}

// sameID reports whether two message ids are the same, in any case and
// with any leading zeros.
func sameID(a, b string) bool {
	return a != "" && strings.EqualFold(strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0"))
}

// receipt is what a delivery receipt says.
type receipt struct {
	stat, err string
	text      []byte // the whole receipt text
}

// parseReceipt reads stat: and err: from the receipt text (short_message,
// else message_payload), up to its free-form text: field; without stat:,
// the message_state TLV gives it.
func parseReceipt(sm *pdu.SM) receipt {
	r := receipt{text: sm.ShortMessage}
	if len(r.text) == 0 {
		if v, ok := pdu.FindTLV(sm.TLVs, pdu.TagMessagePayload); ok {
			r.text = v
		}
	}
	for f := range bytes.FieldsSeq(r.text) {
		k, v, ok := bytes.Cut(f, []byte(":"))
		if !ok {
			continue
		}
		switch strings.ToLower(string(k)) {
		case "stat":
			r.stat = strings.ToUpper(string(v))
		case "err":
			r.err = string(v)
		}
		if bytes.EqualFold(k, []byte("text")) {
			break
		}
	}
	if r.stat == "" {
		if v, ok := pdu.FindTLV(sm.TLVs, pdu.TagMessageState); ok && len(v) == 1 {
			r.stat = messageState(v[0])
		}
	}
	if r.stat == "" {
		r.stat = "UNKNOWN"
	}
	return r
}

// messageState returns the receipt stat of a message_state TLV value.
func messageState(v byte) string {
	switch v {
	case 1:
		return "ENROUTE"
	case 2:
		return "DELIVRD"
	case 3:
		return "EXPIRED"
	case 4:
		return "DELETED"
	case 5:
		return "UNDELIV"
	case 6:
		return "ACCEPTD"
	case 8:
		return "REJECTD"
	}
	return "UNKNOWN"
}

// statusText renders a command_status as "0x0000000b ESME_RINVDSTADR
// (invalid destination address)".
func statusText(st pdu.Status) string {
	if name, ok := pdu.StatusName(st); ok {
		return fmt.Sprintf("0x%08x %s (%s)", uint32(st), name, st.Error())
	}
	return fmt.Sprintf("0x%08x (%s)", uint32(st), st.Error())
}

// utf16BE encodes s, valid UTF-8, as UTF-16 big endian.
func utf16BE(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 0, 2*len(u))
	for _, c := range u {
		b = append(b, byte(c>>8), byte(c))
	}
	return b
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
