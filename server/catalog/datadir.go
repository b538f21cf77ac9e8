package catalog

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/dirsync"
	"github.com/segue-fm/segue/server/blobstore"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/store/badgerstore"
)

// Names of the relay's secrets in its KeyStore (files DIR/keys/<name>.key).
const (
	// SigningKeyName holds the 32-byte Ed25519 seed of the catalog key
	// that signs manifests.
	SigningKeyName = "catalog-signing"
	// AtRestKeyName holds the 32-byte AtRestKey sealing content keys.
	AtRestKeyName = "catalog-at-rest"
)

// IdentityFile is the file, in a data directory, that records what the
// directory must contain: the store id and the fingerprints of the catalog
// keys. Initialisation writes it last, so its presence means the directory
// was completely initialised.
const IdentityFile = "segue-data.json"

// InitMarkerFile is the file initialisation creates first, before any
// key or store, and removes once IdentityFile is written: a directory
// holding it without IdentityFile is an initialisation interrupted (kill
// -9, power cut) before it finished, whose keys never signed anything and
// whose store holds nothing but its id. OpenDataDirWith treats such a
// directory as empty: InitNew and InitIfEmpty remove what it holds and
// initialise it again; OpenExisting fails with ErrNotInitialized and
// leaves it as it is.
const InitMarkerFile = ".segue-init"

// Errors of OpenDataDirWith.
var (
	// ErrNotInitialized is returned for an absent or empty directory when
	// the options do not allow initialising it.
	ErrNotInitialized = errors.New("catalog: data directory is not initialised")
	// ErrNotEmpty is returned with InitNew for a directory that holds
	// files.
	ErrNotEmpty = errors.New("catalog: data directory is not empty")
	// ErrDamagedDataDir is returned for a data directory that cannot be
	// opened completely: a missing, unreadable or mismatching key file,
	// identity file or store. The message names the file; nothing was
	// written. A damaged Badger store fails with badgerstore.ErrDamaged.
	ErrDamagedDataDir = errors.New("catalog: damaged data directory")
	// ErrBlobStore is returned when the blob store given with
	// DataDirOptions.WithBlobs is not the one the directory records.
	ErrBlobStore = errors.New("catalog: blob store does not match the data directory")
	// ErrBlobsNotOpened is returned by every blob access of a DataDir
	// whose blobs are in an external store (DataDir.BlobStore) opened
	// without it (no WithBlobs).
	ErrBlobsNotOpened = errors.New("catalog: the data directory's blobs are in an external store that was not opened")
	// ErrInitInProgress is returned for a directory another process is
	// initialising (it holds a lock on InitMarkerFile; unix only).
	ErrInitInProgress = errors.New("catalog: data directory is being initialised by another process")
)

// InitMode says when OpenDataDirWith may initialise a directory (generate
// the catalog keys, create the store, write IdentityFile).
type InitMode int

const (
	// OpenExisting opens an initialised directory only; an absent or empty
	// one fails with ErrNotInitialized.
	OpenExisting InitMode = iota
	// InitIfEmpty initialises an absent or empty directory and opens an
	// initialised one.
	InitIfEmpty
	// InitNew initialises an absent or empty directory; a directory with
	// any file in it fails with ErrNotEmpty.
	InitNew
)

// DataDirOptions configures OpenDataDirWith. Start from
// DefaultDataDirOptions.
type DataDirOptions struct {
	init   InitMode
	logger *slog.Logger
	blobs  blobstore.Store
	blobID string
	// cacheMiB bounds the store's Badger block cache (WithStoreCache);
	// 0: Badger's default.
	cacheMiB int64
}

// DefaultDataDirOptions returns the defaults: OpenExisting, logging to
// slog.Default().
func DefaultDataDirOptions() DataDirOptions { return DataDirOptions{init: OpenExisting} }

// WithInit sets when the directory may be initialised (default
// OpenExisting).
func (o DataDirOptions) WithInit(m InitMode) DataDirOptions { o.init = m; return o }

