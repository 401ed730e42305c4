package main

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
)

// summaryFields parses the summary line of bench's output.
func summaryFields(t *testing.T, out string) map[string]string {
	t.Helper()
	for line := range strings.Lines(out) {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "summary ")
		if !ok {
			continue
		}
		m := map[string]string{}
		for kv := range strings.FieldsSeq(rest) {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				t.Fatalf("summary field %q has no '='", kv)
			}
			m[k] = v
		}
		return m
	}
	t.Fatalf("no summary line in:\n%s", out)
	return nil
}

func TestBench(t *testing.T) {
	t.Parallel()
	s := smsctest.Start(t, smsctest.Config{DiscardRecords: true})
	pid := strconv.Itoa(os.Getpid())
	for _, tc := range []struct {
		name string
		args []string
		want map[string]string
	}{
		{
			name: "window",
			args: []string{"-n", "2000", "-window", "100", "-label", "fast"},
			want: map[string]string{"label": "fast", "n": "2000", "sent": "2000", "accepted": "2000", "refused": "0",
				"failed": "0", "receipts": "2000", "matched": "2000", "dups": "0"},
		},
		{
			name: "paced",
			args: []string{"-n", "300", "-window", "10", "-rate", "3000"},
			want: map[string]string{"label": "-", "sent": "300", "accepted": "300", "receipts": "300", "matched": "300"},
		},
		{
			name: "no receipts",
			args: []string{"-n", "100", "-receipts=false"},
			want: map[string]string{"accepted": "100", "receipts": "0", "matched": "0"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			args := append([]string{"bench", "-addr", s.Addr(), "-summary", "-strict", "-cpu-pid", pid}, tc.args...)
			if err := run(context.Background(), args, &out, &out); err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			got := summaryFields(t, out.String())
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s=%s, want %s", k, got[k], v)
				}
			}
			for _, k := range []string{"msg_per_s", "p50_us", "p99_us", "cpu_ticks", "rss_kb", "hwm_kb"} {
				if n, err := strconv.ParseFloat(got[k], 64); err != nil || n < 0 {
					t.Errorf("%s=%q, want a number >= 0", k, got[k])
				}
			}
			if got["rss_kb"] == "0" {
				t.Error("rss_kb=0: the process's memory was not read")
			}
		})
	}
}

