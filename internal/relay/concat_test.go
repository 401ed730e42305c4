package relay

import (
	"testing"

	"github.com/smppmux/smppmux/internal/pdu"
)

func TestStickyKey(t *testing.T) {
	t.Parallel()
	part := func(dest string) *pdu.SM {
		return &pdu.SM{DestAddr: []byte(dest), ESMClass: pdu.EsmUDHI, ShortMessage: []byte{5, 0, 3, 1, 2, 1}}
	}
	if stickyKey("shop", part("44")) == stickyKey("shop", part("45")) {
		t.Error("sticky keys of different destinations collide")
	}
	if k := stickyKey("shop", &pdu.SM{DestAddr: []byte("44"), ShortMessage: []byte("hello")}); k != "" {
		t.Errorf("sticky key of a plain message: %q", k)
	}
}