// DefaultStoreCacheMiB is the size, in MiB, the relay gives the store's
// Badger block cache unless told otherwise (segue relay
// --store-cache-mib): Badger's own default is 256 MiB, which one scan of
// the documents fills. The cache holds decompressed blocks of tables
// that are memory-mapped anyway, and it lives in the Go heap, which the
// collector lets grow to twice its live size: at 64 MiB it was the
// largest single item of an idle relay's heap (docs/BENCHMARKS.md,
// burst10).
const DefaultStoreCacheMiB = 16

// MaxStoreCacheMiB is the largest WithStoreCache accepts
// (badgerstore.MaxBlockCache).
const MaxStoreCacheMiB = badgerstore.MaxBlockCache >> 20

// WithStoreCache bounds the store's Badger block cache (decompressed
// table blocks) to mib MiB; 0 (the default) keeps Badger's 256 MiB. The
// table indices and bloom filters stay in memory, unbounded, as Badger
// keeps them by default: they are small next to the tables, and a
// bounded index cache would make every read fetch them through it. A
// negative mib or one above MaxStoreCacheMiB fails the open.
func (o DataDirOptions) WithStoreCache(mib int64) DataDirOptions { o.cacheMiB = mib; return o }

// WithLogger sets the logger of the store and of data-directory notices
// (default slog.Default()).
func (o DataDirOptions) WithLogger(l *slog.Logger) DataDirOptions { o.logger = l; return o }

// WithBlobs keeps the catalog's encrypted blobs in bs (NewWithBlobs), an
// external store named id (for example "s3:bucket/prefix"; default: the
// directory's own Badger store). The directory records id at its first
// open with it, under meta/blob-store, and refuses later opens with
// another id (ErrBlobStore), and a first one when its own store already
// holds blobs (moving them is not supported). Opened without WithBlobs,
// such a directory works except for blobs, which fail with
// ErrBlobsNotOpened; DataDir.BlobStore says why.
func (o DataDirOptions) WithBlobs(bs blobstore.Store, id string) DataDirOptions {
	o.blobs, o.blobID = bs, id
	return o
}

// DataDir is an open relay data directory: IdentityFile, the Badger store
// in DIR/db, the file KeyStore in DIR/keys, and the catalog over them. The
// relay and `segue ingest` share it; only one process may open a directory
// at a time (Badger holds a lock).
type DataDir struct {
	Dir     string
	Store   store.Store
	Keys    crypto.KeyStore
	Catalog *Catalog
	// Signer is the catalog's Ed25519 key; manifests are signed with it
	// and clients verify them with Signer.Public().
	Signer ed25519.PrivateKey
	// Created reports that this open initialised the directory.
	Created bool
	// BlobStore is the id of the external blob store the directory
	// records (DataDirOptions.WithBlobs); "" when its blobs are in Store.
	BlobStore string
}

// OpenDataDir is OpenDataDirWith with InitIfEmpty: it initialises an
// absent or empty directory (tools and tests handing it a new one) and
// otherwise opens an intact data directory, never regenerating its keys.
func OpenDataDir(ctx context.Context, dir string) (*DataDir, error) {
	return OpenDataDirWith(ctx, dir, DefaultDataDirOptions().WithInit(InitIfEmpty))
}

