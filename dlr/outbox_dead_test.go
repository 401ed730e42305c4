package dlr_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/dlr/memstore"
	"github.com/smppmux/smppmux/dlr/storetest"
	"github.com/smppmux/smppmux/internal/pdu"
)

// TestOutboxRefusalsDoNotHoldBackOthers: a client refuses every tenth
// delivery. Every item is accepted exactly once; the items never refused
// are delivered in order (answered in any: the client answers from
// several goroutines), and all of them before the first refused one is
// due again: nothing waits behind a refusal.
func TestOutboxRefusalsDoNotHoldBackOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		recv := &storetest.JudgingReceiver{Window: 10, Judge: func(n int, _ string) (pdu.Status, error) {
			if n%10 == 9 {
				return pdu.StatusXTAppn, nil
			}
			return pdu.StatusOK, nil
		}}
		var mu sync.Mutex
		retries := 0
		o := dlr.NewOutbox(dlr.OutboxConfig{
			Store:     memstore.New(nil),
			Receivers: func(string) []dlr.Receiver { return []dlr.Receiver{recv} },
			RetryMin:  time.Second, RetryMax: time.Minute,
			OnRetry: func(string, *dlr.Item) { mu.Lock(); retries++; mu.Unlock() },
			OnDeadLetter: func(_ string, d *dlr.DeadLetter) {
				t.Errorf("dead letter after %d refusals", d.Refusals)
			},
		})
		defer o.Close()
		start := time.Now()
		const n = 300
		storetest.EnqueueAll(t, o, "shop", n)
		synctest.Wait()
		for o.Depth("shop") > 0 {
			time.Sleep(time.Second) // fake time: the retries come due
			synctest.Wait()
		}
		attempts, accepted, at := recv.Results()
		refused := map[string]bool{}
		for i, body := range attempts {
			if i%10 == 9 {
				refused[body] = true
			}
		}
		if len(refused) == 0 || retries != len(attempts)-n {
			t.Fatalf("%d attempts, %d items refused, %d retries", len(attempts), len(refused), retries)
		}
		seen := map[string]int{}
		for i, body := range accepted {
			seen[body]++
			if d := at[i].Sub(start); !refused[body] && d >= time.Second {
				t.Errorf("%s, never refused, accepted %s after the start: it waited for a refused item", body, d)
			}
		}
		var clean []string // never refused, in the order delivered
		for _, body := range attempts {
			if !refused[body] {
				clean = append(clean, body)
			}
		}
		for i := range n {
			if k := seen[fmt.Sprintf("%04d", i)]; k != 1 {
				t.Errorf("item %04d accepted %d times", i, k)
			}
		}
		if !slices.IsSorted(clean) {
			t.Errorf("items never refused delivered out of order: %q", clean)
		}
	})
}

