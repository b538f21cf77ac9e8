package store

import (
	"context"
	"errors"
)

// ErrNotFound is returned by Get when the key does not exist.
var ErrNotFound = errors.New("store: not found")

// ErrClosed is returned by every method after Close.
var ErrClosed = errors.New("store: closed")

// ErrSchemaTooNew is returned by Open when the on-disk schema version is
// newer than this code understands.
var ErrSchemaTooNew = errors.New("store: on-disk schema is newer than this program")

// ErrStop may be returned by an Iterate callback to end the iteration
// early; Iterate then returns nil.
var ErrStop = errors.New("store: stop iteration")

// Store is an ordered byte key-value store.
//
// Implementations are safe for concurrent use. A successful Set, Delete or
// Commit is durable when the store was opened with durability on (the
// Badger default); the Memory store is never durable.
type Store interface {
	// Get returns a copy of the value stored at key, owned by the caller,
	// or ErrNotFound.
	Get(ctx context.Context, key []byte) ([]byte, error)
	// Set stores value at key, replacing any previous value. The store
	// copies both slices.
	Set(ctx context.Context, key, value []byte) error
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, key []byte) error
	// Iterate calls fn for every key with the given prefix, in ascending
	// key order (descending when reverse is true). key and value are valid
	// only during the call. Returning ErrStop ends the iteration with a nil
	// result; any other error ends it and is returned.
	Iterate(ctx context.Context, prefix []byte, reverse bool, fn func(key, value []byte) error) error
	// Update runs fn in a read-write transaction: either every write fn
	// makes is applied, or (when fn or the commit fails, or ctx is done
	// before the commit) none is. Transactions are serializable: a backend
	// with optimistic concurrency (Badger) re-runs fn on a conflict, so fn
	// must have no side effects besides its Txn calls.
	Update(ctx context.Context, fn func(tx Txn) error) error
	// Close releases the store. It is safe to call more than once.
	Close() error
}

// Txn is a read-write transaction passed to Store.Update. Reads see the
// transaction's own writes. A Txn must not be used after fn returns.
type Txn interface {
	// Get returns a copy of the value at key, or ErrNotFound.
	Get(key []byte) ([]byte, error)
	// Set stores value at key when the transaction commits.
	Set(key, value []byte) error
	// Delete removes key when the transaction commits.
	Delete(key []byte) error
	// Iterate is Store.Iterate inside the transaction, seeing its writes.
	Iterate(prefix []byte, reverse bool, fn func(key, value []byte) error) error
}

// ErrTxnTooBig is returned by Txn methods when a transaction grows past
// what the backend can commit atomically; callers split their work.
var ErrTxnTooBig = errors.New("store: transaction too big")

// ValueSizer is a Store that tells how long a value is without reading it
// (Badger keeps the length beside the key). Callers assert it on a Store;
// a backend that would have to read the value (IndexedDB) leaves it out.
type ValueSizer interface {
	// ValueSize returns the length of the value at key, or ErrNotFound.
	// It may exceed the length by at most ValueSizeSlack bytes (Badger
	// estimates the length of a value in its value log), never fall
	// short of it.
	ValueSize(ctx context.Context, key []byte) (int64, error)
}

// ValueSizeSlack bounds how far ValueSizer.ValueSize may exceed a
// value's length.
const ValueSizeSlack = 32

// Seeker is a Store that starts an ascending iteration at a key inside
// the prefix, so a page deep in a long listing costs its own keys, not
// every key before it. Callers assert it on a Store.
type Seeker interface {
	// IterateFrom is Iterate in ascending order over the keys with the
	// given prefix that sort at or after from: the keys before from are
	// not visited.
	IterateFrom(ctx context.Context, prefix, from []byte, fn func(key, value []byte) error) error
}