// OpenDataDirWith opens the relay data directory dir, or initialises it
// when it is absent or empty and opts allow (see InitMode). Close it when
// done.
//
// An existing directory is checked, reading only, before anything is
// written: IdentityFile must parse, both key files must load and match the
// fingerprints it records, the store must open completely (strict
// badgerstore checks: a missing or truncated MANIFEST, a damaged table)
// and hold the recorded store id. Any failure names the file and, except
// a store id mismatch (found once Badger has opened the store), leaves the
// directory as it was; a missing key is never regenerated, since that
// would orphan every sealed content key and signed manifest. A directory
// made before IdentityFile existed (keys and store present, no
// IdentityFile) passes the same checks and gets its IdentityFile.
func OpenDataDirWith(ctx context.Context, dir string, opts DataDirOptions) (*DataDir, error) {
	if opts.logger == nil {
		opts.logger = slog.Default()
	}
	empty, err := isEmptyDir(dir)
	if err != nil {
		return nil, fmt.Errorf("open data dir: %w", err)
	}
	unfinished := false
	if !empty {
		if unfinished, err = unfinishedInit(dir); err != nil {
			return nil, fmt.Errorf("open data dir: %w", err)
		}
	}
	switch {
	case unfinished && opts.init == OpenExisting:
		return nil, fmt.Errorf("%w: %s holds an initialisation that was interrupted before it finished (%s without %s)",
			ErrNotInitialized, dir, InitMarkerFile, IdentityFile)
	case unfinished:
		if err := removeUnfinishedInit(dir); err != nil {
			return nil, fmt.Errorf("open data dir: remove an interrupted initialisation: %w", err)
		}
		opts.logger.Warn("removed an initialisation that was interrupted before it finished", "dir", dir)
		if empty, err = isEmptyDir(dir); err != nil {
			return nil, fmt.Errorf("open data dir: %w", err)
		}
	}
	switch {
	case empty && opts.init == OpenExisting:
		return nil, fmt.Errorf("%w: %s is empty or absent", ErrNotInitialized, dir)
	case empty:
		return initDataDir(ctx, dir, opts)
	case opts.init == InitNew:
		return nil, fmt.Errorf("%w: %s", ErrNotEmpty, dir)
	}
	return openDataDir(ctx, dir, opts)
}

// Close closes the store.
func (d *DataDir) Close() error { return d.Store.Close() }

// TempDirName is the data directory's directory for temporary files
// (DataDir.TempDir).
const TempDirName = "tmp"

// TempDir returns DIR/tmp, creating it: the place for the large temporary
// files of work on the directory (ingest's copies of masters and encoder
// outputs, uploads to the relay's admin ingest and catalog import), on
// the file system of the data they become. Only the process that has the
// directory open (Badger's lock, held until Close) writes there, so
// whatever is in it when the directory is opened was left by a process
// that died before removing it (kill -9, a crash, a power cut): a
// successful OpenDataDirWith removes it.
func (d *DataDir) TempDir() (string, error) {
	dir := filepath.Join(d.Dir, TempDirName)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("catalog: create temporary directory: %w", err)
	}
	return dir, nil
}

// removeStaleTemp empties DIR/tmp of what a process that died left in
// it; the caller has opened the directory, holding the store's lock, so
// no live process uses it. A failure is logged: stale files cost space,
// not correctness.
func removeStaleTemp(dir string, log *slog.Logger) {
	tmp := filepath.Join(dir, TempDirName)
	entries, err := os.ReadDir(tmp)
	if errors.Is(err, fs.ErrNotExist) || err == nil && len(entries) == 0 {
		return
	}
	for _, e := range entries {
		if err == nil {
			err = os.RemoveAll(filepath.Join(tmp, e.Name()))
		}
	}
	if err != nil {
		log.Warn("catalog: could not remove stale temporary files", "dir", tmp, "err", err)
		return
	}
	log.Info("removed temporary files a stopped process left", "dir", tmp, "entries", len(entries))
}

// identity is the content of IdentityFile.
type identity struct {
	Format int `json:"format"`
	// StoreID is random hex, also kept in the store under storeIDKey, so
	// a store from elsewhere (or a fresh one) is told apart.
	StoreID string `json:"store_id"`
	// SigningPublicKey is the hex Ed25519 public key of the catalog
	// signing key.
	SigningPublicKey string `json:"catalog_signing_public_key"`
	// AtRestKeySHA256 is the hex SHA-256 of the at-rest key.
	AtRestKeySHA256 string `json:"catalog_at_rest_key_sha256"`
}

// identityFormat is the Format this code writes and reads.
const identityFormat = 1

// maxIdentityFile bounds IdentityFile's size.
const maxIdentityFile = 64 << 10

// storeIDKey is the store key holding the data directory's store id.
var storeIDKey = []byte("meta/data-dir-id")

func identityOf(storeID string, seed, atRest []byte) identity {
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	sum := sha256.Sum256(atRest)
	return identity{Format: identityFormat, StoreID: storeID, SigningPublicKey: hex.EncodeToString(pub), AtRestKeySHA256: hex.EncodeToString(sum[:])}
}

