// Package recent keeps the values of the keys put last, for the stores
// of dlr. It starts no goroutines.
package recent

// Ring keeps the values of the last n keys put, so that a receipt
// arriving soon after its message (most do) is matched without reading
// the store; the oldest key makes way for each new one. A key put again
// keeps its newer value when the place of its older putting comes round.
// It is not safe for concurrent use: its owner locks.
type Ring[K comparable, V any] struct {
	m    map[K]recentEntry[V]
	ring []K // keys in the order put, the oldest overwritten first
	next int
}

type recentEntry[V any] struct {
	v    V
	slot int // the place of its latest putting in ring
}

// New returns a Ring of n keys.
func New[K comparable, V any](n int) *Ring[K, V] {
	return &Ring[K, V]{m: make(map[K]recentEntry[V]), ring: make([]K, n)}
}

// Put keeps v under k, forgetting the oldest key when the ring is full.
func (r *Ring[K, V]) Put(k K, v V) {
	if e, ok := r.m[r.ring[r.next]]; ok && e.slot == r.next {
		delete(r.m, r.ring[r.next])
	}
	r.ring[r.next] = k
	r.m[k] = recentEntry[V]{v: v, slot: r.next}
	r.next = (r.next + 1) % len(r.ring)
}

// Replace changes the value kept under k, keeping its place in the ring,
// and reports whether k is kept.
func (r *Ring[K, V]) Replace(k K, v V) bool {
	e, ok := r.m[k]
	if ok {
		e.v = v
		r.m[k] = e
	}
	return ok
}

// Remove forgets k; its place in the ring is taken in turn as before.
func (r *Ring[K, V]) Remove(k K) { delete(r.m, k) }

// Get returns the value kept under k.
func (r *Ring[K, V]) Get(k K) (V, bool) {
	e, ok := r.m[k]
	return e.v, ok
}

// Len returns how many keys are kept.
func (r *Ring[K, V]) Len() int { return len(r.m) }
