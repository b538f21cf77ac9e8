package events

import "sync"

// tail keeps the most recently committed entries of a StoreLog in
// memory, as Read would decode them from the store, so that a consumer
// keeping up with the appends reads them without a store read or a CBOR
// decode. It is a ring of max entries holding the contiguous offsets
// [start, start+n); the entry at offset o is in ring[o % max].
type tail struct {
	mu    sync.Mutex
	max   int
	ring  []Entry // allocated at the first add
	start uint64
	n     int
}

// add records es, the entries of one commit at consecutive offsets,
// dropping the oldest beyond max; a gap after the cached range restarts
// the cache at es.
func (t *tail) add(es []Entry) {
	if len(es) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ring == nil {
		t.ring = make([]Entry, t.max)
	}
	if es[0].Offset != t.start+uint64(t.n) {
		t.start, t.n = es[0].Offset, 0
	}
	if len(es) > t.max {
		es = es[len(es)-t.max:]
		t.start, t.n = es[0].Offset, 0
	}
	for len(es) > 0 {
		at := int(es[0].Offset % uint64(t.max))
		c := copy(t.ring[at:], es)
		es = es[c:]
		t.n += c
	}
	if t.n > t.max {
		t.start += uint64(t.n - t.max)
		t.n = t.max
	}
}

// read appends the cached entries from offset from on, at most limit, to
// out, and reports whether from was cached (then at least one entry was
// appended).
func (t *tail) read(out []Entry, from uint64, limit int) ([]Entry, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if from < t.start || from >= t.start+uint64(t.n) {
		return out, false
	}
	left := min(limit, int(t.start+uint64(t.n)-from))
	for left > 0 {
		at := int(from % uint64(t.max))
		seg := t.ring[at:min(len(t.ring), at+left)]
		out = append(out, seg...)
		from += uint64(len(seg))
		left -= len(seg)
	}
	return out, true
}