// unfinishedInit reports whether dir holds InitMarkerFile but no
// IdentityFile (see InitMarkerFile); ErrInitInProgress when a live
// process is initialising it.
func unfinishedInit(dir string) (bool, error) {
	_, err := os.Lstat(filepath.Join(dir, InitMarkerFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	}
	_, err = os.Lstat(filepath.Join(dir, IdentityFile))
	switch {
	case err == nil:
		return false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return false, err
	}
	release, err := holdInitMarker(dir)
	if err != nil {
		return false, err
	}
	release()
	return true, nil
}

// holdInitMarker locks dir's InitMarkerFile (lockInitMarker) until
// release is called.
func holdInitMarker(dir string) (release func(), err error) {
	f, err := os.Open(filepath.Join(dir, InitMarkerFile))
	if err != nil {
		return nil, err
	}
	if err := lockInitMarker(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s", err, dir)
	}
	return func() { f.Close() }, nil
}

// removeUnfinishedInit removes what an interrupted initialisation of dir
// made, holding the marker's lock, InitMarkerFile last, so a process
// killed while removing leaves an interrupted initialisation still. Any
// other file stays.
func removeUnfinishedInit(dir string) error {
	release, err := holdInitMarker(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if release != nil {
		defer release()
	}
	for _, n := range []string{"keys", "db", IdentityFile + ".tmp", InitMarkerFile} {
		if err := os.RemoveAll(filepath.Join(dir, n)); err != nil {
			return err
		}
	}
	return dirsync.Sync(dir)
}

// isEmptyDir reports whether dir is absent or has no entries.
func isEmptyDir(dir string) (bool, error) {
	f, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	return false, err
}

func storeOptions(opts DataDirOptions) badgerstore.Options {
	o := badgerstore.DefaultOptions().WithStrict(true).WithLogger(opts.logger)
	if opts.cacheMiB != 0 {
		// Past the maximum the shift could wrap: ask for one MiB more
		// than badgerstore accepts, so Open refuses it.
		o = o.WithCacheSizes(min(opts.cacheMiB, MaxStoreCacheMiB+1)<<20, 0)
	}
	return o
}

// initDataDir initialises the absent or empty dir. On failure it removes
// what it made, leaving dir as it found it.
func initDataDir(ctx context.Context, dir string, opts DataDirOptions) (_ *DataDir, err error) {
	_, statErr := os.Stat(dir)
	made := errors.Is(statErr, fs.ErrNotExist)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("init data dir: %w", err)
	}
	var st *badgerstore.Store
	var marker *os.File
	defer func() {
		if marker == nil {
			return // nothing made: the marker is another process's
		}
		marker.Close() // releases the lock
		if err == nil {
			return
		}
		if st != nil {
			st.Close()
		}
		if made {
			os.RemoveAll(dir)
			return
		}
		removeUnfinishedInit(dir)
	}()
	// The marker goes first: whatever a kill leaves from here on is
	// recognised as an interrupted initialisation (InitMarkerFile).
	// Created in place (one system call): a temporary file renamed over
	// it could itself be left alone in the directory. Locked until the
	// end, so another process does not take a live initialisation for an
	// interrupted one.
	f, err := os.OpenFile(filepath.Join(dir, InitMarkerFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("%w: %s", ErrInitInProgress, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("init data dir: %w", err)
	}
	marker = f
	if err := lockInitMarker(marker); err != nil {
		return nil, fmt.Errorf("init data dir: %w", err)
	}
	if err := dirsync.Sync(dir); err != nil {
		return nil, fmt.Errorf("init data dir: %w", err)
	}
	ks, err := crypto.NewFileKeyStore(filepath.Join(dir, "keys"), crypto.DefaultFileKeyStoreOptions())
	if err != nil {
		return nil, fmt.Errorf("init data dir keys: %w", err)
	}
	seed, atRest, id := make([]byte, ed25519.SeedSize), make([]byte, len(AtRestKey{})), make([]byte, 16)
	for _, b := range [][]byte{seed, atRest, id} {
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("init data dir: %w", err)
		}
	}
	if err := ks.Save(ctx, SigningKeyName, seed); err != nil {
		return nil, fmt.Errorf("init data dir: save %s: %w", SigningKeyName, err)
	}
	if err := ks.Save(ctx, AtRestKeyName, atRest); err != nil {
		return nil, fmt.Errorf("init data dir: save %s: %w", AtRestKeyName, err)
	}
	st, err = badgerstore.Open(ctx, filepath.Join(dir, "db"), storeOptions(opts))
	if err != nil {
		return nil, fmt.Errorf("init data dir store: %w", err)
	}
	storeID := hex.EncodeToString(id)
	if err := st.Set(ctx, storeIDKey, []byte(storeID)); err != nil {
		return nil, fmt.Errorf("init data dir store: %w", err)
	}
	// Everything that can fail comes before the identity file: once it
	// is written the directory is whole (a failure after it would leave
	// segue-data.json beside nothing, refused as damaged).
	d, err := newDataDir(ctx, dir, st, ks, seed, atRest, opts)
	if err != nil {
		return nil, err
	}
	if err := writeIdentity(dir, identityOf(storeID, seed, atRest)); err != nil {
		return nil, err
	}
	removeInitMarker(dir, opts.logger)
	opts.logger.Debug("initialised a new data directory", "dir", dir)
	d.Created = true
	return d, nil
}

// blobStoreKey records the id of a data directory's external blob store.
var blobStoreKey = []byte("meta/blob-store")

// newDataDir builds the DataDir over the opened store, with its catalog's
// blobs where opts and the directory's record say (WithBlobs).
func newDataDir(ctx context.Context, dir string, st store.Store, ks crypto.KeyStore, seed, atRest []byte, opts DataDirOptions) (*DataDir, error) {
	d := &DataDir{Dir: dir, Store: st, Keys: ks, Signer: ed25519.NewKeyFromSeed(seed)}
	b, err := st.Get(ctx, blobStoreKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("open data dir store: %w", err)
	}
	recorded := string(b)
	switch {
	case opts.blobs == nil && recorded == "":
		d.Catalog = New(st, AtRestKey(atRest))
		return d, nil
	case opts.blobs == nil:
		d.BlobStore = recorded
		d.Catalog = NewWithBlobs(st, AtRestKey(atRest), unopenedBlobs{recorded})
		return d, nil
	case recorded != "" && recorded != opts.blobID:
		return nil, fmt.Errorf("%w: %s keeps its blobs in %s, not %s", ErrBlobStore, dir, recorded, opts.blobID)
	case recorded == "":
		own := false
		err := st.Iterate(ctx, []byte(blobstore.KVPrefix), false, func(_, _ []byte) error { own = true; return store.ErrStop })
		if err != nil {
			return nil, fmt.Errorf("open data dir store: %w", err)
		}
		if own {
			return nil, fmt.Errorf("%w: %s keeps its blobs in its own store; moving them to %s is not supported", ErrBlobStore, dir, opts.blobID)
		}
		if err := st.Set(ctx, blobStoreKey, []byte(opts.blobID)); err != nil {
			return nil, fmt.Errorf("open data dir store: %w", err)
		}
	}
	d.BlobStore = opts.blobID
	d.Catalog = NewWithBlobs(st, AtRestKey(atRest), opts.blobs)
	return d, nil
}

// unopenedBlobs stands for an external blob store the DataDir was opened
// without: every call fails with ErrBlobsNotOpened.
type unopenedBlobs struct{ id string }

func (u unopenedBlobs) err() error { return fmt.Errorf("%w: %s", ErrBlobsNotOpened, u.id) }
func (u unopenedBlobs) Get(context.Context, [32]byte) ([]byte, error) {
	return nil, u.err()
}
func (u unopenedBlobs) Has(context.Context, [32]byte) (bool, error)            { return false, u.err() }
func (u unopenedBlobs) Size(context.Context, [32]byte) (int64, error)          { return 0, u.err() }
func (u unopenedBlobs) Put(context.Context, [32]byte, []byte) error            { return u.err() }
func (u unopenedBlobs) Delete(context.Context, [32]byte) error                 { return u.err() }
func (u unopenedBlobs) List(context.Context, func(blobstore.Info) error) error { return u.err() }

// writeIdentity writes IdentityFile atomically (temporary file, fsync,
// rename, fsync of dir).
func writeIdentity(dir string, id identity) error {
	b, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", IdentityFile, err)
	}
	tmp := filepath.Join(dir, IdentityFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", IdentityFile, err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, IdentityFile))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", IdentityFile, err)
	}
	if d, err := os.Open(dir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return fmt.Errorf("write %s: sync dir: %w", IdentityFile, err)
		}
	}
	return nil
}

