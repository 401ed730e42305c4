package storetest

import (
	"sync"
	"syscall"
	"testing"
	"time"
)

// Writers64 runs one for every b.Loop iteration from 64 goroutines; put
// is a done callback for the store and wait waits for it and fails the
// benchmark on an error.
func Writers64(b *testing.B, one func(i int, put func(error), wait func())) {
	var wg sync.WaitGroup
	work := make(chan int, 1024)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errc := make(chan error, 1)
			put := func(err error) { errc <- err }
			wait := func() {
				if err := <-errc; err != nil {
					b.Error(err)
				}
			}
			for i := range work {
				one(i, put, wait)
			}
		}()
	}
	for i := 0; b.Loop(); i++ {
		work <- i
	}
	close(work)
	wg.Wait()
}

// CPUTime returns the user and system CPU time of the process.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
