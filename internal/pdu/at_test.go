package pdu

import (
	"io"
	"testing"
	"testing/synctest"
	"time"
)

// timedReader hands out its chunks one read each, the clock moving a
// second before each.
type timedReader struct{ chunks [][]byte }

func (r *timedReader) Read(p []byte) (int, error) {
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	time.Sleep(time.Second)
	n := copy(p, r.chunks[0])
	r.chunks[0] = r.chunks[0][n:]
	if len(r.chunks[0]) == 0 {
		r.chunks = r.chunks[1:]
	}
	return n, nil
}

// TestReaderFrameTime: a frame carries the time the read that completed it
// returned: frames of one read share it, a frame cut across two reads has
// the second's, and Time falls back to now for a frame not read.
func TestReaderFrameTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		two := append(Empty(EnquireLink, StatusOK, 1), Empty(EnquireLink, StatusOK, 2)...)
		third := Empty(EnquireLinkResp, StatusOK, 3)
		r := NewReader(&timedReader{chunks: [][]byte{two, third[:10], third[10:]}}, 0)
		want := []time.Duration{time.Second, time.Second, 3 * time.Second}
		for i, w := range want {
			f, err := r.Read()
			if err != nil {
				t.Fatalf("frame %d: %v", i+1, err)
			}
			if got := f.At.Sub(start); got != w {
				t.Errorf("frame %d (seq %d) read at +%v, want +%v", i+1, f.Seq, got, w)
			}
			if !f.Time().Equal(f.At) {
				t.Errorf("frame %d: Time() %v, want its At %v", i+1, f.Time(), f.At)
			}
		}
		time.Sleep(time.Minute)
		if got := (Frame{}).Time(); !got.Equal(time.Now()) {
			t.Errorf("a frame not read: Time() %v, want now %v", got, time.Now())
		}
	})
}
