package badgerstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/y"
	"github.com/segue-fm/segue/internal/diskfree"
	"github.com/segue-fm/segue/store"
)

// maxConflictRetries bounds how often Update re-runs fn after a Badger
// transaction conflict before returning ErrConflict.
const maxConflictRetries = 64

// ErrConflict is returned by Update when fn kept conflicting with
// concurrent transactions maxConflictRetries times in a row.
var ErrConflict = errors.New("badgerstore: transaction conflict persisted after retries")

// MaxInMemoryValue is the largest value a store opened WithInMemory(true)
// accepts: in-memory Badger has no value log, so every value must fit under
// its 1 MiB value threshold. On-disk stores have no such limit.
const MaxInMemoryValue = 1<<20 - 1

// ErrValueTooLarge is returned by Txn.Set (and Store.Set) on an in-memory
// store for a value longer than MaxInMemoryValue.
var ErrValueTooLarge = errors.New("badgerstore: value too large for an in-memory store")

// MinMemTableSize is the smallest memtable Open accepts: Badger needs a
// commit batch (15% of the memtable) to hold a 1 MiB inline value.
const MinMemTableSize = 8 << 20

// ErrDirGone is returned by Update (and Set, Delete), nothing of the
// transaction stored, and by Close when the store's directory was
// removed or moved away while the store was open. A commit then went to
// files no later open finds: a relay whose data directory was removed
// acknowledged sign-ups and sync edits it lost at its next start. Badger
// would retry writing its memtable into the missing directory for ever
// (logging an error a second, and Close never returned), so Close leaves
// Badger open and unflushed, and the process should exit. Reads go on.
var ErrDirGone = errors.New("badgerstore: the store's directory was removed or moved while it was open")

// ErrBadOptions is returned by Open for inconsistent options.
var ErrBadOptions = errors.New("badgerstore: bad options")

// MaxBlockCache is the largest block or index cache Open accepts (64
// GiB): Badger allocates a cache's bookkeeping in proportion to its size
// when it opens, so a much larger size ends the process out of memory.
const MaxBlockCache = 64 << 30

// ErrNoSpace is returned by Open when the file system holding the store
// has less free space than one write-ahead-log file (twice the memtable
// size: 32 MiB by default), and by Update when the disk filled up under
// a commit: nothing of that commit was stored, and the store goes on
// serving reads and takes writes again once there is room. Badger writes
// its files through memory maps, and a write into one that finds the
// disk full would kill the process with SIGBUS; the fork in
// third_party/badger allocates their blocks first and reports ENOSPC.
var ErrNoSpace = errors.New("badgerstore: not enough free disk space")

// freeSpace reports the free bytes for dir (diskfree.Free; tests replace it).
var freeSpace = diskfree.Free

// Options configures Open. The zero value is not useful; start from
// DefaultOptions.
type Options struct {
	syncWrites   bool
	inMemory     bool
	logger       *slog.Logger
	memTableSize int64
	strict       bool
	// blockCache and indexCache are Badger's cache sizes in bytes, used
	// when cacheSizes is set (WithCacheSizes).
	cacheSizes             bool
	blockCache, indexCache int64
}

// DefaultOptions returns the defaults: durable writes (SyncWrites true),
// on disk, logging to slog.Default() at warning level and above, 16 MiB
// memtables.
func DefaultOptions() Options {
	return Options{syncWrites: true, memTableSize: 16 << 20}
}

// WithCacheSizes bounds Badger's block cache (decompressed table blocks)
// and index cache (table indices and bloom filters) to block and index
// bytes; an index cache of 0 keeps every table's index in memory,
// unbounded (Badger's own default). Without this call Badger's defaults
// apply: a 256 MiB block cache, which a scan of the whole store fills.
// The block cache cannot be off (Badger needs it for compressed tables):
// a block size below 1, a negative index size or either above
// MaxBlockCache fails Open with ErrBadOptions.
func (o Options) WithCacheSizes(block, index int64) Options {
	o.cacheSizes, o.blockCache, o.indexCache = true, block, index
	return o
}

// WithSyncWrites sets whether every commit is fsynced before it returns
// (default true). With false, a machine crash may lose the last commits
// but never corrupts the store; a process crash loses nothing.
func (o Options) WithSyncWrites(v bool) Options { o.syncWrites = v; return o }