// readIdentity reads and checks IdentityFile; ok is false when it does
// not exist.
func readIdentity(dir string) (id identity, ok bool, err error) {
	path := filepath.Join(dir, IdentityFile)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return identity{}, false, nil
	}
	if err != nil {
		return identity{}, false, fmt.Errorf("%w: %s: %v", ErrDamagedDataDir, path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxIdentityFile+1))
	if err != nil {
		return identity{}, false, fmt.Errorf("%w: %s: %v", ErrDamagedDataDir, path, err)
	}
	if len(b) > maxIdentityFile {
		return identity{}, false, fmt.Errorf("%w: %s is over %d bytes", ErrDamagedDataDir, path, maxIdentityFile)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&id); err != nil {
		return identity{}, false, fmt.Errorf("%w: %s is unreadable: %v", ErrDamagedDataDir, path, err)
	}
	if dec.More() {
		return identity{}, false, fmt.Errorf("%w: %s has data after its JSON object", ErrDamagedDataDir, path)
	}
	if id.Format != identityFormat || id.StoreID == "" || id.SigningPublicKey == "" || id.AtRestKeySHA256 == "" {
		return identity{}, false, fmt.Errorf("%w: %s: format %d or a field missing (this segue reads format %d)", ErrDamagedDataDir, path, id.Format, identityFormat)
	}
	return id, true, nil
}

