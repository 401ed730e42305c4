package dlr

// Result says what looking a receipt's message up found.
type Result int8

// Lookup results.
const (
	// NotFound: no mapping, or one whose write is still under way.
	NotFound Result = iota
	// Found: the mapping of the id as written, or the only one of its
	// folded form.
	Found
	// Ambiguous: no mapping of the id as written, and several of its
	// folded form: the receipt is delivered to none of them.
	Ambiguous
)

var resultNames = [...]string{"not found", "found", "ambiguous"}

func (r Result) String() string {
	if r >= 0 && int(r) < len(resultNames) {
		return resultNames[r]
	}
	return "unknown"
}

// foldedResult turns a count of folded matches into a Result.
func foldedResult(n int) Result {
	switch {
	case n == 1:
		return Found
	case n > 1:
		return Ambiguous
	}
	return NotFound
}

// Find looks up the message ref names in s: ref.ID octet for octet first
// (one lookup, the common case); when that misses and ref allows folding,
// the mappings whose id folds to ref.Folded, taking one only when it is
// the only one.
func Find(s Store, upstream string, ref Ref) (Origin, Result, error) {
	route, ok, err := s.Get(upstream, ref.ID)
	if ok || err != nil || ref.Folded == "" {
		return route, found(ok), err
	}
	route, n, err := s.GetFolded(upstream, ref.Folded)
	return route, foldedResult(n), err
}

func found(ok bool) Result {
	if ok {
		return Found
	}
	return NotFound
}
