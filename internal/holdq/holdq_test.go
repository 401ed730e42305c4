package holdq

import (
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

type recorder struct {
	mu    sync.Mutex
	start time.Time
	got   []string
}

func (r *recorder) ended(v string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, v+"@"+time.Since(r.start).String())
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func afterFunc(d time.Duration, fn func()) Timer { return time.AfterFunc(d, fn) }

// TestQueueEndsInOrder: each value is handed on at its end, in order; a
// dropped one never is; an end before the last one's waits for it; the
// queue is empty and unarmed once all ended, and arms again for more.
func TestQueueEndsInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{start: time.Now()}
		q := New(afterFunc, rec.ended)
		now := time.Now()
		q.Add("a", now.Add(time.Second))
		b := q.Add("b", now.Add(2*time.Second))
		q.Add("c", now.Add(3*time.Second))
		q.Add("d", now.Add(2500*time.Millisecond)) // before c's end: ends with c
		q.Drop(b)
		q.Drop(b) // twice: nothing more
		time.Sleep(5 * time.Second)
		synctest.Wait()
		want := []string{"a@1s", "c@3s", "d@3s"}
		if got := rec.list(); !slices.Equal(got, want) {
			t.Errorf("ended %v, want %v", got, want)
		}
		if q.Len() != 0 || q.Armed() {
			t.Errorf("%d places left (armed %v), want none", q.Len(), q.Armed())
		}
		q.Add("e", time.Now().Add(time.Second))
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if got := rec.list(); len(got) != 4 || got[3] != "e@6s" {
			t.Errorf("ended %v, want e at 6s last", got)
		}
	})
}

// TestQueueDropFront: dropping the first waits takes their places at
// once, so a queue whose waits end early stays short.
func TestQueueDropFront(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{start: time.Now()}
		q := New(afterFunc, rec.ended)
		end := time.Now().Add(time.Second)
		var nos []uint64
		for _, v := range []string{"a", "b", "c"} {
			nos = append(nos, q.Add(v, end))
		}
		q.Drop(nos[1])
		if q.Len() != 3 {
			t.Fatalf("%d places after dropping the middle one, want 3", q.Len())
		}
		q.Drop(nos[0])
		if q.Len() != 1 {
			t.Fatalf("%d places after dropping the first two, want 1", q.Len())
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if got := rec.list(); !slices.Equal(got, []string{"c@1s"}) {
			t.Errorf("ended %v, want c@1s only", got)
		}
	})
}
