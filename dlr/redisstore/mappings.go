package redisstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smppmux/smppmux/dlr"
)

// loadOldUntil reads until when mappings of the earlier layout may be
// stored: OldLayoutFor after the first opening of a store of this layout
// on this Redis, which records that time.
func (s *Store) loadOldUntil() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	key := s.cfg.Prefix + "old-layout-until"
	if err := s.c.SetNX(ctx, key, s.cfg.Now().Add(s.cfg.OldLayoutFor).UnixMilli(), 0).Err(); err != nil {
		return fmt.Errorf("redis store: %w", err)
	}
	ms, err := s.c.Get(ctx, key).Int64()
	if err != nil {
		return fmt.Errorf("redis store: %s: %w", key, err)
	}
	s.oldUntil = time.UnixMilli(ms).UnixNano()
	return nil
}

func (s *Store) mappingKey(upstream, id string) string {
	return s.cfg.Prefix + "m:" + upstream + ":" + id
}

// indexKey is the hash of the mappings of the ids, other than folded
// itself, whose FoldID is folded.
func (s *Store) indexKey(upstream, folded string) string {
	return s.cfg.Prefix + "f:" + upstream + ":" + folded
}

func (s *Store) clientKey(systemID, clientID string) string {
	return s.cfg.Prefix + "c:{" + systemID + "}:" + clientID
}

func (s *Store) outboxKey(systemID string) string { return s.cfg.Prefix + "o:{" + systemID + "}" }

func (s *Store) leaseKey(systemID string) string { return s.cfg.Prefix + "l:{" + systemID + "}" }

func (s *Store) holderKey(systemID string) string { return s.cfg.Prefix + "h:{" + systemID + "}" }

func (s *Store) fenceKey(systemID string) string {
	return s.cfg.Prefix + "w:{" + systemID + "}:" + s.token
}

// layoutExact ends the mappings this version writes, keyed by the id as
// the SMSC wrote it; earlier versions, which keyed them by the folded id,
// wrote nothing after the fields.
const layoutExact = 1

// encodeMapping writes m as expires(8) session(8) submitted(8) then
// upstream, upstreamID, systemID and clientID each after a one-octet
// length, then layoutExact.
func encodeMapping(m dlr.Mapping) []byte {
	b := make([]byte, 24, 29+len(m.Upstream)+len(m.UpstreamID)+len(m.SystemID)+len(m.ClientID))
	binary.BigEndian.PutUint64(b, uint64(m.Expires.UnixNano()))
	binary.BigEndian.PutUint64(b[8:], m.Session)
	binary.BigEndian.PutUint64(b[16:], uint64(m.Submitted))
	for _, f := range []string{m.Upstream, m.UpstreamID, m.SystemID, m.ClientID} {
		b = append(b, byte(len(f)))
		b = append(b, f...)
	}
	return append(b, layoutExact)
}

// earlierLayout reports whether b is a mapping an earlier version wrote,
// under the folded id: its fields end it.
func earlierLayout(b []byte) bool {
	n := 24
	for range 4 {
		if len(b) <= n {
			return false
		}
		n += 1 + int(b[n])
	}
	return len(b) == n
}

var errBadRecord = errors.New("dlr: malformed record in the store")

func decodeMapping(b []byte) (dlr.Mapping, error) {
	var m dlr.Mapping
	if len(b) < 24 {
		return m, errBadRecord
	}
	m.Expires = time.Unix(0, int64(binary.BigEndian.Uint64(b)))
	m.Session = binary.BigEndian.Uint64(b[8:])
	m.Submitted = int64(binary.BigEndian.Uint64(b[16:]))
	b = b[24:]
	for _, f := range []*string{&m.Upstream, &m.UpstreamID, &m.SystemID, &m.ClientID} {
		if len(b) < 1 || len(b) < 1+int(b[0]) {
			return m, errBadRecord
		}
		*f = string(b[1 : 1+b[0]])
		b = b[1+b[0]:]
	}
	return m, nil
}

// PutMapping implements dlr.Store: done is called once Redis holds the
// mapping under its id (in its folded form's hash for an id other than
// that form) and under the client's.
func (s *Store) PutMapping(m dlr.Mapping, done func(error)) {
	s.putMapping(m, nil, done)
}

// putMapping writes m; with also set, the commands it queues go in the
// same pipeline, after m's, and their reply is the op's.
func (s *Store) putMapping(m dlr.Mapping, also func(redis.Pipeliner) redis.Cmder, done func(error)) {
	if len(m.Upstream) > 255 || len(m.UpstreamID) > 255 || len(m.SystemID) > 255 || len(m.ClientID) > 255 {
		done(fmt.Errorf("dlr: names longer than 255 octets"))
		return
	}
	ttl := m.Expires.Sub(s.cfg.Now())
	if ttl < time.Millisecond {
		ttl = time.Millisecond
	}
	v := encodeMapping(m)
	pk := idKey{m.Upstream, dlr.FoldID(m.UpstreamID)}
	k1, k2 := s.mappingKey(m.Upstream, m.UpstreamID), s.clientKey(m.SystemID, m.ClientID)
	k3 := "" // the hash of an id other than its folded form, which k1 does not hold
	if pk.id != m.UpstreamID {
		k3 = s.indexKey(pk.upstream, pk.id)
	}
	s.pending.add(pk, 1)
	// One op, so every key goes in one pipeline and done hears of all. The
	// script's reply is the op's, so that a Redis that lost its scripts
	// gets them again and the op is sent again.
	var other, first redis.Cmder
	s.enqueue(redisOp{queue: func(p redis.Pipeliner) redis.Cmder {
		other = p.Set(context.Background(), k2, v, ttl)
		if k3 == "" {
			first = p.Set(context.Background(), k1, v, ttl)
		} else {
			first = scriptIndex.EvalSha(context.Background(), p, []string{k3}, m.UpstreamID, v, ttl.Milliseconds())
		}
		if also == nil {
			return first
		}
		return also(p)
	}, done: func(err error) {
		for _, c := range []redis.Cmder{other, first} {
			if err == nil && c != nil {
				err = c.Err()
			}
		}
		if err == nil {
			s.recent.add(k1, k2, m)
		}
		s.pending.add(pk, -1)
		done(err)
	}})
}

// isPending reports whether a write of a mapping of this folded form is
// under way.
func (s *Store) isPending(upstream, folded string) bool {
	return s.pending.has(idKey{upstream, folded})
}

// pendingWrites counts writes by key, in shards so that concurrent
// writers seldom wait for one another.
type pendingWrites struct {
	shards [16]struct {
		mu sync.Mutex
		m  map[idKey]int
	}
}

func (p *pendingWrites) shard(k idKey) int {
	var h uint32 = 2166136261
	for i := 0; i < len(k.id); i++ {
		h = (h ^ uint32(k.id[i])) * 16777619
	}
	return int(h % uint32(len(p.shards)))
}

// add adds n to k's count.
func (p *pendingWrites) add(k idKey, n int) {
	sh := &p.shards[p.shard(k)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m == nil {
		sh.m = make(map[idKey]int)
	}
	if c := sh.m[k] + n; c > 0 {
		sh.m[k] = c
	} else {
		delete(sh.m, k)
	}
}

// has reports whether k's count is not zero.
func (p *pendingWrites) has(k idKey) bool {
	sh := &p.shards[p.shard(k)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.m[k] > 0
}