// openDataDir opens the non-empty dir (see OpenDataDirWith).
func openDataDir(ctx context.Context, dir string, opts DataDirOptions) (*DataDir, error) {
	want, haveID, err := readIdentity(dir)
	if err != nil {
		return nil, err
	}
	keysDir := filepath.Join(dir, "keys")
	if !haveID {
		// Without IdentityFile only a directory holding a relay's keys and
		// store is opened; anything else is not a data directory.
		for _, p := range []string{keyPath(dir, SigningKeyName), keyPath(dir, AtRestKeyName), filepath.Join(dir, "db", "MANIFEST")} {
			if _, err := os.Stat(p); err != nil {
				return nil, fmt.Errorf("%w: %s is missing and so is %s: not a segue data directory, or damaged",
					ErrDamagedDataDir, filepath.Join(dir, IdentityFile), p)
			}
		}
	}
	if st, err := os.Stat(keysDir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("%w: %s is missing", ErrDamagedDataDir, keysDir)
	}
	ks, err := crypto.NewFileKeyStore(keysDir, crypto.DefaultFileKeyStoreOptions())
	if err != nil {
		return nil, fmt.Errorf("open data dir keys: %w", err)
	}
	seed, err := loadSecret(ctx, ks, dir, SigningKeyName, ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	atRest, err := loadSecret(ctx, ks, dir, AtRestKeyName, len(AtRestKey{}))
	if err != nil {
		return nil, err
	}
	got := identityOf(want.StoreID, seed, atRest)
	if haveID && got.SigningPublicKey != want.SigningPublicKey {
		return nil, fmt.Errorf("%w: %s does not match the signing key recorded in %s", ErrDamagedDataDir, keyPath(dir, SigningKeyName), IdentityFile)
	}
	if haveID && got.AtRestKeySHA256 != want.AtRestKeySHA256 {
		return nil, fmt.Errorf("%w: %s does not match the at-rest key recorded in %s", ErrDamagedDataDir, keyPath(dir, AtRestKeyName), IdentityFile)
	}
	dbDir := filepath.Join(dir, "db")
	if _, err := os.Stat(filepath.Join(dbDir, "MANIFEST")); err != nil {
		return nil, fmt.Errorf("%w: %s is missing: the store is gone or damaged", ErrDamagedDataDir, filepath.Join(dbDir, "MANIFEST"))
	}
	st, err := badgerstore.Open(ctx, dbDir, storeOptions(opts))
	if err != nil {
		return nil, fmt.Errorf("open data dir store: %w", err)
	}
	if err := checkStoreID(ctx, st, dir, want.StoreID, haveID, opts.logger, seed, atRest); err != nil {
		return nil, errors.Join(err, st.Close())
	}
	d, err := newDataDir(ctx, dir, st, ks, seed, atRest, opts)
	if err != nil {
		return nil, errors.Join(err, st.Close())
	}
	removeInitMarker(dir, opts.logger)
	removeStaleTemp(dir, opts.logger)
	return d, nil
}

// removeInitMarker removes InitMarkerFile from the initialised dir (left
// there by a process killed after it wrote IdentityFile). A failure is
// logged: with IdentityFile present the marker is ignored.
func removeInitMarker(dir string, log *slog.Logger) {
	err := os.Remove(filepath.Join(dir, InitMarkerFile))
	if err == nil {
		err = dirsync.Sync(dir)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Warn("catalog: could not remove the initialisation marker", "file", filepath.Join(dir, InitMarkerFile), "err", err)
	}
}

// checkStoreID compares the store's id with IdentityFile's. For a
// directory without IdentityFile (haveID false) it records one, taking
// the store's id or giving the store a new one.
func checkStoreID(ctx context.Context, st store.Store, dir, want string, haveID bool, log *slog.Logger, seed, atRest []byte) error {
	b, err := st.Get(ctx, storeIDKey)
	switch {
	case err == nil && haveID && string(b) == want:
		return nil
	case err == nil && haveID:
		return fmt.Errorf("%w: %s holds store %q, %s expects %q", ErrDamagedDataDir, filepath.Join(dir, "db"), b, IdentityFile, want)
	case errors.Is(err, store.ErrNotFound) && haveID:
		return fmt.Errorf("%w: %s has no store id, %s expects %q: the store was replaced or lost data", ErrDamagedDataDir, filepath.Join(dir, "db"), IdentityFile, want)
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("open data dir store: %w", err)
	}
	id := string(b)
	if id == "" {
		r := make([]byte, 16)
		if _, err := rand.Read(r); err != nil {
			return fmt.Errorf("open data dir: %w", err)
		}
		id = hex.EncodeToString(r)
		if err := st.Set(ctx, storeIDKey, []byte(id)); err != nil {
			return fmt.Errorf("open data dir store: %w", err)
		}
	}
	if err := writeIdentity(dir, identityOf(id, seed, atRest)); err != nil {
		return err
	}
	log.Warn("data directory had no identity file: recorded its existing keys and store", "file", filepath.Join(dir, IdentityFile))
	return nil
}

func keyPath(dir, name string) string { return filepath.Join(dir, "keys", name+".key") }

// loadSecret loads the secret name of n bytes; a missing or malformed key
// file is ErrDamagedDataDir naming it, never replaced.
func loadSecret(ctx context.Context, ks crypto.KeyStore, dir, name string, n int) ([]byte, error) {
	b, err := ks.Load(ctx, name)
	switch {
	case errors.Is(err, crypto.ErrKeyNotFound):
		return nil, fmt.Errorf("%w: %s is missing; an existing data directory's keys are never regenerated (that would orphan every sealed content key): restore it from a backup",
			ErrDamagedDataDir, keyPath(dir, name))
	case err != nil:
		return nil, fmt.Errorf("%w: %s: %v", ErrDamagedDataDir, keyPath(dir, name), err)
	case len(b) != n:
		return nil, fmt.Errorf("%w: %s holds %d bytes, want %d", ErrDamagedDataDir, keyPath(dir, name), len(b), n)
	}
	return b, nil
}
