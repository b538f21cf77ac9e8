// Package blobstore is the relay's store of encrypted audio blobs, named
// by their SHA-256, behind one interface (docs/ARCHITECTURE.md §4a, "Blob
// store") with two backends: KV, over a store.Store (Badger), and s3blob,
// any S3-compatible object store through minio-go. Every backend passes the same
// conformance suite, blobstoretest.Run.
//
// A blob is immutable: its name is the SHA-256 of its bytes, Put checks
// that, and a second Put of the same blob is a no-op. Blobs hold only
// ciphertext, so an object store needs no encryption of its own.
package blobstore

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
)

// Errors of a blob store. Check them with errors.Is.
var (
	// ErrNotFound is returned by Get for a blob that is not stored.
	ErrNotFound = errors.New("blobstore: not found")
	// ErrHashMismatch is returned by Put when the bytes' SHA-256 is not
	// the name they are put under.
	ErrHashMismatch = errors.New("blobstore: sha-256 does not match")
	// ErrTooLarge is returned by Put for an empty blob or one over
	// model.MaxBlobSize, and by Get when a stored object exceeds it.
	ErrTooLarge = errors.New("blobstore: blob empty or too large")
	// ErrNoSize is returned by Size when the backend cannot tell a
	// blob's size without reading it (KV over a store that is no
	// store.ValueSizer).
	ErrNoSize = errors.New("blobstore: size unknown without reading the blob")
	// ErrUnavailable is returned by a backend behind a network (S3) whose
	// request got no answer in time: the store is down or hung, the
	// caller may try again later.
	ErrUnavailable = errors.New("blobstore: store did not answer in time")
)

// SizeSlack bounds how far Store.Size may exceed a blob's length.
const SizeSlack = store.ValueSizeSlack

// Store keeps encrypted blobs by SHA-256. Implementations are safe for
// concurrent use; returned slices are owned by the caller.
type Store interface {
	// Get returns the blob named h, or ErrNotFound.
	Get(ctx context.Context, h [32]byte) ([]byte, error)
	// Has reports whether the blob named h is stored.
	Has(ctx context.Context, h [32]byte) (bool, error)
	// Size returns the length of the blob named h without reading the
	// blob (an object's metadata, a store's own size record), or
	// ErrNotFound, or ErrNoSize when the backend cannot tell. It may
	// exceed the length by at most SizeSlack bytes, never fall short.
	Size(ctx context.Context, h [32]byte) (int64, error)
	// Put stores data under h, which must be its SHA-256
	// (ErrHashMismatch) and 1 to model.MaxBlobSize bytes long
	// (ErrTooLarge). Putting a stored blob again is a no-op. A reader
	// never sees part of a blob: it is stored whole or not at all.
	Put(ctx context.Context, h [32]byte, data []byte) error
	// Delete removes the blob named h; a missing blob is not an error.
	Delete(ctx context.Context, h [32]byte) error
	// List calls fn for every stored blob, in ascending hex order of
	// names; an error from fn ends the listing and is returned, and so
	// does ctx's error once it is cancelled. fn may Put and Delete.
	List(ctx context.Context, fn func(Info) error) error
}

// Info is what List reports of one blob.
type Info struct {
	// Hash is the blob's name, its SHA-256.
	Hash [32]byte
	// Modified is when the blob was stored, by the backend's clock (an
	// object store's Last-Modified); the zero time when the backend does
	// not know (a KV blob written before KV recorded times). Garbage
	// collection (catalog.GC) keeps blobs younger than its grace period.
	Modified time.Time
}

// Check validates a Put: data is 1 to model.MaxBlobSize bytes and its
// SHA-256 is h. Backends call it first.
func Check(h [32]byte, data []byte) error {
	if len(data) == 0 || len(data) > model.MaxBlobSize {
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, len(data))
	}
	if sha256.Sum256(data) != h {
		return fmt.Errorf("%w: put as %x", ErrHashMismatch, h)
	}
	return nil
}

