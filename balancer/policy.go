package balancer

// A policy only orders members; it never sends. order appends to dst the
// indexes of the members to try for one message, best first, choosing from
// cands, the members available now with their effective weights.

type candidate struct {
	index  int
	weight float64 // effective weight, > 0
}

// orderPriority keeps configuration order: the first available member takes
// everything, the others stand by.
func orderPriority(dst []int, cands []candidate) []int {
	for _, c := range cands {
		dst = append(dst, c.index)
	}
	return dst
}

// orderWeighted picks one member by smooth weighted round robin (as in
// nginx: every candidate gains its effective weight, the richest is chosen
// and pays the total) and lists the others after it by weight, heaviest
// first. current holds the round robin state by member index.
func orderWeighted(dst []int, cands []candidate, current []float64) []int {
	if len(cands) == 0 {
		return dst
	}
	total, best := 0.0, -1
	for i, c := range cands {
		current[c.index] += c.weight
		total += c.weight
		if best < 0 || current[c.index] > current[cands[best].index] {
			best = i
		}
	}
	current[cands[best].index] -= total
	start := len(dst)
	dst = append(dst, cands[best].index)
	for i, c := range cands {
		if i == best {
			continue
		}
		// Insertion by weight keeps the fallbacks in a useful order
		// without allocating.
		j := len(dst)
		dst = append(dst, c.index)
		for j > start+1 && weightOf(cands, dst[j-1]) < c.weight {
			dst[j] = dst[j-1]
			j--
		}
		dst[j] = c.index
	}
	return dst
}

func weightOf(cands []candidate, index int) float64 {
	for _, c := range cands {
		if c.index == index {
			return c.weight
		}
	}
	return 0
}
