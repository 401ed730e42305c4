package pebblestore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/smppmux/smppmux/dlr"
)

func mappingKey(upstream, folded, id string) []byte {
	return appendMappingKey(make([]byte, 0, 3+len(upstream)+len(folded)+len(id)), upstream, folded, id)
}

func appendMappingKey(k []byte, upstream, folded, id string) []byte {
	k = appendFoldedPrefix(k, upstream, folded)
	return append(k, id...)
}

// appendFoldedPrefix appends the start shared by the mapping keys of the
// ids of one folded form.
func appendFoldedPrefix(k []byte, upstream, folded string) []byte {
	k = append(k, kindMapping)
	k = append(k, upstream...)
	k = append(k, 0)
	k = append(k, folded...)
	return append(k, 0)
}

// oldMappingKey is the key of a mapping of the earlier layout.
func oldMappingKey(upstream, folded string) []byte {
	k := make([]byte, 0, 2+len(upstream)+len(folded))
	k = append(k, kindOldMapping)
	k = append(k, upstream...)
	k = append(k, 0)
	return append(k, folded...)
}

func clientKeyBytes(systemID, clientID string) []byte {
	return appendClientKey(make([]byte, 0, 2+len(systemID)+len(clientID)), systemID, clientID)
}

func appendClientKey(k []byte, systemID, clientID string) []byte {
	k = append(k, kindClient)
	k = append(k, systemID...)
	k = append(k, 0)
	return append(k, clientID...)
}

// PutMapping implements dlr.Store.
func (s *Store) PutMapping(m dlr.Mapping, done func(error)) {
	s.putMapping(m, nil, done)
}

// putMapping writes m, and deletes qkey, a queued message's key, in the
// same batch when it is set.
func (s *Store) putMapping(m dlr.Mapping, qkey []byte, done func(error)) {
	if len(m.SystemID) > 255 || len(m.Upstream) > 255 {
		done(fmt.Errorf("dlr: names longer than 255 octets"))
		return
	}
	if strings.IndexByte(m.UpstreamID, 0) >= 0 {
		done(errNULInID)
		return
	}
	op := writeOp{kind: kindMapping, done: done, m: m, folded: dlr.FoldID(m.UpstreamID), qkey: qkey}
	s.umu.Lock()
	k := op.mapping()
	p := s.unsynced[k]
	if p.n == 0 {
		p.id = m.UpstreamID
	} else if p.id != m.UpstreamID {
		p.mixed = true
	}
	p.n++
	s.unsynced[k] = p
	s.umu.Unlock()
	s.enqueue(op)
}

func (s *Store) get(key []byte) ([]byte, bool, error) {
	d, err := s.acquire()
	if err != nil {
		return nil, false, err
	}
	defer d.release()
	v, closer, err := d.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := bytes.Clone(v)
	_ = closer.Close()
	return out, true, nil
}

func (s *Store) isUnsynced(upstream, id string) bool {
	s.umu.Lock()
	defer s.umu.Unlock()
	return s.unsyncedLocked(upstream, dlr.FoldID(id), id)
}

// unsyncedLocked reports whether a write of the mapping of id, whose
// folded form is folded, may be queued. Called with umu held.
func (s *Store) unsyncedLocked(upstream, folded, id string) bool {
	if len(s.unsynced) == 0 {
		return false
	}
	p, ok := s.unsynced[idKey{upstream, folded}]
	return ok && (p.mixed || p.id == id)
}

// settledLocked ends the unsynced state of one write of k. Called with
// umu held.
func (s *Store) settledLocked(k idKey) {
	if k == (idKey{}) {
		return
	}
	if p := s.unsynced[k]; p.n > 1 {
		p.n--
		s.unsynced[k] = p
	} else {
		delete(s.unsynced, k)
	}
}

func (s *Store) expired(v []byte) bool {
	return len(v) < 8 || int64(binary.BigEndian.Uint64(v)) <= s.cfg.Now().UnixNano()
}

// Get implements dlr.Store. A mapping whose write is not committed yet is
// not found: its writer learns when it is, through PutMapping's done. One
// of the last committed is found in memory.
func (s *Store) Get(upstream, id string) (dlr.Origin, bool, error) {
	folded := dlr.FoldID(id)
	s.umu.Lock()
	if s.unsyncedLocked(upstream, folded, id) {
		s.umu.Unlock()
		return dlr.Origin{}, false, nil
	}
	r, ok := s.recent.Get(idKey{upstream, id})
	s.umu.Unlock()
	if !ok {
		return s.route(upstream, folded, id)
	}
	if r.expires <= s.cfg.Now().UnixNano() {
		return dlr.Origin{}, false, nil
	}
	return r.Origin, true, nil
}

// rememberLocked keeps the route of a committed mapping in recent,
// forgetting the oldest. Called with umu held.
func (s *Store) rememberLocked(m *dlr.Mapping) {
	k := idKey{m.Upstream, m.UpstreamID}
	_, again := s.recent.Get(k)
	s.recent.Put(k, recentRoute{Origin: m.Origin, expires: m.Expires.UnixNano(), rewritten: again})
}

