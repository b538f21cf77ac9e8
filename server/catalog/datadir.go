package catalog

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/segue-fm/segue/crypto"
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

// DataDir is an open relay data directory: the Badger store in DIR/db,
// the file KeyStore in DIR/keys, and the catalog over them. The relay and
// `segue ingest` share it; only one process may open a directory at a
// time (Badger holds a lock).
type DataDir struct {
	Dir     string
	Store   store.Store
	Keys    crypto.KeyStore
	Catalog *Catalog
	// Signer is the catalog's Ed25519 key; manifests are signed with it
	// and clients verify them with Signer.Public().
	Signer ed25519.PrivateKey
}

// OpenDataDir opens (creating on first use) the relay data directory dir:
// the store, and the catalog signing and at-rest keys, generated randomly
// when absent. Close it when done.
func OpenDataDir(ctx context.Context, dir string) (*DataDir, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open data dir: %w", err)
	}
	ks, err := crypto.NewFileKeyStore(filepath.Join(dir, "keys"), crypto.DefaultFileKeyStoreOptions())
	if err != nil {
		return nil, fmt.Errorf("open data dir keys: %w", err)
	}
	seed, err := loadOrCreateSecret(ctx, ks, SigningKeyName, ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	atRest, err := loadOrCreateSecret(ctx, ks, AtRestKeyName, len(AtRestKey{}))
	if err != nil {
		return nil, err
	}
	s, err := badgerstore.Open(ctx, filepath.Join(dir, "db"), badgerstore.DefaultOptions())
	if err != nil {
		return nil, fmt.Errorf("open data dir store: %w", err)
	}
	return &DataDir{
		Dir:     dir,
		Store:   s,
		Keys:    ks,
		Catalog: New(s, AtRestKey(atRest)),
		Signer:  ed25519.NewKeyFromSeed(seed),
	}, nil
}

// Close closes the store.
func (d *DataDir) Close() error { return d.Store.Close() }

// loadOrCreateSecret returns the secret saved under name, creating n
// random bytes on first use. A stored secret of the wrong size is an error,
// never silently replaced (that would orphan every sealed key).
func loadOrCreateSecret(ctx context.Context, ks crypto.KeyStore, name string, n int) ([]byte, error) {
	b, err := ks.Load(ctx, name)
	switch {
	case err == nil:
		if len(b) != n {
			return nil, fmt.Errorf("load %s: %d bytes, want %d", name, len(b), n)
		}
		return b, nil
	case !errors.Is(err, crypto.ErrKeyNotFound):
		return nil, fmt.Errorf("load %s: %w", name, err)
	}
	b = make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	if err := ks.Save(ctx, name, b); err != nil {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	return b, nil
}