// TestOutboxDeadLetters: an item refused MaxAttempts times, and one
// refused once with a status of DeadLetterStatuses, become dead letters:
// out of the outbox, counted, listed with what happened; the others are
// delivered. Put back, they are delivered once the client takes them.
func TestOutboxDeadLetters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		refusing := true
		recv := &storetest.JudgingReceiver{Window: 5, Judge: func(_ int, body string) (pdu.Status, error) {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case !refusing:
			case body == "0003":
				return pdu.StatusXTAppn, nil
			case body == "0007":
				return 0x66, nil // ESME_RX_R_APPN: never
			case body == "0009":
				// No answer does not count toward the bound.
				return 0, errors.New("response timeout")
			}
			return pdu.StatusOK, nil
		}}
		store := memstore.New(nil)
		var dead []dlr.DeadLetter
		o := dlr.NewOutbox(dlr.OutboxConfig{
			Store:     store,
			Receivers: func(string) []dlr.Receiver { return []dlr.Receiver{recv} },
			RetryMin:  time.Second, RetryMax: 4 * time.Second, MaxAttempts: 3,
			OnDeadLetter: func(_ string, d *dlr.DeadLetter) {
				mu.Lock()
				dead = append(dead, *d)
				mu.Unlock()
			},
		})
		defer o.Close()
		storetest.EnqueueAll(t, o, "shop", 10)
		// 0003 is refused at 0, 1 s and 3 s; 0009 is never answered.
		time.Sleep(time.Minute)
		synctest.Wait()
		if d := o.Depth("shop"); d != 1 {
			t.Fatalf("depth %d, want 1: the item never answered", d)
		}
		mu.Lock()
		if len(dead) != 2 {
			t.Fatalf("%d dead letters made, want 2", len(dead))
		}
		mu.Unlock()
		list, err := o.DeadLetters("shop", 0, 10)
		if err != nil || len(list) != 2 {
			t.Fatalf("DeadLetters = %d, %v", len(list), err)
		}
		byBody := map[string]dlr.DeadLetter{}
		for _, d := range list {
			byBody[string(d.Raw[pdu.HeaderLen:])] = d
		}
		if d := byBody["0003"]; d.Reason != dlr.ReasonRefused || d.Attempts != 3 || d.Refusals != 3 || d.LastStatus != pdu.StatusXTAppn {
			t.Errorf("0003's dead letter: %+v", d)
		}
		if d := byBody["0007"]; d.Reason != dlr.ReasonNever || d.Attempts != 1 || d.Refusals != 1 || d.LastStatus != 0x66 {
			t.Errorf("0007's dead letter: %+v", d)
		}
		attempts, accepted, _ := recv.Results()
		if k := countOf(attempts, "0007"); k != 1 {
			t.Errorf("0007 delivered %d times, want once", k)
		}
		if k := countOf(attempts, "0009"); k <= 3 {
			t.Errorf("0009, never answered, tried %d times: it must be retried past max_attempts", k)
		}
		if len(accepted) != 7 {
			t.Errorf("accepted %q, want the 7 others", accepted)
		}
		if st, _ := o.DeadLetterStats([]string{"shop", "bank"}); st[0].Count != 2 || st[0].Oldest.IsZero() || st[1].Count != 0 {
			t.Errorf("DeadLetterStats = %+v", st)
		}

		mu.Lock()
		refusing = false
		mu.Unlock()
		if n, err := o.RetryDeadLetters("shop"); n != 2 || err != nil {
			t.Fatalf("RetryDeadLetters = %d, %v", n, err)
		}
		synctest.Wait()
		time.Sleep(time.Minute) // 0009's next try
		synctest.Wait()
		_, accepted, _ = recv.Results()
		if len(accepted) != 10 || o.Depth("shop") != 0 {
			t.Fatalf("after the retry accepted %q, depth %d", accepted, o.Depth("shop"))
		}
		if list, _ := o.DeadLetters("shop", 0, 10); len(list) != 0 {
			t.Fatalf("%d dead letters left after the retry", len(list))
		}
	})
}

func countOf(l []string, s string) int {
	n := 0
	for _, v := range l {
		if v == s {
			n++
		}
	}
	return n
}

// failingDead is a memory store whose dead letter writes fail while fail is
// set.
type failingDead struct {
	*memstore.Store
	mu   sync.Mutex
	fail bool
}

func (f *failingDead) PutDeadLetter(d *dlr.DeadLetter, seq uint64, done func(error)) {
	f.mu.Lock()
	fail := f.fail
	f.mu.Unlock()
	if fail {
		done(errors.New("disk full"))
		return
	}
	f.Store.PutDeadLetter(d, seq, done)
}

// TestOutboxDeadLetterWriteFails: while the store cannot write the dead
// letter, the item stays in the outbox; it becomes one once the store
// can.
func TestOutboxDeadLetterWriteFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &failingDead{Store: memstore.New(nil), fail: true}
		recv := &storetest.JudgingReceiver{Window: 1, Judge: func(int, string) (pdu.Status, error) { return 0x65, nil }}
		o := dlr.NewOutbox(dlr.OutboxConfig{Store: store, Receivers: func(string) []dlr.Receiver { return []dlr.Receiver{recv} },
			RetryMin: time.Second, RetryMax: time.Second})
		defer o.Close()
		storetest.EnqueueAll(t, o, "shop", 1)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if d := o.Depth("shop"); d != 1 {
			t.Fatalf("depth %d while dead letters cannot be written, want 1", d)
		}
		store.mu.Lock()
		store.fail = false
		store.mu.Unlock()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if list, _ := o.DeadLetters("shop", 0, 10); len(list) != 1 || o.Depth("shop") != 0 {
			t.Fatalf("%d dead letters, depth %d, want 1 and 0", len(list), o.Depth("shop"))
		}
	})
}
