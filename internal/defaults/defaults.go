// Package defaults fills the settings a component's caller left unset.
// It starts no goroutines.
package defaults

// Number is what a count, a size or a duration setting is.
type Number interface {
	~int | ~int64 | ~uint64 | ~float64
}

// Positive sets *v to d unless *v is more than zero: a zero (unset) or
// negative setting takes the default.
func Positive[T Number](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}
