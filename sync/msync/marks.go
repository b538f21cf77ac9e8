package msync

import "slices"

// mark is one change's walk marks: since's epoch and flags,
// changesToSend's send, removeAncestors' and markHeld's seen. A mark
// counts only when it holds the current walk's epoch (Graph.epoch).
type mark struct {
	epoch, send, seen uint32
	flags             uint8
}

// Bounds of marks.
const (
	// sweepEvery is the number of walk epochs between two sweeps.
	sweepEvery = 1024
	// markTail is the number of newest changes whose marks a sweep
	// keeps.
	markTail = 512
)

// marks holds a graph's walk marks (16 bytes a change) for a window of
// its history, the changes from base on, made as walks reach them.
// Marks count only within the walk that made them, so a change outside
// the window is unmarked: every sweepEvery walks the window is cut to
// the newest markTail changes, so a graph holds marks for the changes
// its followers ask about, not for every change of its history, and
// walks that keep reaching deeper (a backlog) widen it again once per
// sweepEvery walks, not on each.
type marks struct {
	win  []mark
	base int32
	// swept is the epoch of the last sweep.
	swept uint32
}

// at returns the marks of the change at position p.
func (m *marks) at(p int32) *mark {
	i := int(p - m.base)
	if uint(i) >= uint(len(m.win)) {
		i = m.widen(p)
	}
	return &m.win[i]
}

// widen widens the window to hold p and returns p's index in it.
func (m *marks) widen(p int32) int {
	switch {
	case len(m.win) == 0:
		m.base = p
		m.win = make([]mark, 1, 16)
	case p < m.base:
		win := make([]mark, int(m.base-p)+len(m.win))
		copy(win[m.base-p:], m.win)
		m.win, m.base = win, p
	default:
		m.win = append(m.win, make([]mark, int(p-m.base)+1-len(m.win))...)
	}
	return int(p - m.base)
}

// span widens the window to hold the changes from lo up to n (a graph of
// n changes) and returns their marks: the marks of change p ≥ lo are
// at p-lo. The slice is valid until the next at, span or begin.
func (m *marks) span(lo int32, n int) []mark {
	m.at(lo)
	m.at(int32(n - 1))
	return m.win[lo-m.base:]
}

// begin records that the walks from epoch cur on run, on a graph of n
// changes, and sweeps the window when sweepEvery epochs passed since the
// last sweep.
func (m *marks) begin(cur uint32, n int) {
	if cur-m.swept < sweepEvery {
		return
	}
	m.swept = cur
	if keep := int32(max(0, n-markTail)); keep > m.base {
		cut := min(int(keep-m.base), len(m.win))
		m.win, m.base = slices.Clone(m.win[cut:]), m.base+int32(cut)
	}
}

// clear zeroes every mark held, for a walk counter that starts over.
func (m *marks) clear() {
	clear(m.win)
	m.swept = 0
}
