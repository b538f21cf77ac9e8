package catalog

import (
	"cmp"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/cborx"
	"github.com/segue-fm/segue/internal/safetext"
	"github.com/segue-fm/segue/server/blobstore"
	"github.com/segue-fm/segue/store"
)

// Errors of the catalog. Check them with errors.Is.
var (
	// ErrNotFound is returned when a track, album, artist, manifest, key or
	// blob does not exist.
	ErrNotFound = errors.New("catalog: not found")
	// ErrBadRelease is returned by Publish for an inconsistent release.
	ErrBadRelease = errors.New("catalog: bad release")
	// ErrMissingBlob is returned by Publish when a manifest references a
	// blob that is not in the store (put it with PutBlob first).
	ErrMissingBlob = errors.New("catalog: manifest references a missing blob")
	// ErrCorrupt is returned when a stored value cannot be decoded or a
	// sealed key fails authentication.
	ErrCorrupt = errors.New("catalog: corrupt entry")
	// ErrEmbargoed is returned by ContentKeyAt and CheckReleased for a
	// track whose album's release time (model.Album.ReleaseAt) is still
	// ahead.
	ErrEmbargoed = errors.New("catalog: embargoed until release")
)

// AtRestKey is the relay's 256-bit key that seals content keys in the store
// (AES-256-GCM). It never leaves the relay's data directory.
type AtRestKey [32]byte

// Catalog is the relay's catalog over a store.Store. It is safe for
// concurrent use; its methods hold no locks of their own and rely on the
// store's transactions.
type Catalog struct {
	s    store.Store
	aead cipher.AEAD
	gen  atomic.Uint64 // Generation
	// blobs is an external blob store (NewWithBlobs); nil: blobs live in s
	// under blobstore.KVKey, checked and collected inside s's transactions.
	blobs blobstore.Store
}

// Generation counts the Publish calls of this Catalog that reached the
// store (committed or not). A cache of what the catalog returned stays
// valid while Generation is the value it read before reading the catalog:
// Publish bumps it after its transaction ends. Publishes through another
// Catalog over the same store are not counted.
func (c *Catalog) Generation() uint64 { return c.gen.Load() }

var (
	encMode = cborx.EncMode()
	// decMode reads the catalog's own records and manifests; arrays hold
	// up to a manifest's chunks.
	decMode = cborx.Limits{MaxNestedLevels: 16, MaxArrayElements: model.MaxChunks + 16, MaxMapPairs: 1 << 16}.DecMode()
)

// New returns a catalog over s whose content keys are sealed with atRest.
// The catalog does not own s: closing s is the caller's job.
func New(s store.Store, atRest AtRestKey) *Catalog {
	block, err := aes.NewCipher(atRest[:])
	if err != nil {
		panic(err) // a 32-byte key is always valid
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err) // AES always supports GCM
	}
	return &Catalog{s: s, aead: aead}
}

// NewWithBlobs is New with the encrypted blobs in blobs (for example an
// S3 bucket, server/blobstore/s3blob) instead of s. Manifests, keys and
// the blob reference index stay in s. GC then collects by mark and sweep
// with a grace period (GCWith).
func NewWithBlobs(s store.Store, atRest AtRestKey, blobs blobstore.Store) *Catalog {
	c := New(s, atRest)
	c.blobs = blobs
	return c
}

// Store returns the store the catalog reads and writes.
func (c *Catalog) Store() store.Store { return c.s }

// Key builders of docs/ARCHITECTURE.md §5.

func trackKey(id model.TrackID) []byte   { return []byte("cat/track/" + string(id)) }
func albumKey(id model.AlbumID) []byte   { return []byte("cat/album/" + string(id)) }
func artistKey(id model.ArtistID) []byte { return []byte("cat/artist/" + string(id)) }
func artistAlbumsPrefix(id model.ArtistID) []byte {
	return []byte("cat/artalb/" + string(id) + "/")
}
func artistAlbumKey(ar model.ArtistID, al model.AlbumID) []byte {
	return append(artistAlbumsPrefix(ar), al...)
}
func masterKey(sha [32]byte) []byte { return []byte("cat/master/" + hex.EncodeToString(sha[:])) }
func manifestKey(id model.TrackID, t model.Tier) []byte {
	return []byte("aud/man/" + string(id) + "/" + string(t))
}
func contentKeyKey(id model.TrackID, t model.Tier) []byte {
	return []byte("aud/key/" + string(id) + "/" + string(t))
}
func blobKey(h [32]byte) []byte { return blobstore.KVKey(h) }
func refPrefix(h [32]byte) []byte {
	return []byte("aud/ref/" + hex.EncodeToString(h[:]) + "/")
}