// WithInMemory keeps everything in memory and ignores dir (default false).
// Nothing survives Close, and values are limited to MaxInMemoryValue
// bytes; prefer store.Memory for tests unless Badger itself is under test.
func (o Options) WithInMemory(v bool) Options { o.inMemory = v; return o }

// WithLogger routes Badger's warnings and errors to l (default
// slog.Default()). Badger's info and debug chatter is dropped.
func (o Options) WithLogger(l *slog.Logger) Options { o.logger = l; return o }

// WithMemTableSize sets Badger's memtable size in bytes (default 16 MiB,
// minimum MinMemTableSize; Open rejects less with ErrBadOptions). It bounds
// the largest transaction: one commit must fit in about 15% of it (see
// store.ErrTxnTooBig).
func (o Options) WithMemTableSize(n int64) Options { o.memTableSize = n; return o }

// WithStrict makes Open also refuse (with ErrDamaged) a MANIFEST that
// ends in a partial record and table files the MANIFEST does not list
// (default false: Badger cuts the partial record and deletes such files,
// its normal recovery after a machine crash, which also hides a truncated
// MANIFEST). Servers whose data must never shrink silently set it; the
// operator then decides.
func (o Options) WithStrict(v bool) Options { o.strict = v; return o }

// Store is a store.Store on Badger. It is safe for concurrent use.
type Store struct {
	db       *badger.DB
	log      *slog.Logger
	inMemory bool
	// mu guards closed; every operation holds it for reading so Close
	// waits for running operations instead of closing Badger under them.
	// Calling Close from inside an Iterate or Update callback deadlocks.
	mu     sync.RWMutex
	closed bool
	// held is the directory's entry among those open in this process
	// (nil in memory), released by Close.
	held *openDir
	// dir and dirInfo are the directory Open opened (nil dirInfo in
	// memory), checked again by Close.
	dir     string
	dirInfo os.FileInfo
	// damaged counts the table blocks found damaged since Open (Badger's
	// OnBlockError), and lastDamage describes the last of them: a read
	// during which the count moved fails with ErrDamaged.
	damaged    atomic.Uint64
	lastDamage atomic.Pointer[string]
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the Badger store in dir, then checks the
// schema version with store.CheckSchema: a fresh store gets
// store.SchemaVersion; a newer on-disk version fails with an error
// matching store.ErrSchemaTooNew and the store is closed again.
//
// Before Badger touches dir, Open checks it reading only: a directory
// another process has open fails with ErrLocked, and one Badger would
// panic on or silently empty (see ErrDamaged) fails with ErrDamaged naming
// the file, with nothing written; a file system with less free space
// than twice the memtable size fails with ErrNoSpace. A panic of Badger's open in the calling
// goroutine is returned as ErrDamaged too.
func Open(ctx context.Context, dir string, opts Options) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.memTableSize < MinMemTableSize {
		return nil, fmt.Errorf("%w: memtable size %d < %d", ErrBadOptions, opts.memTableSize, MinMemTableSize)
	}
	if opts.cacheSizes && (opts.blockCache < 1 || opts.blockCache > MaxBlockCache || opts.indexCache < 0 || opts.indexCache > MaxBlockCache) {
		return nil, fmt.Errorf("%w: cache sizes %d (blocks), %d (indices)", ErrBadOptions, opts.blockCache, opts.indexCache)
	}
	log := opts.logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "badger")
	bo := badger.DefaultOptions(dir).
		WithSyncWrites(opts.syncWrites).
		WithLogger(slogLogger{log}).
		WithMemTableSize(opts.memTableSize).
		WithNumCompactors(2).
		WithChecksumVerificationMode(options.OnBlockRead).
		WithVerifyValueChecksum(true)
	if opts.cacheSizes {
		bo = bo.WithBlockCacheSize(opts.blockCache).WithIndexCacheSize(opts.indexCache)
	}
	if opts.inMemory {
		bo = bo.WithInMemory(true).WithDir("").WithValueDir("")
	}
	var held *openDir
	if !opts.inMemory {
		var err error
		if held, err = holdDir(dir); err != nil {
			return nil, err
		}
		defer func() {
			if held != nil {
				held.release()
			}
		}()
		if err := checkBeforeOpen(dir, opts.strict); err != nil {
			return nil, err
		}
		if free, ok := freeSpace(dir); ok && free < uint64(2*opts.memTableSize) {
			return nil, fmt.Errorf("%w: %d KiB free for %s, at least %d KiB needed (free some space and try again)",
				ErrNoSpace, free>>10, dir, 2*opts.memTableSize>>10)
		}
	}
	s := &Store{log: log, inMemory: opts.inMemory, dir: dir}
	bo = bo.WithOnBlockError(s.blockDamaged)
	db, err := openRecovered(bo)
	if err != nil {
		return nil, fmt.Errorf("badgerstore: open %s: %w", dir, err)
	}
	s.db = db
	if !opts.inMemory {
		if s.dirInfo, err = os.Stat(dir); err != nil {
			return nil, errors.Join(fmt.Errorf("badgerstore: open %s: %w", dir, err), s.Close())
		}
	}
	if err := store.CheckSchema(ctx, s); err != nil {
		return nil, errors.Join(fmt.Errorf("badgerstore: open %s: %w", dir, err), s.Close())
	}
	s.held, held = held, nil
	return s, nil
}

