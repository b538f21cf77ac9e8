package engine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/player"
)

// Source is the engine as a player.Source: manifests verified under the
// pinned catalog key, blobs verified against the manifest before they
// are decrypted in memory with the content key from the relay. While
// signed out, the tracks of a share link PlayShare plays open as that
// link's previews instead (api.PreviewAudio, already clear: no key).
type Source struct{ E *Engine }

// OpenTrack implements player.Source: the manifest (with the header and
// chunk 0 prefetched) and the content key are fetched concurrently.
func (s Source) OpenTrack(ctx context.Context, id model.TrackID, tier model.Tier) (player.TrackSource, error) {
	if !tier.Valid() {
		return nil, fmt.Errorf("%w: %w", player.ErrUnplayable, model.ErrInvalidTier)
	}
	if token, n, ok := s.E.previewOf(id); ok {
		return s.E.openPreview(ctx, token, n, id)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		key    crypto.ContentKey
		keyErr error
		wg     sync.WaitGroup
	)
	wg.Go(func() {
		if key, keyErr = s.E.contentKey(ctx, id, tier); keyErr != nil {
			cancel()
		}
	})
	m, err := s.E.fetcher.ManifestAndPrefetch(ctx, id, tier, 1)
	if err != nil {
		cancel()
	}
	wg.Wait()
	if keyErr != nil && (err == nil || errors.Is(err, context.Canceled)) {
		err = keyErr
	}
	if err != nil {
		return nil, classify(fmt.Errorf("engine: open %s/%s: %w", id, tier, err))
	}
	return &track{f: s.E.fetcher, m: m, key: key}, nil
}

type track struct {
	f   *fetch.Fetcher
	m   *model.Manifest
	key crypto.ContentKey
}

func (t *track) Manifest() *model.Manifest { return t.m }

func (t *track) Header(ctx context.Context) ([]byte, error) {
	b, err := t.f.Header(ctx, t.m)
	if err != nil {
		return nil, classify(err)
	}
	crypto.XORKeyStream(t.key, 0, 0, b, b)
	return b, nil
}

func (t *track) Chunk(ctx context.Context, i int) ([]byte, error) {
	b, err := t.f.Chunk(ctx, t.m, i)
	if err != nil {
		return nil, classify(err)
	}
	crypto.XORKeyStream(t.key, uint64(i)+1, 0, b, b)
	return b, nil
}

func (t *track) Close() error { return nil }

// classify marks failures retrying cannot fix with player.ErrUnplayable,
// as package core does; connectivity failures stay stalls.
func classify(err error) error {
	if err == nil || errors.Is(err, fetch.ErrOffline) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled) {
		return err
	}
	var se *fetch.StatusError
	permanent := errors.Is(err, fetch.ErrIntegrity) || errors.Is(err, fetch.ErrNotFound) ||
		errors.Is(err, fetch.ErrTooLarge) || errors.Is(err, fetch.ErrChunkRange) ||
		errors.Is(err, model.ErrBadManifest) || errors.Is(err, model.ErrInvalidTier) ||
		errors.Is(err, ErrNotLoggedIn) || errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrCatalogKeyMismatch) || errors.Is(err, crypto.ErrDecrypt) ||
		errors.As(err, &se) && se.Code >= 400 && se.Code < 500 && se.Code != http.StatusRequestTimeout &&
			se.Code != http.StatusTooManyRequests
	if permanent {
		return fmt.Errorf("%w: %w", player.ErrUnplayable, err)
	}
	return err
}
