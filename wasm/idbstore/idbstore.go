//go:build js && wasm

package idbstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"syscall/js"

	"github.com/segue-fm/segue/store"
)

// objectStore is the one IndexedDB object store the data lives in.
const objectStore = "kv"

// ErrIndexedDB wraps an IndexedDB failure.
var ErrIndexedDB = errors.New("idbstore: indexeddb")

// Store is a store.Store over one IndexedDB database.
type Store struct {
	db     js.Value
	name   string
	write  sync.Mutex // serializes Set, Delete and Update
	mu     sync.Mutex
	closed bool
	// read counts the entries Iterate and Txn.Iterate read from the
	// database (for the tests).
	read atomic.Int64
	// noWebLock: Updates take no Web Lock (BenchmarkAppend's baseline).
	noWebLock bool
}

// firstChunk and maxChunk bound how many entries Iterate reads from the
// database at a time: the first read takes firstChunk, each next one
// twice the last, up to maxChunk, so an iteration that stops early costs
// about what it visited and a full one few round trips.
const (
	firstChunk = 64
	maxChunk   = 4096
)

var _ store.Store = (*Store)(nil)

// await waits for an IDBRequest (or an IDBTransaction when done is
// "complete") and returns its result.
func await(ctx context.Context, target js.Value, ok, fail string, result func() js.Value) (js.Value, error) {
	type outcome struct {
		v   js.Value
		err error
	}
	ch := make(chan outcome, 1)
	var onOK, onFail js.Func
	onOK = js.FuncOf(func(js.Value, []js.Value) any {
		ch <- outcome{v: result()}
		return nil
	})
	onFail = js.FuncOf(func(js.Value, []js.Value) any {
		msg := "unknown error"
		if e := target.Get("error"); e.Truthy() {
			msg = e.Get("message").String()
		}
		ch <- outcome{err: fmt.Errorf("%w: %s", ErrIndexedDB, msg)}
		return nil
	})
	defer onOK.Release()
	defer onFail.Release()
	target.Set(ok, onOK)
	target.Set(fail, onFail)
	if fail == "onerror" && target.Get("onabort").Type() != js.TypeUndefined {
		target.Set("onabort", onFail)
	}
	select {
	case o := <-ch:
		return o.v, o.err
	case <-ctx.Done():
		// The request still completes; its callbacks find the buffered
		// channel and are released after it.
		go func() { <-ch }()
		return js.Undefined(), ctx.Err()
	}
}

func request(ctx context.Context, req js.Value) (js.Value, error) {
	return await(ctx, req, "onsuccess", "onerror", func() js.Value { return req.Get("result") })
}

// Open opens (creating it if needed) the IndexedDB database name.
func Open(ctx context.Context, name string) (*Store, error) {
	idb := js.Global().Get("indexedDB")
	if !idb.Truthy() {
		return nil, fmt.Errorf("%w: not available", ErrIndexedDB)
	}
	req := idb.Call("open", name, 1)
	up := js.FuncOf(func(js.Value, []js.Value) any {
		req.Get("result").Call("createObjectStore", objectStore)
		return nil
	})
	defer up.Release()
	req.Set("onupgradeneeded", up)
	db, err := request(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("idbstore: open %q: %w", name, err)
	}
	return &Store{db: db, name: name}, nil
}

func (s *Store) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	return nil
}

func checkKey(k []byte) error { return store.CheckKey(k) }

func toJS(b []byte) js.Value {
	u := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(u, b)
	return u.Get("buffer")
}

func fromJS(v js.Value) []byte {
	u := js.Global().Get("Uint8Array").New(v)
	b := make([]byte, u.Length())
	js.CopyBytesToGo(b, u)
	return b
}

func (s *Store) tx(mode string) js.Value {
	opts := js.ValueOf(map[string]any{"durability": "strict"})
	return s.db.Call("transaction", objectStore, mode, opts)
}

// get reads one key outside any write transaction.
func (s *Store) get(ctx context.Context, key []byte) ([]byte, error) {
	v, err := request(ctx, s.tx("readonly").Call("objectStore", objectStore).Call("get", toJS(key)))
	if err != nil {
		return nil, err
	}
	if v.IsUndefined() {
		return nil, store.ErrNotFound
	}
	return fromJS(v), nil
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, key []byte) ([]byte, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	return s.get(ctx, key)
}

// kv is one entry read from the database.
type kv struct{ k, v []byte }