// acquire takes the read side of mu and reports ErrClosed after Close.
func (s *Store) acquire() error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return store.ErrClosed
	}
	return nil
}

// blockDamaged is Badger's OnBlockError: a block of a table file could
// not be read or failed its checksum.
func (s *Store) blockDamaged(file string, err error) {
	msg := err.Error()
	if !strings.Contains(msg, file) {
		msg = file + ": " + msg
	}
	s.lastDamage.Store(&msg)
	s.damaged.Add(1)
	s.log.Error("badgerstore: damaged table block", "dir", s.dir, "file", file, "err", err)
}

// checkDamage returns ErrDamaged when a damaged block was found since the
// count was before, else err: Badger reads such a block as the end of its
// table, so the read's answer may be missing records.
func (s *Store) checkDamage(before uint64, err error) error {
	if s.damaged.Load() == before {
		return err
	}
	what := "a table file"
	if p := s.lastDamage.Load(); p != nil {
		what = *p
	}
	return fmt.Errorf("%w: %s: the file changed on disk (a failing disk or file system); "+
		"restore %s from a backup, or move it aside and start afresh", ErrDamaged, what, s.dir)
}

// view runs fn in a read-only Badger transaction, after checking ctx
// and holding the read side of mu (ErrClosed after Close). A damaged
// table block met meanwhile fails it with ErrDamaged.
func (s *Store) view(ctx context.Context, fn func(txn *badger.Txn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	before := s.damaged.Load()
	return s.checkDamage(before, s.db.View(fn))
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, key []byte) ([]byte, error) {
	var out []byte
	err := s.view(ctx, func(txn *badger.Txn) error {
		var err error
		out, err = get(txn, key)
		return err
	})
	return out, err
}

// Set implements store.Store.
func (s *Store) Set(ctx context.Context, key, value []byte) error {
	return s.Update(ctx, func(tx store.Txn) error { return tx.Set(key, value) })
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, key []byte) error {
	return s.Update(ctx, func(tx store.Txn) error { return tx.Delete(key) })
}

// Iterate implements store.Store over a consistent snapshot taken when it
// starts; fn may write to s.
func (s *Store) Iterate(ctx context.Context, prefix []byte, reverse bool, fn func(key, value []byte) error) error {
	return s.view(ctx, func(txn *badger.Txn) error {
		return iterate(ctx, txn, prefix, reverse, fn)
	})
}

// IterateFrom implements store.Seeker: the iterator seeks to from (or
// the prefix, when from sorts before it), so the keys before from are
// not read.
func (s *Store) IterateFrom(ctx context.Context, prefix, from []byte, fn func(key, value []byte) error) error {
	return s.view(ctx, func(txn *badger.Txn) error {
		return iterateFrom(ctx, txn, prefix, from, false, fn)
	})
}

// ValueSize implements store.ValueSizer from the key's entry in the
// LSM tree, without reading the value: exact for a value stored there,
// Badger's estimate (ValueSize) for one in the value log, which counts
// the entry's header at 6 bytes where it takes at least 6 for any value
// long enough to be kept there, so it is never short.
func (s *Store) ValueSize(ctx context.Context, key []byte) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if len(key) == 0 {
		return 0, store.ErrNotFound
	}
	var n int64
	err := s.view(ctx, func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return store.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("badgerstore: get: %w", err)
		}
		n = max(item.ValueSize(), 0)
		return nil
	})
	return n, err
}

