package redisstore

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/dlr/storetest"
	"github.com/smppmux/smppmux/internal/redistest"
)

// BenchmarkRedisPutMapping64 writes mappings from 64 concurrent writers,
// each waiting for its write, as client sessions do.
func BenchmarkRedisPutMapping64(b *testing.B) {
	benchRedisPutMapping64(b, func(i int) string { return strconv.FormatInt(int64(i), 16) })
}

// BenchmarkRedisPutMappingUpper64 is BenchmarkRedisPutMapping64 with ids
// in upper case, as many SMSCs write them: each is also listed under its
// folded form.
func BenchmarkRedisPutMappingUpper64(b *testing.B) {
	benchRedisPutMapping64(b, func(i int) string { return strings.ToUpper(strconv.FormatInt(int64(i)+0xA000, 16)) })
}

func benchRedisPutMapping64(b *testing.B, upstreamID func(int) string) {
	s := openRedis(b, redistest.Start(b).Addr, 1, nil)
	exp := time.Now().Add(time.Hour)
	start := time.Now()
	storetest.Writers64(b, func(i int, put func(error), wait func()) {
		id := upstreamID(i)
		s.PutMapping(dlr.Mapping{Upstream: "carrier-a", UpstreamID: id,
			Origin: dlr.Origin{SystemID: "shop", ClientID: id, Session: 1}, Expires: exp}, put)
		wait()
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "puts/s")
}

// BenchmarkRedisMessage does what the store does for one relayed message
// and its receipt: mapping write, lookup, outbox add, outbox delete, from
// 64 concurrent writers. The outbox item is 180 zero octets, which the
// store does not take for a receipt.
func BenchmarkRedisMessage(b *testing.B) {
	benchRedisMessage(b, func(int) []byte { return make([]byte, 180) })
}

// BenchmarkRedisMessageReceipt is BenchmarkRedisMessage with a receipt as
// the outbox item, which the store keys by its content and adds behind a
// fence (limbo.go).
func BenchmarkRedisMessageReceipt(b *testing.B) {
	benchRedisMessage(b, storetest.ReceiptPDU)
}

func benchRedisMessage(b *testing.B, item func(int) []byte) {
	s := openRedis(b, redistest.Start(b).Addr, 1, nil)
	exp := time.Now().Add(time.Hour)
	start, cpu0 := time.Now(), storetest.CPUTime()
	storetest.Writers64(b, func(i int, put func(error), wait func()) {
		id := strconv.FormatInt(int64(i), 16)
		s.PutMapping(dlr.Mapping{Upstream: "carrier-a", UpstreamID: id,
			Origin: dlr.Origin{SystemID: "shop", ClientID: id, Session: 1}, Expires: exp}, put)
		wait()
		if _, ok, err := s.Get("carrier-a", id); !ok || err != nil {
			b.Error("mapping not found", err)
		}
		it := &dlr.Item{Raw: item(i), At: time.Now()}
		s.AddOutbox("shop", it, put)
		wait()
		if err := s.DeleteOutbox("shop", it.Seq); err != nil {
			b.Error(err)
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	b.ReportMetric(float64((storetest.CPUTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/msg")
}

// BenchmarkRedisEnqueue64 queues messages of 10 clients with a 160-octet
// PDU from 64 concurrent writers, each waiting for its write, as client
// sessions of a store-and-forward group do.
func BenchmarkRedisEnqueue64(b *testing.B) {
	s := openRedis(b, redistest.Start(b).Addr, 1, nil)
	raw := make([]byte, 160)
	now := time.Now()
	start := time.Now()
	storetest.Writers64(b, func(i int, put func(error), wait func()) {
		id := strconv.Itoa(i)
		s.Enqueue(&dlr.Queued{Group: "g", Origin: dlr.Origin{SystemID: "c" + strconv.Itoa(i%10), ClientID: id, Session: 1,
			Submitted: now.UnixNano()}, Raw: raw}, 1<<30, put)
		wait()
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "enqueues/s")
}

// BenchmarkRedisTakeSettle takes queued messages 100 at a time, as a
// drainer does, and settles each.
func BenchmarkRedisTakeSettle(b *testing.B) {
	s := openRedis(b, redistest.Start(b).Addr, 1, nil)
	raw := make([]byte, 160)
	n := 0
	var taken []*dlr.Queued
	errc := make(chan error, 100)
	for b.Loop() {
		if len(taken) == 0 {
			b.StopTimer()
			for i := range 1000 {
				s.Enqueue(&dlr.Queued{Group: "g", Origin: dlr.Origin{SystemID: "c" + strconv.Itoa(i%10), ClientID: strconv.Itoa(n)},
					Raw: raw}, 1<<30, func(err error) { errc <- err })
				n++
				if i%100 == 99 {
					for range 100 {
						if err := <-errc; err != nil {
							b.Fatal(err)
						}
					}
				}
			}
			b.StartTimer()
		}
		if len(taken) == 0 {
			var err error
			if taken, err = s.Take("g", 100); err != nil || len(taken) == 0 {
				b.Fatal(len(taken), err)
			}
		}
		m := taken[0]
		taken = taken[1:]
		s.Settle(m, func(err error) { errc <- err })
		if len(taken) == 0 {
			for range 100 {
				if err := <-errc; err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}