// ParseName parses a blob's name, 64 lowercase hex digits.
func ParseName(s string) ([32]byte, bool) {
	var h [32]byte
	if len(s) != 64 {
		return h, false
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil || hex.EncodeToString(h[:]) != s {
		return h, false
	}
	return h, true
}

// KVPrefix is the key prefix of blobs in a store.Store: "blob/<hex>".
const KVPrefix = "blob/"

// KVKey returns the store key of the blob named h.
func KVKey(h [32]byte) []byte { return []byte(KVPrefix + hex.EncodeToString(h[:])) }

// KVTimePrefix is the key prefix of the times KV records its blobs were
// put at: "blobtime/<hex>" = Unix nanoseconds, 8 bytes big-endian.
const KVTimePrefix = "blobtime/"

func kvTimeKey(h [32]byte) []byte { return []byte(KVTimePrefix + hex.EncodeToString(h[:])) }

// KV is the Store over a store.Store (the relay's Badger): blob h at
// KVKey(h), the time it was put at under KVTimePrefix. It does not own
// the store.
type KV struct {
	s   store.Store
	now func() time.Time
}

// NewKV returns the blob store over s, timing Puts with time.Now.
func NewKV(s store.Store) *KV { return &KV{s: s, now: time.Now} }

// NewKVWithClock is NewKV with Put times read from now.
func NewKVWithClock(s store.Store, now func() time.Time) *KV { return &KV{s: s, now: now} }

// Get implements Store.
func (k *KV) Get(ctx context.Context, h [32]byte) ([]byte, error) {
	b, err := k.s.Get(ctx, KVKey(h))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %x", ErrNotFound, h)
	}
	if err != nil {
		return nil, fmt.Errorf("read blob %x: %w", h, err)
	}
	return b, nil
}

// Has implements Store.
func (k *KV) Has(ctx context.Context, h [32]byte) (bool, error) {
	return KVHas(ctx, k.s, h)
}

// KVHas is Has of the blob named h stored in s under KVKey(h) (KV's
// layout, also the catalog's when it keeps its blobs in its own store):
// from the store's record of the value's length when it keeps one
// (KVSize), so that up to model.MaxBlobSize bytes are not read to learn
// that they exist; else by reading the blob.
func KVHas(ctx context.Context, s store.Store, h [32]byte) (bool, error) {
	_, err := KVSize(ctx, s, h)
	if errors.Is(err, ErrNoSize) {
		if _, err = s.Get(ctx, KVKey(h)); err != nil && !errors.Is(err, store.ErrNotFound) {
			return false, fmt.Errorf("read blob %x: %w", h, err)
		}
	}
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotFound), errors.Is(err, store.ErrNotFound):
		return false, nil
	}
	return false, err
}

// Size implements Store from the store's own record of the value's
// length (store.ValueSizer); ErrNoSize when the store keeps none.
func (k *KV) Size(ctx context.Context, h [32]byte) (int64, error) {
	return KVSize(ctx, k.s, h)
}

// KVSize is Size of the blob named h stored in s under KVKey(h) (KV's
// layout, also the catalog's when it keeps its blobs in its own store).
func KVSize(ctx context.Context, s store.Store, h [32]byte) (int64, error) {
	vs, ok := s.(store.ValueSizer)
	if !ok {
		return 0, fmt.Errorf("%w: %x", ErrNoSize, h)
	}
	n, err := vs.ValueSize(ctx, KVKey(h))
	if errors.Is(err, store.ErrNotFound) {
		return 0, fmt.Errorf("%w: %x", ErrNotFound, h)
	}
	if err != nil {
		return 0, fmt.Errorf("size blob %x: %w", h, err)
	}
	return n, nil
}

// Put implements Store.
func (k *KV) Put(ctx context.Context, h [32]byte, data []byte) error {
	if err := Check(h, data); err != nil {
		return err
	}
	if ok, err := k.Has(ctx, h); err != nil || ok {
		return err
	}
	t := binary.BigEndian.AppendUint64(nil, uint64(k.now().UnixNano()))
	err := k.s.Update(ctx, func(tx store.Txn) error {
		if err := tx.Set(kvTimeKey(h), t); err != nil {
			return err
		}
		return tx.Set(KVKey(h), data)
	})
	if err != nil {
		return fmt.Errorf("write blob %x: %w", h, err)
	}
	return nil
}

// Delete implements Store.
func (k *KV) Delete(ctx context.Context, h [32]byte) error {
	err := k.s.Update(ctx, func(tx store.Txn) error {
		if err := tx.Delete(KVKey(h)); err != nil {
			return err
		}
		return tx.Delete(kvTimeKey(h))
	})
	if err != nil {
		return fmt.Errorf("delete blob %x: %w", h, err)
	}
	return nil
}

// List implements Store. Keys under the prefix that are not blob names
// are skipped. It reads every name in one pass over the store (32 bytes a
// blob), then calls fn outside that pass, so fn may write.
func (k *KV) List(ctx context.Context, fn func(Info) error) error {
	var names [][32]byte
	err := k.s.Iterate(ctx, []byte(KVPrefix), false, func(key, _ []byte) error {
		if h, ok := ParseName(string(key[len(KVPrefix):])); ok {
			names = append(names, h)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list blobs: %w", err)
	}
	for _, h := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		in := Info{Hash: h}
		b, err := k.s.Get(ctx, kvTimeKey(h))
		switch {
		case err == nil && len(b) == 8:
			in.Modified = time.Unix(0, int64(binary.BigEndian.Uint64(b)))
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("list blobs: %w", err)
		}
		if err := fn(in); err != nil {
			return err
		}
	}
	return nil
}

var _ Store = (*KV)(nil)
