package events

import "sync"

// tail keeps the most recently committed entries of a StoreLog in
// memory, as Read would decode them from the store, so that a consumer
// keeping up with the appends reads them without a store read or a CBOR
// decode. It holds a contiguous offset range [start, start+len(ents)).
type tail struct {
	mu    sync.Mutex
	max   int
	start uint64
	ents  []Entry
}

// add records es, the entries of one commit at consecutive offsets; a
// gap after the cached range restarts the cache at es. It keeps at least
// the last max entries.
func (t *tail) add(es []Entry) {
	if len(es) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if es[0].Offset != t.start+uint64(len(t.ents)) {
		t.start, t.ents = es[0].Offset, nil
	}
	t.ents = append(t.ents, es...)
	if over := len(t.ents) - t.max; over > t.max/2 {
		t.ents = append(make([]Entry, 0, t.max+t.max/2), t.ents[over:]...)
		t.start += uint64(over)
	}
}

// read appends the cached entries from offset from on, at most limit, to
// out, and reports whether from was cached (then at least one entry was
// appended).
func (t *tail) read(out []Entry, from uint64, limit int) ([]Entry, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if from < t.start || from >= t.start+uint64(len(t.ents)) {
		return out, false
	}
	i := from - t.start
	n := min(uint64(limit), uint64(len(t.ents))-i)
	return append(out, t.ents[i:i+n]...), true
}
