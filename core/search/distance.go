package search

// distance returns the optimal-string-alignment (Damerau–Levenshtein with
// an adjacent swap counting as one edit, no edits inside a swapped pair)
// distance between query q and target t, or max+1 when it exceeds max.
// With prefix set it is the distance between q and the closest prefix of t,
// and n is the length of that prefix in runes; otherwise n is len(t).
func distance(q, t []rune, max int, prefix bool) (d, n int) {
	m := len(t)
	if !prefix {
		diff := len(q) - m
		if diff < 0 {
			diff = -diff
		}
		if diff > max {
			return max + 1, m
		}
	} else if m > len(q)+max {
		// A prefix longer than len(q)+max is never the closest.
		m = len(q) + max
	}
	var stack [3 * 64]int
	var rows []int
	if 3*(m+1) <= len(stack) {
		rows = stack[:3*(m+1)]
	} else {
		rows = make([]int, 3*(m+1))
	}
	prev2, prev, cur := rows[:m+1], rows[m+1:2*(m+1)], rows[2*(m+1):]
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(q); i++ {
		cur[0] = i
		rowMin := i
		for j := 1; j <= m; j++ {
			cost := 1
			if q[i-1] == t[j-1] {
				cost = 0
			}
			v := prev[j-1] + cost
			if x := prev[j] + 1; x < v {
				v = x
			}
			if x := cur[j-1] + 1; x < v {
				v = x
			}
			if i > 1 && j > 1 && q[i-1] == t[j-2] && q[i-2] == t[j-1] {
				if x := prev2[j-2] + 1; x < v {
					v = x
				}
			}
			cur[j] = v
			if v < rowMin {
				rowMin = v
			}
		}
		if rowMin > max {
			return max + 1, m
		}
		prev2, prev, cur = prev, cur, prev2
	}
	if !prefix {
		if prev[m] > max {
			return max + 1, m
		}
		return prev[m], m
	}
	best, bestN := max+1, m
	for j := 0; j <= m; j++ {
		if prev[j] < best {
			best, bestN = prev[j], j
		}
	}
	if best > max {
		return max + 1, m
	}
	return best, bestN
}
