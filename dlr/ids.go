package dlr

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// IDBase is the base a client's message ids are written in: its
// message_id format in the configuration. Not to be confused with
// ReceiptIDForm, how an upstream writes its own ids in its receipts.
type IDBase int

// Bases of client message ids.
const (
	BaseHex IDBase = iota
	BaseDecimal
)

// ParseIDBase parses "hex" or "decimal".
func ParseIDBase(s string) (IDBase, error) {
	switch s {
	case "", "hex":
		return BaseHex, nil
	case "decimal":
		return BaseDecimal, nil
	}
	return 0, fmt.Errorf("unknown message_id format %q", s)
}

// IDs issues client message ids: a counter seeded from the clock at start,
// so ids keep increasing across restarts as long as fewer than a million
// are issued per second on average. Instances sharing a store each put
// their own number in the low eight bits, so their ids never collide.
type IDs struct {
	next     atomic.Uint64
	instance uint64
	shift    uint
}

// NewIDs returns an IDs seeded from now, for a process that shares its
// store with nobody.
func NewIDs(now time.Time) *IDs {
	g := &IDs{}
	g.next.Store(uint64(now.UnixMicro()))
	return g
}

// NewInstanceIDs returns an IDs seeded from now whose ids all end in the
// eight bits of instance (0..255).
func NewInstanceIDs(now time.Time, instance uint8) *IDs {
	g := NewIDs(now)
	g.instance, g.shift = uint64(instance), 8
	return g
}

// Next returns a new id number.
func (g *IDs) Next() uint64 { return g.next.Add(1)<<g.shift | g.instance }

// FormatID renders n in base f, left-padded with zeros to length
// characters when length is larger than its natural length.
func FormatID(n uint64, f IDBase, length int) string {
	base := 16
	if f == BaseDecimal {
		base = 10
	}
	s := strconv.FormatUint(n, base)
	if len(s) < length {
		s = strings.Repeat("0", length-len(s)) + s
	}
	return s
}

// ErrNoID means a receipt carries no message id.
var ErrNoID = errors.New("dlr: receipt carries no message id")

// FoldID returns the folded form of an upstream message id: ASCII lower
// case, leading zeros removed ("0" stays "0"). Ids an SMSC writes for one
// message in another case or zero-padded fold alike; ids that differ
// otherwise never do. It returns id itself, without copying, when id is
// folded already.
func FoldID(id string) string {
	i := 0
	for i < len(id)-1 && id[i] == '0' {
		i++
	}
	j := i
	for j < len(id) && !('A' <= id[j] && id[j] <= 'Z') {
		j++
	}
	if j == len(id) {
		return id[i:]
	}
	b := make([]byte, len(id)-i)
	copy(b, id[i:j])
	for k := j; k < len(id); k++ {
		c := id[k]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[k-i] = c
	}
	return string(b)
}
