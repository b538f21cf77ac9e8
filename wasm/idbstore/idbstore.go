//go:build js && wasm

package idbstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
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
	write  sync.Mutex // serializes Set, Delete and Update
	mu     sync.Mutex
	closed bool
}

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
	return &Store{db: db}, nil
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

// scan reads every entry under prefix, in ascending order.
func (s *Store) scan(ctx context.Context, prefix []byte) ([]kv, error) {
	os := s.tx("readonly").Call("objectStore", objectStore)
	var rng js.Value
	if len(prefix) > 0 {
		if end := prefixEnd(prefix); end != nil {
			rng = js.Global().Get("IDBKeyRange").Call("bound", toJS(prefix), toJS(end), false, true)
		} else {
			rng = js.Global().Get("IDBKeyRange").Call("lowerBound", toJS(prefix))
		}
	} else {
		rng = js.Null()
	}
	keys, err := request(ctx, os.Call("getAllKeys", rng))
	if err != nil {
		return nil, err
	}
	vals, err := request(ctx, os.Call("getAll", rng))
	if err != nil {
		return nil, err
	}
	if keys.Length() != vals.Length() {
		return nil, fmt.Errorf("%w: %d keys, %d values", ErrIndexedDB, keys.Length(), vals.Length())
	}
	out := make([]kv, keys.Length())
	for i := range out {
		out[i] = kv{fromJS(keys.Index(i)), fromJS(vals.Index(i))}
	}
	return out, nil
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

func each(ctx context.Context, entries []kv, reverse bool, fn func(k, v []byte) error) error {
	if reverse {
		slices.Reverse(entries)
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(e.k, e.v); err != nil {
			if errors.Is(err, store.ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

// Iterate implements store.Store. The entries under prefix are read
// first, so fn may call the store.
func (s *Store) Iterate(ctx context.Context, prefix []byte, reverse bool, fn func(k, v []byte) error) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	entries, err := s.scan(ctx, prefix)
	if err != nil {
		return err
	}
	return each(ctx, entries, reverse, fn)
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
	entries, err := t.s.scan(t.ctx, prefix)
	if err != nil {
		return err
	}
	merged := map[string][]byte{}
	for _, e := range entries {
		merged[string(e.k)] = e.v
	}
	for k, v := range t.writes {
		if !bytes.HasPrefix([]byte(k), prefix) {
			continue
		}
		if v == nil {
			delete(merged, k)
		} else {
			merged[k] = *v
		}
	}
	out := make([]kv, 0, len(merged))
	for k, v := range merged {
		out = append(out, kv{[]byte(k), v})
	}
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i].k, out[j].k) < 0 })
	return each(t.ctx, out, reverse, fn)
}