// Update implements store.Store. On a Badger conflict fn is re-run on a
// fresh transaction, up to maxConflictRetries times. Once a damaged table
// block was found (ErrDamaged) it fails with ErrDamaged, running nothing:
// Badger no longer compacts that table (it would drop the keys after the
// block), so its level 0 would fill until every write stalled for ever.
func (s *Store) Update(ctx context.Context, fn func(tx store.Txn) error) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	if s.damaged.Load() != 0 {
		return s.checkDamage(0, nil)
	}
	for range maxConflictRetries {
		if err := ctx.Err(); err != nil {
			return err
		}
		before := s.damaged.Load()
		err := s.checkDamage(before, s.update(ctx, fn))
		if !errors.Is(err, badger.ErrConflict) {
			return err
		}
	}
	return ErrConflict
}

func (s *Store) update(ctx context.Context, fn func(tx store.Txn) error) error {
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	tx := &txnAdapter{ctx: ctx, txn: txn, inMemory: s.inMemory}
	err := fn(tx)
	tx.done = true
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.gone() {
		return fmt.Errorf("commit: %w: %s", ErrDirGone, s.dir)
	}
	if err := txn.Commit(); err != nil {
		if errors.Is(err, badger.ErrTxnTooBig) {
			return fmt.Errorf("commit: %w", store.ErrTxnTooBig)
		}
		if errors.Is(err, badger.ErrConflict) {
			return err
		}
		if errors.Is(err, syscall.ENOSPC) {
			return fmt.Errorf("%w: commit: %w", ErrNoSpace, err)
		}
		return fmt.Errorf("badgerstore: commit: %w", err)
	}
	return nil
}

// RunGC reclaims value-log space: it rewrites value-log files whose
// content is at least half garbage until none is left or ctx is done. Call
// it periodically (the engine does so when idle), not concurrently.
func (s *Store) RunGC(ctx context.Context) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := s.db.RunValueLogGC(0.5)
		switch {
		case errors.Is(err, badger.ErrNoRewrite), errors.Is(err, badger.ErrRejected):
			return nil
		case err != nil:
			return fmt.Errorf("badgerstore: value log gc: %w", err)
		}
	}
}

// Close implements store.Store: it waits for running operations, then
// flushes and closes Badger. Later calls return nil. A directory removed
// or moved away since Open is ErrDirGone (see there), Badger left open.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.held != nil {
		defer s.held.release()
	}
	if s.gone() {
		s.log.Error("badgerstore: directory removed or moved while open; not flushed", "dir", s.dir)
		return fmt.Errorf("%w: %s", ErrDirGone, s.dir)
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("badgerstore: close: %w", err)
	}
	return nil
}

// gone reports whether the store's directory was removed or moved away
// since Open (never for an in-memory store).
func (s *Store) gone() bool {
	if s.dirInfo == nil {
		return false
	}
	fi, err := os.Stat(s.dir)
	return errors.Is(err, os.ErrNotExist) || (err == nil && !os.SameFile(fi, s.dirInfo))
}

func get(txn *badger.Txn, key []byte) ([]byte, error) {
	if len(key) == 0 {
		return nil, store.ErrNotFound
	}
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("badgerstore: get: %w", err)
	}
	out, err := item.ValueCopy(nil)
	if err != nil {
		return nil, valueErr(err)
	}
	if out == nil {
		out = []byte{}
	}
	return out, nil
}

func iterate(ctx context.Context, txn *badger.Txn, prefix []byte, reverse bool, fn func(key, value []byte) error) error {
	return iterateFrom(ctx, txn, prefix, nil, reverse, fn)
}

