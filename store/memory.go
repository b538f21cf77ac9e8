package store

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sort"
	"sync"
)

// ErrTxnDone is returned by Txn methods called after the Update function
// that received the Txn has returned.
var ErrTxnDone = errors.New("store: transaction used after its update returned")

// Memory is an in-memory, ordered Store for tests and the wasm build. It is
// never durable.
//
// Entries live in one sorted slice; stored keys and values are immutable
// copies, so readers iterate over a snapshot of slice headers taken under
// a read lock and never block writers. Update transactions run one at a
// time: fn must use its Txn, not the Memory it came from, or it deadlocks.
type Memory struct {
	writeMu sync.Mutex   // serialises Update (and Set/Delete, which are Updates)
	mu      sync.RWMutex // guards data and closed
	data    []entry      // sorted by key, keys unique
	closed  bool
}

type entry struct {
	key, val []byte // immutable once stored
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory store. Callers that need the schema
// version key call CheckSchema, as the Badger opener does.
func NewMemory() *Memory { return &Memory{} }

// search returns the index of the first entry with key >= k.
func search(data []entry, k []byte) int {
	return sort.Search(len(data), func(i int) bool { return bytes.Compare(data[i].key, k) >= 0 })
}

// span returns the entries with the given prefix.
func span(data []entry, prefix []byte) []entry {
	lo := search(data, prefix)
	hi := len(data)
	if end := PrefixEnd(prefix); end != nil {
		hi = search(data, end)
	}
	return data[lo:hi]
}

func (m *Memory) lookup(key []byte) ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	i := search(m.data, key)
	if i < len(m.data) && bytes.Equal(m.data[i].key, key) {
		return bytes.Clone(m.data[i].val), nil
	}
	return nil, ErrNotFound
}

// snapshot copies the entry headers under prefix; the bytes they point at
// are immutable, so the copy stays valid after the lock is released.
func (m *Memory) snapshot(prefix []byte) ([]entry, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	return slices.Clone(span(m.data, prefix)), nil
}

// Get implements Store.
func (m *Memory) Get(ctx context.Context, key []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return m.lookup(key)
}

// Set implements Store.
func (m *Memory) Set(ctx context.Context, key, value []byte) error {
	return m.Update(ctx, func(tx Txn) error { return tx.Set(key, value) })
}

// Delete implements Store.
func (m *Memory) Delete(ctx context.Context, key []byte) error {
	return m.Update(ctx, func(tx Txn) error { return tx.Delete(key) })
}

// Iterate implements Store. It iterates over a snapshot taken when it
// starts, so fn may write to m.
func (m *Memory) Iterate(ctx context.Context, prefix []byte, reverse bool, fn func(key, value []byte) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	snap, err := m.snapshot(prefix)
	if err != nil {
		return err
	}
	if reverse {
		slices.Reverse(snap)
	}
	return visit(ctx, snap, fn)
}

// IterateFrom implements Seeker: it copies the entry headers from the
// first key at or after from to the prefix's end, and iterates over them
// as Iterate does.
func (m *Memory) IterateFrom(ctx context.Context, prefix, from []byte, fn func(key, value []byte) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return ErrClosed
	}
	es := span(m.data, prefix)
	snap := slices.Clone(es[search(es, from):])
	m.mu.RUnlock()
	return visit(ctx, snap, fn)
}

// ValueSize implements ValueSizer: the length of the value at key,
// exactly.
func (m *Memory) ValueSize(ctx context.Context, key []byte) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return 0, ErrClosed
	}
	i := search(m.data, key)
	if i < len(m.data) && bytes.Equal(m.data[i].key, key) {
		return int64(len(m.data[i].val)), nil
	}
	return 0, ErrNotFound
}

