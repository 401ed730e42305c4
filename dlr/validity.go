package dlr

import (
	"strconv"
	"time"
)

// ValidityTTL reads an SMPP validity_period (section 7.1.1): absolute
// "YYMMDDhhmmsstnnp" with p '+' or '-' (tnn: tenths, quarter hours from
// UTC), or relative "YYMMDDhhmmss000R". It returns how long from now the
// message stays valid, false when v is empty, malformed or in the past.
func ValidityTTL(v []byte, now time.Time) (time.Duration, bool) {
	if len(v) != 16 {
		return 0, false
	}
	n := func(i int) int {
		d, err := strconv.Atoi(string(v[i : i+2]))
		if err != nil {
			return -1
		}
		return d
	}
	yy, mo, dd, hh, mi, ss := n(0), n(2), n(4), n(6), n(8), n(10)
	if yy < 0 || mo < 0 || dd < 0 || hh < 0 || mi < 0 || ss < 0 {
		return 0, false
	}
	switch v[15] {
	case 'R':
		d := time.Duration(yy)*365*24*time.Hour + time.Duration(mo)*30*24*time.Hour +
			time.Duration(dd)*24*time.Hour + time.Duration(hh)*time.Hour +
			time.Duration(mi)*time.Minute + time.Duration(ss)*time.Second
		return d, d > 0
	case '+', '-':
		q := n(13)
		if q < 0 || mo < 1 || mo > 12 || dd < 1 || dd > 31 {
			return 0, false
		}
		offset := time.Duration(q) * 15 * time.Minute
		if v[15] == '-' {
			offset = -offset
		}
		at := time.Date(2000+yy, time.Month(mo), dd, hh, mi, ss, 0, time.UTC).Add(-offset)
		d := at.Sub(now)
		return d, d > 0
	}
	return 0, false
}