// isReferenced reports whether any manifest references blob h, read in tx.
func isReferenced(tx store.Txn, h [32]byte) (bool, error) {
	referenced := false
	err := tx.Iterate(refPrefix(h), false, func(_, _ []byte) error {
		referenced = true
		return store.ErrStop
	})
	return referenced, err
}
func refKey(h [32]byte, id model.TrackID, t model.Tier) []byte {
	return append(refPrefix(h), string(id)+"/"+string(t)...)
}

// getCBOR decodes the record at key into v. Its ErrNotFound names what
// (such as `track "x"`), never the store key: relays send that message
// to clients, which must not learn the key schema.
func (c *Catalog) getCBOR(ctx context.Context, key []byte, what string, v any) error {
	b, err := c.s.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrNotFound, what)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	if err := decMode.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, key, err)
	}
	return nil
}

// Track returns the track with the given id, or ErrNotFound.
func (c *Catalog) Track(ctx context.Context, id model.TrackID) (model.Track, error) {
	var t model.Track
	if !model.ValidID(string(id)) {
		return t, fmt.Errorf("%w: track %s", ErrNotFound, safetext.Quote(string(id)))
	}
	err := c.getCBOR(ctx, trackKey(id), "track "+safetext.Quote(string(id)), &t)
	return t, err
}

// Album returns the album with the given id, or ErrNotFound. Its TrackIDs
// are ordered by disc, then track number.
func (c *Catalog) Album(ctx context.Context, id model.AlbumID) (model.Album, error) {
	var a model.Album
	if !model.ValidID(string(id)) {
		return a, fmt.Errorf("%w: album %s", ErrNotFound, safetext.Quote(string(id)))
	}
	err := c.getCBOR(ctx, albumKey(id), "album "+safetext.Quote(string(id)), &a)
	return a, err
}

// Artist returns the artist with the given id, or ErrNotFound.
func (c *Catalog) Artist(ctx context.Context, id model.ArtistID) (model.Artist, error) {
	var a model.Artist
	if !model.ValidID(string(id)) {
		return a, fmt.Errorf("%w: artist %s", ErrNotFound, safetext.Quote(string(id)))
	}
	err := c.getCBOR(ctx, artistKey(id), "artist "+safetext.Quote(string(id)), &a)
	return a, err
}

// ArtistAlbums returns the albums on which the artist is an album artist,
// ordered by release date then title. It returns ErrNotFound when the
// artist does not exist, and an empty slice for an artist without albums.
func (c *Catalog) ArtistAlbums(ctx context.Context, id model.ArtistID) ([]model.Album, error) {
	if _, err := c.Artist(ctx, id); err != nil {
		return nil, err
	}
	var ids []model.AlbumID
	prefix := artistAlbumsPrefix(id)
	err := c.s.Iterate(ctx, prefix, false, func(k, _ []byte) error {
		ids = append(ids, model.AlbumID(k[len(prefix):]))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list albums of %s: %w", id, err)
	}
	albums := make([]model.Album, 0, len(ids))
	for _, al := range ids {
		a, err := c.Album(ctx, al)
		if err != nil {
			return nil, err
		}
		albums = append(albums, a)
	}
	slices.SortFunc(albums, func(a, b model.Album) int {
		return cmp.Or(cmp.Compare(a.ReleaseDate, b.ReleaseDate), cmp.Compare(a.Title, b.Title), cmp.Compare(a.ID, b.ID))
	})
	return albums, nil
}

// EachTrack calls fn for every track in the catalog in id order (for
// building search indexes). Returning store.ErrStop from fn ends the walk
// early with a nil error.
func (c *Catalog) EachTrack(ctx context.Context, fn func(model.Track) error) error {
	return c.s.Iterate(ctx, []byte("cat/track/"), false, func(k, v []byte) error {
		var t model.Track
		if err := decMode.Unmarshal(v, &t); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrCorrupt, k, err)
		}
		return fn(t)
	})
}

// Manifest returns the signed manifest envelope of (track, tier), owned by
// the caller, or ErrNotFound.
func (c *Catalog) Manifest(ctx context.Context, id model.TrackID, tier model.Tier) ([]byte, error) {
	if !model.ValidID(string(id)) || !tier.Valid() {
		return nil, fmt.Errorf("%w: manifest %s/%s", ErrNotFound, safetext.Quote(string(id)), safetext.Quote(string(tier)))
	}
	b, err := c.s.Get(ctx, manifestKey(id, tier))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: manifest %s/%s", ErrNotFound, safetext.Quote(string(id)), tier)
	}
	if err != nil {
		return nil, fmt.Errorf("read manifest %s/%s: %w", id, tier, err)
	}
	return b, nil
}