// visit calls fn for each entry, checking ctx every 256 entries.
func visit(ctx context.Context, es []entry, fn func(key, value []byte) error) error {
	for i, e := range es {
		if i%256 == 255 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := fn(e.key, e.val); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

// Update implements Store. Writes are buffered in the Txn and applied under
// one lock after fn succeeds and ctx is still live.
func (m *Memory) Update(ctx context.Context, fn func(tx Txn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	m.mu.RLock()
	closed := m.closed
	m.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	tx := &memTxn{ctx: ctx, m: m, pending: map[string][]byte{}, deleted: map[string]bool{}}
	err := fn(tx)
	tx.done = true
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return m.commit(tx)
}

func (m *Memory) commit(tx *memTxn) error {
	writes := tx.sorted(nil)
	if len(writes) == 0 {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if len(writes) <= 16 {
		for _, w := range writes {
			i := search(m.data, w.key)
			found := i < len(m.data) && bytes.Equal(m.data[i].key, w.key)
			switch {
			case w.val == nil && found:
				m.data = slices.Delete(m.data, i, i+1)
			case w.val != nil && found:
				m.data[i].val = w.val
			case w.val != nil:
				m.data = slices.Insert(m.data, i, w)
			}
		}
		return nil
	}
	m.data = merge(m.data, writes)
	return nil
}

// merge returns base with the sorted writes applied; a write with a nil
// val is a deletion.
func merge(base, writes []entry) []entry {
	out := make([]entry, 0, len(base)+len(writes))
	i, j := 0, 0
	for i < len(base) || j < len(writes) {
		var c int
		switch {
		case i == len(base):
			c = 1
		case j == len(writes):
			c = -1
		default:
			c = bytes.Compare(base[i].key, writes[j].key)
		}
		switch {
		case c < 0:
			out = append(out, base[i])
			i++
		default:
			if writes[j].val != nil {
				out = append(out, writes[j])
			}
			if c == 0 {
				i++
			}
			j++
		}
	}
	return out
}

// Close implements Store. It drops the data.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.data = nil
	return nil
}

// memTxn buffers writes: pending holds values (never nil), deleted marks
// tombstones; a key is in at most one of them.
type memTxn struct {
	ctx     context.Context
	m       *Memory
	pending map[string][]byte
	deleted map[string]bool
	done    bool
}

func (tx *memTxn) Get(key []byte) ([]byte, error) {
	if tx.done {
		return nil, ErrTxnDone
	}
	if v, ok := tx.pending[string(key)]; ok {
		return bytes.Clone(v), nil
	}
	if tx.deleted[string(key)] {
		return nil, ErrNotFound
	}
	return tx.m.lookup(key)
}

func (tx *memTxn) Set(key, value []byte) error {
	if tx.done {
		return ErrTxnDone
	}
	if err := CheckKey(key); err != nil {
		return err
	}
	v := make([]byte, len(value)) // non-nil even when empty: nil marks deletion in merge
	copy(v, value)
	delete(tx.deleted, string(key))
	tx.pending[string(key)] = v
	return nil
}

func (tx *memTxn) Delete(key []byte) error {
	if tx.done {
		return ErrTxnDone
	}
	if err := CheckKey(key); err != nil {
		return err
	}
	delete(tx.pending, string(key))
	tx.deleted[string(key)] = true
	return nil
}

// sorted returns the buffered writes under prefix in key order; deletions
// have a nil val.
func (tx *memTxn) sorted(prefix []byte) []entry {
	out := make([]entry, 0, len(tx.pending)+len(tx.deleted))
	for k, v := range tx.pending {
		if bytes.HasPrefix([]byte(k), prefix) {
			out = append(out, entry{key: []byte(k), val: v})
		}
	}
	for k := range tx.deleted {
		if bytes.HasPrefix([]byte(k), prefix) {
			out = append(out, entry{key: []byte(k)})
		}
	}
	slices.SortFunc(out, func(a, b entry) int { return bytes.Compare(a.key, b.key) })
	return out
}

// Iterate sees the committed data merged with this transaction's writes,
// as they were when Iterate started.
func (tx *memTxn) Iterate(prefix []byte, reverse bool, fn func(key, value []byte) error) error {
	if tx.done {
		return ErrTxnDone
	}
	if err := tx.ctx.Err(); err != nil {
		return err
	}
	base, err := tx.m.snapshot(prefix)
	if err != nil {
		return err
	}
	view := merge(base, tx.sorted(prefix))
	if reverse {
		slices.Reverse(view)
	}
	return visit(tx.ctx, view, fn)
}