// keyRange returns the IDBKeyRange of the keys with prefix that come
// after the key after (none when nil) in the direction of reverse, or
// null for every key.
func keyRange(prefix, after []byte, reverse bool) js.Value {
	ctor := js.Global().Get("IDBKeyRange")
	lo, loOpen := prefix, false
	hi := prefixEnd(prefix) // nil: no upper bound
	hiOpen := true
	if after != nil {
		if reverse {
			hi = after
		} else {
			lo, loOpen = after, true
		}
	}
	switch {
	case len(lo) == 0 && hi == nil:
		return js.Null()
	case hi == nil:
		return ctor.Call("lowerBound", toJS(lo), loOpen)
	case len(lo) == 0:
		return ctor.Call("upperBound", toJS(hi), hiOpen)
	}
	return ctor.Call("bound", toJS(lo), toJS(hi), loOpen, hiOpen)
}

// chunk reads at most n entries with prefix after the key after (from
// the first when nil), ascending or, with reverse, descending, in one
// readonly transaction.
func (s *Store) chunk(ctx context.Context, prefix, after []byte, reverse bool, n int) ([]kv, error) {
	os := s.tx("readonly").Call("objectStore", objectStore)
	rng := keyRange(prefix, after, reverse)
	var out []kv
	if !reverse {
		keys, err := request(ctx, os.Call("getAllKeys", rng, n))
		if err != nil {
			return nil, err
		}
		vals, err := request(ctx, os.Call("getAll", rng, n))
		if err != nil {
			return nil, err
		}
		if keys.Length() != vals.Length() {
			return nil, fmt.Errorf("%w: %d keys, %d values", ErrIndexedDB, keys.Length(), vals.Length())
		}
		out = make([]kv, keys.Length())
		for i := range out {
			out[i] = kv{fromJS(keys.Index(i)), fromJS(vals.Index(i))}
		}
	} else {
		var err error
		if out, err = cursor(ctx, os.Call("openCursor", rng, "prev"), n); err != nil {
			return nil, err
		}
	}
	s.read.Add(int64(len(out)))
	return out, nil
}

// cursor collects at most n entries from the IDBCursorWithValue request
// req (getAll has no descending order).
func cursor(ctx context.Context, req js.Value, n int) ([]kv, error) {
	var out []kv
	done := make(chan error, 1)
	var onOK, onFail js.Func
	onOK = js.FuncOf(func(js.Value, []js.Value) any {
		c := req.Get("result")
		if c.IsNull() {
			done <- nil
			return nil
		}
		out = append(out, kv{fromJS(c.Get("key")), fromJS(c.Get("value"))})
		if len(out) >= n {
			done <- nil
			return nil
		}
		c.Call("continue")
		return nil
	})
	onFail = js.FuncOf(func(js.Value, []js.Value) any {
		msg := "unknown error"
		if e := req.Get("error"); e.Truthy() {
			msg = e.Get("message").String()
		}
		done <- fmt.Errorf("%w: %s", ErrIndexedDB, msg)
		return nil
	})
	req.Set("onsuccess", onOK)
	req.Set("onerror", onFail)
	select {
	case err := <-done:
		onOK.Release()
		onFail.Release()
		return out, err
	case <-ctx.Done():
		// Not continued, the cursor's transaction ends; release the
		// callbacks once it has answered.
		go func() {
			<-done
			onOK.Release()
			onFail.Release()
		}()
		return nil, ctx.Err()
	}
}

// prefixEnd returns the least key greater than every key with prefix, or
// nil when there is none (all 0xff).
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// iterate calls fn for the entries under prefix read from the database
// chunk by chunk (firstChunk, then doubling up to maxChunk), with over's
// entries (sorted ascending; nil value: deleted) laid over them.
func (s *Store) iterate(ctx context.Context, prefix []byte, reverse bool, over []overlay, fn func(k, v []byte) error) error {
	if reverse {
		slices.Reverse(over)
	}
	// before reports whether a comes before b in the iteration's order.
	before := func(a, b []byte) bool {
		if reverse {
			return bytes.Compare(a, b) > 0
		}
		return bytes.Compare(a, b) < 0
	}
	visit := func(k, v []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return fn(k, v)
	}
	var after []byte
	n := firstChunk
	for {
		entries, err := s.chunk(ctx, prefix, after, reverse, n)
		if err != nil {
			return err
		}
		for _, e := range entries {
			for len(over) > 0 && before(over[0].k, e.k) {
				if over[0].v != nil {
					if err := visit(over[0].k, *over[0].v); err != nil {
						return err
					}
				}
				over = over[1:]
			}
			if len(over) > 0 && bytes.Equal(over[0].k, e.k) {
				o := over[0]
				over = over[1:]
				if o.v == nil {
					continue
				}
				e.v = *o.v
			}
			if err := visit(e.k, e.v); err != nil {
				return err
			}
		}
		if len(entries) < n {
			break
		}
		after = entries[len(entries)-1].k
		n = min(2*n, maxChunk)
	}
	for _, o := range over {
		if o.v != nil {
			if err := visit(o.k, *o.v); err != nil {
				return err
			}
		}
	}
	return nil
}

