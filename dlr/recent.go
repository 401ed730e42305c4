package dlr

// recent keeps the values of the last n keys put, so that a receipt
// arriving soon after its message (most do) is matched without reading
// the store; the oldest key makes way for each new one. A key put again
// keeps its newer value when the place of its older putting comes round.
// It is not safe for concurrent use: its owner locks.
type recent[K comparable, V any] struct {
	m    map[K]recentEntry[V]
	ring []K // keys in the order put, the oldest overwritten first
	next int
}

type recentEntry[V any] struct {
	v    V
	slot int // the place of its latest putting in ring
}

func newRecent[K comparable, V any](n int) *recent[K, V] {
	return &recent[K, V]{m: make(map[K]recentEntry[V]), ring: make([]K, n)}
}

func (r *recent[K, V]) put(k K, v V) {
	if e, ok := r.m[r.ring[r.next]]; ok && e.slot == r.next {
		delete(r.m, r.ring[r.next])
	}
	r.ring[r.next] = k
	r.m[k] = recentEntry[V]{v: v, slot: r.next}
	r.next = (r.next + 1) % len(r.ring)
}

// remove forgets k; its place in the ring is taken in turn as before.
func (r *recent[K, V]) remove(k K) { delete(r.m, k) }

func (r *recent[K, V]) get(k K) (V, bool) {
	e, ok := r.m[k]
	return e.v, ok
}

func (r *recent[K, V]) len() int { return len(r.m) }