// TestBenchLegacyClient: with Nagle on and each PDU in two writes every
// submit still gets through whole, to an SMSC that acknowledges at once.
func TestBenchLegacyClient(t *testing.T) {
	t.Parallel()
	s := smsctest.Start(t, smsctest.Config{DiscardRecords: true, QuickAck: true})
	var out bytes.Buffer
	args := []string{"bench", "-addr", s.Addr(), "-summary", "-strict", "-n", "50", "-window", "1", "-nagle", "-split-writes"}
	if err := run(context.Background(), args, &out, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	got := summaryFields(t, out.String())
	if got["accepted"] != "50" || got["matched"] != "50" {
		t.Errorf("accepted=%s matched=%s, want 50 and 50", got["accepted"], got["matched"])
	}
}

func TestBenchPacedRate(t *testing.T) {
	t.Parallel()
	s := smsctest.Start(t, smsctest.Config{DiscardRecords: true})
	var out bytes.Buffer
	start := time.Now()
	err := run(context.Background(), []string{"bench", "-addr", s.Addr(), "-n", "200", "-rate", "1000", "-summary"}, &out, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	// 200 submits at 1000/s: the last is due 199 ms after the first.
	if d := time.Since(start); d < 199*time.Millisecond {
		t.Errorf("200 submits at 1000/s took %s, want at least 199ms", d)
	}
	if r, _ := strconv.ParseFloat(summaryFields(t, out.String())["send_rate"], 64); r > 1010 {
		t.Errorf("send_rate %.0f, want at most 1000/s and rounding", r)
	}
}

func TestBenchStrict(t *testing.T) {
	t.Parallel()
	noReceipt := func(*smsctest.SubmitRequest) smsctest.Reply { return smsctest.Reply{NoReceipt: true} }
	refuseSome := func(r *smsctest.SubmitRequest) smsctest.Reply {
		if strings.HasSuffix(string(r.SM.DestAddr), "7") {
			return smsctest.Reply{Status: pdu.StatusThrottled}
		}
		return smsctest.Reply{}
	}
	for _, tc := range []struct {
		name string
		cfg  smsctest.Config
		args []string
		want []string // in the output
		// wantErr is in the error returned; empty: none
		wantErr string
	}{
		{
			name:    "receipts missing",
			cfg:     smsctest.Config{Submit: noReceipt},
			args:    []string{"-n", "50", "-receipt-timeout", "50ms", "-strict"},
			wantErr: "receipts: 0 received, 0 matched, of 50 accepted",
		},
		{
			name: "receipts missing, not strict",
			cfg:  smsctest.Config{Submit: noReceipt},
			args: []string{"-n", "50", "-receipt-timeout", "50ms"},
			want: []string{"receipts matched      0 of 50 accepted"},
		},
		{
			name: "refusals are counted, not failed",
			cfg:  smsctest.Config{Submit: refuseSome},
			args: []string{"-n", "100", "-strict", "-summary"},
			want: []string{"refused 0x00000058    10 (throttling error)", "accepted=90 refused=10 failed=0 receipts=90 matched=90"},
		},
		{
			// Straight to the simulator, which does not send a refused
			// receipt again: the first is not owed, the others arrive.
			name: "first receipt refused",
			args: []string{"-n", "50", "-strict", "-refuse-first", "-summary"},
			want: []string{"deliveries refused    1 (ESME_RX_T_APPN; refused receipts owed: 49)", "accepted=50 refused=0 failed=0 receipts=49 matched=49 dups=0"},
		},
		{
			name:    "every tenth receipt refused, never sent again",
			args:    []string{"-n", "100", "-strict", "-refuse-every", "10", "-receipt-timeout", "50ms"},
			want:    []string{"deliveries refused    10"},
			wantErr: "receipts: 90 received, 90 matched, of 100 accepted (100 owed)",
		},
		{
			name:    "nothing accepted",
			cfg:     smsctest.Config{Submit: func(*smsctest.SubmitRequest) smsctest.Reply { return smsctest.Reply{Status: pdu.StatusSysErr} }},
			args:    []string{"-n", "10"},
			wantErr: "no message was accepted",
		},
		{
			name:    "process gone",
			args:    []string{"-n", "10", "-strict", "-cpu-pid", "999999999"},
			wantErr: "process 999999999",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := smsctest.Start(t, tc.cfg)
			var out bytes.Buffer
			err := run(context.Background(), append([]string{"bench", "-addr", s.Addr()}, tc.args...), &out, &out)
			if msg := errMismatch(err, tc.wantErr); msg != "" {
				t.Fatalf("%s\n%s", msg, out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

// errMismatch says how err differs from an error containing want, or
// from no error when want is empty; "" when it does not.
func errMismatch(err error, want string) string {
	switch {
	case want == "" && err != nil:
		return "unexpected error: " + err.Error()
	case want != "" && err == nil:
		return "no error, want one with " + strconv.Quote(want)
	case want != "" && !strings.Contains(err.Error(), want):
		return "error " + strconv.Quote(err.Error()) + ", want one with " + strconv.Quote(want)
	}
	return ""
}

// TestBenchConnectionLost: a run cut short fails, and still prints its
// figures over the part that ran.
func TestBenchConnectionLost(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	s := smsctest.Start(t, smsctest.Config{Submit: func(*smsctest.SubmitRequest) smsctest.Reply {
		return smsctest.Reply{Disconnect: n.Add(1) == 50}
	}})
	var out bytes.Buffer
	args := []string{"bench", "-addr", s.Addr(), "-n", "1000", "-window", "10", "-strict", "-summary", "-cpu-pid", strconv.Itoa(os.Getpid())}
	err := run(context.Background(), args, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "connection lost after") {
		t.Fatalf("error %v, want a lost connection\n%s", err, out.String())
	}
	got := summaryFields(t, out.String())
	if a, _ := strconv.Atoi(got["accepted"]); a < 40 || a >= 50 {
		t.Errorf("accepted=%s, want the 49 answered before the cut, give or take the window", got["accepted"])
	}
	if ticks, err := strconv.ParseUint(got["cpu_ticks"], 10, 32); err != nil {
		t.Errorf("cpu_ticks=%s: %v", got["cpu_ticks"], err)
	} else if ticks > 1000 {
		t.Errorf("cpu_ticks=%d for a run of a fraction of a second", ticks)
	}
}

func TestBenchFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"-n", "0"},
		{"-window", "0"},
		{"-rate", "-1"},
		{"-clk-tck", "0"},
		{"-label", "a b"},
		{"-label", "a=b"},
		{"extra"},
	} {
		var out bytes.Buffer
		if err := run(context.Background(), append([]string{"bench", "-addr", "127.0.0.1:1"}, args...), &out, &out); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

func TestParseStatTicks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		stat    string
		want    uint64
		wantErr bool
	}{
		{stat: "1234 (smppmux) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 37 0 0 20 0 9 0 50 0 0", want: 287},
		// The command name may hold spaces and parentheses.
		{stat: "99 (a) b (c) R 1 99 99 0 -1 0 0 0 0 0 7 5 0 0 20 0 1 0 1 0 0", want: 12},
		{stat: "99 no name", wantErr: true},
		{stat: "99 (x) S 1 2 3", wantErr: true},
		{stat: "99 (x) S 1 99 99 0 -1 0 0 0 0 0 u 5 0 0", wantErr: true},
	} {
		got, err := parseStatTicks([]byte(tc.stat))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parseStatTicks(%q) = %d, %v; want %d, error %v", tc.stat, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestStatusKB(t *testing.T) {
	t.Parallel()
	status := []byte("Name:\tsmppmux\nVmHWM:\t   41000 kB\nVmRSS:\t   39700 kB\nThreads:\t9\n")
	if got := statusKB(status, "VmRSS:"); got != 39700 {
		t.Errorf("VmRSS %d, want 39700", got)
	}
	if got := statusKB(status, "VmHWM:"); got != 41000 {
		t.Errorf("VmHWM %d, want 41000", got)
	}
	if got := statusKB(status, "VmSwap:"); got != 0 {
		t.Errorf("VmSwap %d, want 0", got)
	}
}

func TestReadProcSelf(t *testing.T) {
	t.Parallel()
	p, err := readProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if p.rssKB == 0 || p.hwmKB < p.rssKB {
		t.Errorf("RSS %d kB, peak %d kB: want a peak at least the RSS, both set", p.rssKB, p.hwmKB)
	}
}

func TestPacerCatchesUp(t *testing.T) {
	t.Parallel()
	// A pacer started a second ago owes 1000 submits at 1000/s: none waits.
	p := pacer{start: time.Now().Add(-time.Second), rate: 1000}
	start := time.Now()
	for i := range 1000 {
		p.wait(context.Background(), i)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("submits already due waited %s", d)
	}
	// A cancelled context ends the wait for one due an hour from now.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	pacer{start: time.Now(), rate: 1}.wait(ctx, 3600)
}
