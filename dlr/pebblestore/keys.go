package pebblestore

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

func u64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

// seqKey is the key of a numbered record of kind, an outbox item, a dead
// letter or a waiting receipt: kind name 0 seq(8), name being a client's
// system_id or an upstream's name.
func seqKey(kind byte, name string, seq uint64) []byte {
	return appendSeqKey(make([]byte, 0, 10+len(name)), kind, name, seq)
}

func appendSeqKey(k []byte, kind byte, name string, seq uint64) []byte {
	k = append(k, kind)
	k = append(k, name...)
	k = append(k, 0)
	return u64(k, seq)
}

func outboxKey(systemID string, seq uint64) []byte { return seqKey(kindOutbox, systemID, seq) }

func deadKey(systemID string, seq uint64) []byte { return seqKey(kindDead, systemID, seq) }

func waitingKey(upstream string, seq uint64) []byte { return seqKey(kindWaiting, upstream, seq) }

// scanSeq calls fn, in key order, for every record of kind in db (what
// names it in errors) whose value holds at least minValue octets, with its
// name, number and value; the value is valid only during the call.
func scanSeq(db *pebble.DB, kind byte, what string, minValue int, fn func(name string, seq uint64, v []byte)) error {
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{kind}, UpperBound: []byte{kind + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		k, v := it.Key(), it.Value()
		i := bytes.IndexByte(k[1:], 0)
		if i < 0 || len(k) != 1+i+1+8 || len(v) < minValue {
			return fmt.Errorf("dlr: corrupt %s key %q", what, k)
		}
		fn(string(k[1:1+i]), binary.BigEndian.Uint64(k[len(k)-8:]), v)
	}
	return it.Error()
}