// overlay is an Update's buffered write (nil v: deleted).
type overlay struct {
	k []byte
	v *[]byte
}

// stopped turns store.ErrStop into the end of an iteration.
func stopped(err error) error {
	if errors.Is(err, store.ErrStop) {
		return nil
	}
	return err
}

// Iterate implements store.Store. The entries are read in chunks
// (firstChunk, doubling up to maxChunk), each in its own readonly
// transaction, so fn may call the store and an iteration that stops
// early reads about what it visited; a write made during the iteration
// to a key it has not reached yet is seen (IndexedDB keeps no snapshot
// across transactions).
func (s *Store) Iterate(ctx context.Context, prefix []byte, reverse bool, fn func(k, v []byte) error) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	return stopped(s.iterate(ctx, prefix, reverse, nil, fn))
}

// Count returns how many keys k the database holds with lo ≤ k < hi, in
// one IndexedDB request (IDBObjectStore.count): no key or value is copied
// out, so counting the play queue (playlog.Queue.Len) costs the same
// whatever it holds.
func (s *Store) Count(ctx context.Context, lo, hi []byte) (int, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	if bytes.Compare(lo, hi) >= 0 {
		return 0, nil
	}
	rng := js.Global().Get("IDBKeyRange").Call("bound", toJS(lo), toJS(hi), false, true)
	n, err := request(ctx, s.tx("readonly").Call("objectStore", objectStore).Call("count", rng))
	if err != nil {
		return 0, err
	}
	return n.Int(), nil
}

// Set implements store.Store.
func (s *Store) Set(ctx context.Context, key, value []byte) error {
	return s.Update(ctx, func(tx store.Txn) error { return tx.Set(key, value) })
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, key []byte) error {
	return s.Update(ctx, func(tx store.Txn) error { return tx.Delete(key) })
}

// Update implements store.Store.
func (s *Store) Update(ctx context.Context, fn func(tx store.Txn) error) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	s.write.Lock()
	defer s.write.Unlock()
	// The tabs of one origin share the database: their Updates are
	// serialized too, so one's reads and writes are not interleaved with
	// another's.
	if !s.noWebLock {
		unlock, err := WebLock(ctx, LockName(s.name))
		if err != nil {
			return err
		}
		defer unlock()
	}
	t := &txn{s: s, ctx: ctx, writes: map[string]*[]byte{}}
	t.live = true
	err := fn(t)
	t.live = false
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(t.writes) == 0 {
		return nil
	}
	itx := s.tx("readwrite")
	os := itx.Call("objectStore", objectStore)
	for k, v := range t.writes {
		if v == nil {
			os.Call("delete", toJS([]byte(k)))
		} else {
			os.Call("put", toJS(*v), toJS([]byte(k)))
		}
	}
	// Once issued, the transaction commits even if ctx ends: wait for it
	// so the caller learns the outcome.
	if _, err := await(context.WithoutCancel(ctx), itx, "oncomplete", "onerror", js.Undefined); err != nil {
		return fmt.Errorf("idbstore: commit: %w", err)
	}
	return nil
}

// Close implements store.Store.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		s.db.Call("close")
	}
	return nil
}

// txn buffers an Update's writes (nil value: deleted).
type txn struct {
	s      *Store
	ctx    context.Context
	writes map[string]*[]byte
	live   bool
}

func (t *txn) Get(key []byte) ([]byte, error) {
	if !t.live {
		return nil, store.ErrTxnDone
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if v, ok := t.writes[string(key)]; ok {
		if v == nil {
			return nil, store.ErrNotFound
		}
		return bytes.Clone(*v), nil
	}
	return t.s.get(t.ctx, key)
}

func (t *txn) Set(key, value []byte) error {
	if !t.live {
		return store.ErrTxnDone
	}
	if err := checkKey(key); err != nil {
		return err
	}
	v := bytes.Clone(value)
	if v == nil {
		v = []byte{}
	}
	t.writes[string(key)] = &v
	return nil
}

func (t *txn) Delete(key []byte) error {
	if !t.live {
		return store.ErrTxnDone
	}
	if err := checkKey(key); err != nil {
		return err
	}
	t.writes[string(key)] = nil
	return nil
}

func (t *txn) Iterate(prefix []byte, reverse bool, fn func(k, v []byte) error) error {
	if !t.live {
		return store.ErrTxnDone
	}
	var over []overlay
	for k, v := range t.writes {
		if bytes.HasPrefix([]byte(k), prefix) {
			over = append(over, overlay{[]byte(k), v})
		}
	}
	slices.SortFunc(over, func(a, b overlay) int { return bytes.Compare(a.k, b.k) })
	return stopped(t.s.iterate(t.ctx, prefix, reverse, over, fn))
}
