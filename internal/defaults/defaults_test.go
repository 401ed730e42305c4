package defaults

import (
	"testing"
	"time"
)

func TestPositive(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want time.Duration
	}{
		{0, time.Minute},
		{-time.Second, time.Minute},
		{time.Nanosecond, time.Nanosecond},
		{time.Hour, time.Hour},
	} {
		v := tc.in
		Positive(&v, time.Minute)
		if v != tc.want {
			t.Errorf("Positive(%v, 1m) = %v, want %v", tc.in, v, tc.want)
		}
	}
	n := 0
	Positive(&n, 7)
	if n != 7 {
		t.Errorf("Positive(0, 7) = %d, want 7", n)
	}
}