// iterateFrom is iterate starting, in ascending order, at the first key
// at or after from (nil: the prefix's first key).
func iterateFrom(ctx context.Context, txn *badger.Txn, prefix, from []byte, reverse bool, fn func(key, value []byte) error) error {
	opt := badger.DefaultIteratorOptions
	opt.PrefetchValues = false
	opt.Reverse = reverse
	end := store.PrefixEnd(prefix)
	if !reverse {
		// Badger's Valid checks Prefix, and Seek(nil) seeks to it; in
		// reverse we seek past the prefix's end ourselves instead.
		opt.Prefix = prefix
	}
	it := txn.NewIterator(opt)
	defer it.Close()
	switch {
	case !reverse && bytes.Compare(from, prefix) > 0:
		it.Seek(from)
	case !reverse:
		it.Seek(prefix)
	case end != nil:
		it.Seek(end)
	default:
		it.Rewind()
	}
	n := 0
	for ; it.Valid(); it.Next() {
		item := it.Item()
		key := item.Key()
		if !bytes.HasPrefix(key, prefix) {
			if reverse && bytes.Compare(key, prefix) > 0 {
				continue // the prefix end itself
			}
			break
		}
		n++
		if n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		var fnErr error
		err := item.Value(func(v []byte) error { fnErr = fn(key, v); return fnErr })
		if errors.Is(err, store.ErrStop) {
			return nil
		}
		if err != nil && fnErr == nil {
			return valueErr(err)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// valueErr wraps the failure to read a value from the value log: one
// failing its checksum or past the end of its file is ErrDamaged.
func valueErr(err error) error {
	if errors.Is(err, y.ErrChecksumMismatch) || errors.Is(err, y.ErrEOF) {
		return fmt.Errorf("%w: read value: %w", ErrDamaged, err)
	}
	return fmt.Errorf("badgerstore: read value: %w", err)
}

// txnAdapter is a store.Txn over a read-write Badger transaction.
type txnAdapter struct {
	ctx      context.Context
	txn      *badger.Txn
	done     bool
	inMemory bool
}

func (t *txnAdapter) Get(key []byte) ([]byte, error) {
	if t.done {
		return nil, store.ErrTxnDone
	}
	return get(t.txn, key)
}

func (t *txnAdapter) Set(key, value []byte) error {
	if t.done {
		return store.ErrTxnDone
	}
	if err := store.CheckKey(key); err != nil {
		return err
	}
	if t.inMemory && len(value) > MaxInMemoryValue {
		return fmt.Errorf("set %d bytes: %w", len(value), ErrValueTooLarge)
	}
	// Badger keeps the slices until commit; copy so the caller may reuse them.
	if err := t.txn.Set(bytes.Clone(key), bytes.Clone(value)); err != nil {
		return mapErr("set", err)
	}
	return nil
}

func (t *txnAdapter) Delete(key []byte) error {
	if t.done {
		return store.ErrTxnDone
	}
	if err := store.CheckKey(key); err != nil {
		return err
	}
	if err := t.txn.Delete(bytes.Clone(key)); err != nil {
		return mapErr("delete", err)
	}
	return nil
}

func (t *txnAdapter) Iterate(prefix []byte, reverse bool, fn func(key, value []byte) error) error {
	if t.done {
		return store.ErrTxnDone
	}
	if err := t.ctx.Err(); err != nil {
		return err
	}
	return iterate(t.ctx, t.txn, prefix, reverse, fn)
}

func mapErr(op string, err error) error {
	if errors.Is(err, badger.ErrTxnTooBig) {
		return fmt.Errorf("%s: %w", op, store.ErrTxnTooBig)
	}
	return fmt.Errorf("badgerstore: %s: %w", op, err)
}

// slogLogger adapts slog to badger.Logger, dropping info and debug.
// (Badger's WithLoggingLevel would replace it by Badger's own stderr
// logger, which Open once did: every warning and error bypassed slog.)
type slogLogger struct{ l *slog.Logger }

func (a slogLogger) Errorf(f string, args ...any) {
	a.l.Error(trim(fmt.Sprintf(f, args...)))
}

func (a slogLogger) Warningf(f string, args ...any) {
	a.l.Warn(trim(fmt.Sprintf(f, args...)))
}

func (slogLogger) Infof(string, ...any) {}

func (slogLogger) Debugf(string, ...any) {}

func trim(s string) string { return string(bytes.TrimRight([]byte(s), "\n")) }
