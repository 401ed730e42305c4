package esmetest

import (
	"bytes"
	"testing"
)

// TestQueryAndCancelBody: the bodies carry the fields of SMPP 3.4
// 4.8.1 and 4.9.1 in order, addresses with SubmitBody's TON/NPI.
func TestQueryAndCancelBody(t *testing.T) {
	if got, want := QueryBody("m1", "Shop"), []byte("m1\x00\x05\x00Shop\x00"); !bytes.Equal(got, want) {
		t.Errorf("QueryBody = %q, want %q", got, want)
	}
	if got, want := QueryBody("m1", "4477"), []byte("m1\x00\x01\x014477\x00"); !bytes.Equal(got, want) {
		t.Errorf("QueryBody of a number = %q, want %q", got, want)
	}
	if got, want := CancelBody("m1", "Shop", "4477"), []byte("\x00m1\x00\x05\x00Shop\x00\x01\x014477\x00"); !bytes.Equal(got, want) {
		t.Errorf("CancelBody = %q, want %q", got, want)
	}
}
