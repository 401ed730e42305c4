package redisstore

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/smppmux/smppmux/dlr"
)

// Waiting receipts in Redis are this instance's: a hash per instance,
//
//	w:N -> seq: len(upstream)(1) upstream arrived(8) PDU
//
// read back when the instance of that number starts again.
func (s *Store) waitingKey() string {
	return s.cfg.Prefix + "w:" + strconv.Itoa(s.cfg.Instance)
}

// PutWaiting implements dlr.Store.
func (s *Store) PutWaiting(w *dlr.Waiting, done func(error)) {
	if len(w.Upstream) > 255 {
		done(fmt.Errorf("dlr: names longer than 255 octets"))
		return
	}
	w.Seq = s.NextSeq()
	v := make([]byte, 0, 9+len(w.Upstream)+len(w.Raw))
	v = append(v, byte(len(w.Upstream)))
	v = append(v, w.Upstream...)
	v = binary.BigEndian.AppendUint64(v, uint64(w.Arrived.UnixNano()))
	v = append(v, w.Raw...)
	key, field := s.waitingKey(), strconv.FormatUint(w.Seq, 10)
	s.enqueue(redisOp{queue: func(p redis.Pipeliner) redis.Cmder {
		return p.HSet(context.Background(), key, field, v)
	}, done: done})
}

// DeleteWaiting implements dlr.Store.
func (s *Store) DeleteWaiting(_ string, seq uint64) {
	key, field := s.waitingKey(), strconv.FormatUint(seq, 10)
	s.enqueue(redisOp{queue: func(p redis.Pipeliner) redis.Cmder {
		return p.HDel(context.Background(), key, field)
	}, done: func(err error) {
		if err != nil {
			// It waits again after a restart, and is relayed once.
			s.log.Warn("removing a waiting receipt from Redis failed", zap.Error(err))
		}
	}})
}

// LoadWaiting implements dlr.Store.
func (s *Store) LoadWaiting(fn func(*dlr.Waiting)) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	all, err := s.c.HGetAll(ctx, s.waitingKey()).Result()
	if err != nil {
		return err
	}
	for field, v := range all {
		seq, err := strconv.ParseUint(field, 10, 64)
		b := []byte(v)
		if err != nil || len(b) < 1 || len(b) < 9+int(b[0]) {
			return fmt.Errorf("%w: waiting receipt %s", errBadRecord, field)
		}
		n := int(b[0])
		fn(&dlr.Waiting{
			Upstream: string(b[1 : 1+n]),
			Seq:      seq,
			Arrived:  time.Unix(0, int64(binary.BigEndian.Uint64(b[1+n:]))),
			Raw:      b[9+n:],
		})
	}
	return nil
}
