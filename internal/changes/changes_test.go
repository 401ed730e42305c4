package changes

import "testing"

func TestSignal(t *testing.T) {
	t.Parallel()
	var s Signal
	s.Fire() // nobody waits: nothing to close
	ch := s.Next()
	if ch != s.Next() {
		t.Fatal("two Next before a Fire returned different channels")
	}
	select {
	case <-ch:
		t.Fatal("closed before Fire")
	default:
	}
	s.Fire()
	select {
	case <-ch:
	default:
		t.Fatal("Fire did not close the channel")
	}
	select {
	case <-s.Next():
		t.Fatal("the channel after Fire is closed already")
	default:
	}
}