// contentKey returns the unsealed content key of (track, tier), or
// ErrNotFound. It returns ErrCorrupt when the sealed key fails
// authentication (wrong at-rest key or tampered store). It knows no
// embargo: everything outside the package gets keys through
// ContentKeyAt.
func (c *Catalog) contentKey(ctx context.Context, id model.TrackID, tier model.Tier) (crypto.ContentKey, error) {
	var k crypto.ContentKey
	if !model.ValidID(string(id)) || !tier.Valid() {
		return k, fmt.Errorf("%w: key %s/%s", ErrNotFound, safetext.Quote(string(id)), safetext.Quote(string(tier)))
	}
	sk := contentKeyKey(id, tier)
	b, err := c.s.Get(ctx, sk)
	if errors.Is(err, store.ErrNotFound) {
		return k, fmt.Errorf("%w: key %s/%s", ErrNotFound, safetext.Quote(string(id)), tier)
	}
	if err != nil {
		return k, fmt.Errorf("read key %s/%s: %w", id, tier, err)
	}
	ns := c.aead.NonceSize()
	if len(b) != ns+len(k)+c.aead.Overhead() {
		return k, fmt.Errorf("%w: sealed key %s/%s has %d bytes", ErrCorrupt, id, tier, len(b))
	}
	plain, err := c.aead.Open(nil, b[:ns], b[ns:], sk)
	if err != nil {
		return k, fmt.Errorf("%w: unseal key %s/%s: %v", ErrCorrupt, id, tier, err)
	}
	copy(k[:], plain)
	return k, nil
}

// sealKey seals k for the store key sk.
func (c *Catalog) sealKey(sk []byte, k crypto.ContentKey) ([]byte, error) {
	nonce := make([]byte, c.aead.NonceSize(), c.aead.NonceSize()+len(k)+c.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	return c.aead.Seal(nonce, nonce, k[:], sk), nil
}

// Blob returns the encrypted blob with the given SHA-256, owned by the
// caller, or ErrNotFound.
func (c *Catalog) Blob(ctx context.Context, hash [32]byte) ([]byte, error) {
	if c.blobs != nil {
		b, err := c.blobs.Get(ctx, hash)
		if errors.Is(err, blobstore.ErrNotFound) {
			return nil, fmt.Errorf("%w: blob %x", ErrNotFound, hash)
		}
		return b, err
	}
	b, err := c.s.Get(ctx, blobKey(hash))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: blob %x", ErrNotFound, hash)
	}
	if err != nil {
		return nil, fmt.Errorf("read blob %x: %w", hash, err)
	}
	return b, nil
}

// BlobSize returns the length of the blob with the given SHA-256 without
// reading it (blobstore.Store.Size: at most blobstore.SizeSlack bytes
// over), ErrNotFound when it is not stored, or an error wrapping
// blobstore.ErrNoSize when its store cannot tell.
func (c *Catalog) BlobSize(ctx context.Context, hash [32]byte) (int64, error) {
	var n int64
	var err error
	if c.blobs != nil {
		n, err = c.blobs.Size(ctx, hash)
	} else {
		n, err = blobstore.KVSize(ctx, c.s, hash)
	}
	if errors.Is(err, blobstore.ErrNotFound) {
		return 0, fmt.Errorf("%w: blob %x", ErrNotFound, hash)
	}
	return n, err
}

// HasBlob reports whether the blob with the given SHA-256 is stored.
func (c *Catalog) HasBlob(ctx context.Context, hash [32]byte) (bool, error) {
	if c.blobs != nil {
		return c.blobs.Has(ctx, hash)
	}
	return blobstore.KVHas(ctx, c.s, hash)
}

// PutBlob stores data under its SHA-256 and returns the hash. It is
// idempotent: an already stored blob is not written again. The store
// copies data. A blob stays unreachable from the catalog until a
// published manifest references it; unreferenced blobs are removed by GC.
func (c *Catalog) PutBlob(ctx context.Context, data []byte) ([32]byte, error) {
	h := sha256.Sum256(data)
	if len(data) == 0 || len(data) > model.MaxBlobSize {
		return h, fmt.Errorf("%w: blob of %d bytes", ErrBadRelease, len(data))
	}
	if c.blobs != nil {
		return h, c.blobs.Put(ctx, h, data)
	}
	ok, err := c.HasBlob(ctx, h)
	if err != nil || ok {
		return h, err
	}
	if err := c.s.Set(ctx, blobKey(h), data); err != nil {
		return h, fmt.Errorf("write blob %x: %w", h, err)
	}
	return h, nil
}

// TrackByMaster returns the id of the track ingested from the master file
// with the given SHA-256, and whether there is one.
func (c *Catalog) TrackByMaster(ctx context.Context, sha [32]byte) (model.TrackID, bool, error) {
	b, err := c.s.Get(ctx, masterKey(sha))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("read master index: %w", err)
	}
	return model.TrackID(b), true, nil
}
