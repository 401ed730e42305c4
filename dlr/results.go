package dlr

// ExactResult is the Result of looking up an id as written: Found or
// NotFound. Stores that answer Find themselves (AsyncGetter) use it.
func ExactResult(ok bool) Result { return found(ok) }

// FoldedResult is the Result of looking up a folded form that n live
// mappings have.
func FoldedResult(n int) Result { return foldedResult(n) }