// GetFolded implements dlr.Store: a range of the mappings of one folded
// form, and the mapping of the earlier layout under it while there may
// be some.
func (s *Store) GetFolded(upstream, folded string) (dlr.Origin, int, error) {
	s.umu.Lock()
	_, pending := s.unsynced[idKey{upstream, folded}]
	s.umu.Unlock()
	if pending {
		return dlr.Origin{}, 0, nil
	}
	d, err := s.acquire()
	if err != nil {
		return dlr.Origin{}, 0, err
	}
	defer d.release()
	lower := appendFoldedPrefix(nil, upstream, folded)
	upper := bytes.Clone(lower)
	upper[len(upper)-1]++
	it, err := d.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return dlr.Origin{}, 0, err
	}
	var route dlr.Origin
	n := 0
	for it.First(); it.Valid() && n < 2; it.Next() {
		v := it.Value()
		if s.expired(v) {
			continue
		}
		if route, err = decodeRoute(v); err != nil {
			_ = it.Close()
			return dlr.Origin{}, 0, fmt.Errorf("dlr: mapping %q: %w", it.Key(), err)
		}
		n++
	}
	err = errors.Join(it.Error(), it.Close())
	if err == nil && n < 2 && s.old.Load() {
		var r dlr.Origin
		var ok bool
		if r, ok, err = s.oldRoute(upstream, folded); ok {
			route = r
			n++
		}
	}
	if err != nil {
		return dlr.Origin{}, 0, err
	}
	if n > 1 {
		return dlr.Origin{}, 2, nil
	}
	return route, n, nil
}

// route reads the route of an upstream message from the database, by its
// exact id, or under its folded id as the earlier layout kept it.
func (s *Store) route(upstream, folded, id string) (dlr.Origin, bool, error) {
	v, ok, err := s.get(mappingKey(upstream, folded, id))
	if err != nil {
		return dlr.Origin{}, false, err
	}
	if !ok {
		if s.old.Load() {
			return s.oldRoute(upstream, folded)
		}
		return dlr.Origin{}, false, nil
	}
	if s.expired(v) {
		return dlr.Origin{}, false, nil
	}
	r, err := decodeRoute(v)
	if err != nil {
		return dlr.Origin{}, false, fmt.Errorf("dlr: mapping %s/%s: %w", upstream, id, err)
	}
	return r, true, nil
}

// oldRoute reads a mapping of the earlier layout.
func (s *Store) oldRoute(upstream, folded string) (dlr.Origin, bool, error) {
	v, ok, err := s.get(oldMappingKey(upstream, folded))
	if !ok || err != nil || s.expired(v) {
		return dlr.Origin{}, false, err
	}
	r, err := decodeRoute(v)
	if err != nil {
		return dlr.Origin{}, false, fmt.Errorf("dlr: mapping %s/%s: %w", upstream, folded, err)
	}
	return r, true, nil
}

var (
	errCorrupt = errors.New("corrupt record")
	// errNULInID refuses a message id no SMPP C-string can carry.
	errNULInID = errors.New("dlr: message id with a NUL octet")
)

// decodeRoute reads the route of a mapping's value.
func decodeRoute(v []byte) (dlr.Origin, error) {
	if len(v) < 25 || len(v) < 25+int(v[24]) {
		return dlr.Origin{}, errCorrupt
	}
	n := int(v[24])
	return dlr.Origin{
		Session:   binary.BigEndian.Uint64(v[8:16]),
		Submitted: int64(binary.BigEndian.Uint64(v[16:24])),
		SystemID:  string(v[25 : 25+n]),
		ClientID:  string(v[25+n:]),
	}, nil
}

// hasOldMappings reports whether a mapping of the earlier layout, or an
// entry of its expiry index, is stored in db, expired or not.
func hasOldMappings(db *pebble.DB) (bool, error) {
	return hasAny(db, kindOldMapping, kindOldExpiry)
}

// hasAny reports whether a key of one of kinds is stored in db.
func hasAny(db *pebble.DB, kinds ...byte) (bool, error) {
	for _, kind := range kinds {
		it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{kind}, UpperBound: []byte{kind + 1}})
		if err != nil {
			return false, err
		}
		found := it.First()
		if err := errors.Join(it.Error(), it.Close()); err != nil || found {
			return found, err
		}
	}
	return false, nil
}

// ByClient implements dlr.Store.
func (s *Store) ByClient(systemID, clientID string) (dlr.Mapping, bool, error) {
	v, ok, err := s.get(clientKeyBytes(systemID, clientID))
	if !ok || err != nil || s.expired(v) {
		return dlr.Mapping{}, false, err
	}
	if len(v) < 9 || len(v) < 9+int(v[8]) {
		return dlr.Mapping{}, false, fmt.Errorf("dlr: corrupt client mapping for %s/%s", systemID, clientID)
	}
	n := int(v[8])
	m := dlr.Mapping{
		Upstream:   string(v[9 : 9+n]),
		UpstreamID: string(v[9+n:]),
		Expires:    time.Unix(0, int64(binary.BigEndian.Uint64(v))),
	}
	// Read as stored: a write of the same upstream id under way (an id
	// the SMSC gave twice) does not hide a message its client asks about.
	r, ok, err := s.route(m.Upstream, dlr.FoldID(m.UpstreamID), m.UpstreamID)
	if !ok || err != nil {
		return dlr.Mapping{}, false, err
	}
	m.Origin = r
	return m, true, nil
}
