package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/store"
)

// ErrDownloadsOpen is returned by OpenDownloads when the engine already
// has a downloads manager.
var ErrDownloadsOpen = errors.New("engine: downloads already open")

// OpenDownloads starts the native engine's downloads manager (package
// core/download, unchanged) for this browser device: requests, jobs,
// recorded metadata, offline licenses and the trusted clock in the
// engine's store, the downloaded blobs (encrypted, as served) as values
// of blobs — both IndexedDB in the page. Like core.Engine.OpenDownloads
// it makes downloaded blobs serve the fetcher (pinned), a downloaded
// (track, tier) take its content key from its license checked against
// trusted time (expiry plus the 48 h grace; no network), and recorded
// metadata answer Album and Track, so a download plays with the relay
// unreachable. Unfinished downloads resume in the background. Close
// closes the manager.
func (e *Engine) OpenDownloads(ctx context.Context, blobs store.Store, opts download.Options) (*download.Manager, error) {
	if blobs == nil {
		return nil, errors.New("engine: open downloads: no blob store")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.closed:
		return nil, ErrClosed
	case e.dl != nil:
		return nil, ErrDownloadsOpen
	}
	m, err := download.New(ctx, download.Deps{
		Store: e.st, Identity: e.id, CatalogKey: e.catalogKey, Fetcher: e.fetcher,
		Origins: []fetch.Origin{e.origin}, Relays: []string{e.relay}, HTTP: e.opts.client, Token: e.Token,
		BlobStore: blobs,
	}, opts.WithLogger(e.opts.logger))
	if err != nil {
		return nil, fmt.Errorf("engine: open downloads: %w", err)
	}
	e.fetcher.SetPinned(func(ctx context.Context, h [32]byte) ([]byte, bool, error) {
		if e.streamedOnly(m, h) {
			return nil, false, nil
		}
		return m.Blob(ctx, h)
	})
	e.dl = m
	return m, nil
}

// maxStreamed bounds the blob hashes remembered by noteStreamed; past it
// the memory starts again (reads then ask the blob store, as before).
const maxStreamed = 1 << 16

// noteStreamed remembers the blobs of a track opened for play, so that
// reading them skips the downloads' blob store while no download of the
// track is requested (streamedOnly).
func (e *Engine) noteStreamed(m *model.Manifest) {
	id := manifestID{m.TrackID, m.Tier}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.streamed)+len(m.Chunks)+1 > maxStreamed {
		clear(e.streamed)
	}
	note := func(h [32]byte) {
		if old, ok := e.streamed[h]; ok && old != id {
			e.streamed[h] = manifestID{} // shared by two tracks: always ask the store
			return
		}
		e.streamed[h] = id
	}
	note(m.Header.SHA256)
	for _, c := range m.Chunks {
		note(c.Blob.SHA256)
	}
}

// streamedOnly reports whether blob h belongs to a track opened for play
// of which dl holds no download (complete or not), so that it cannot be
// in the blob store: the fetcher then goes to its cache or the relay
// without an IndexedDB transaction on the way to the first audio.
func (e *Engine) streamedOnly(dl *download.Manager, h [32]byte) bool {
	e.mu.Lock()
	id, ok := e.streamed[h]
	e.mu.Unlock()
	return ok && id.track != "" && !dl.Holds(id.track, id.tier)
}

// Downloads returns the manager OpenDownloads started, or nil.
func (e *Engine) Downloads() *download.Manager {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dl
}

// offlineKey is the content key of a completely downloaded (track,
// tier) from its license (download.Manager.ContentKey: trusted time,
// expiry and grace, revocation); handled is false for anything else,
// which the relay is asked for.
func (e *Engine) offlineKey(ctx context.Context, track model.TrackID, tier model.Tier) (crypto.ContentKey, bool, error) {
	dl := e.Downloads()
	if dl == nil || !dl.Downloaded(track, tier) {
		return crypto.ContentKey{}, false, nil
	}
	k, err := dl.ContentKey(ctx, track, tier)
	return k, true, err
}

// observeStatement feeds the signed server time of a stream-key answer
// to the downloads' trusted clock (as core does); one that does not
// verify is logged and changes nothing.
func (e *Engine) observeStatement(ctx context.Context, header string, nonce []byte) {
	dl := e.Downloads()
	if dl == nil || header == "" {
		return
	}
	if err := dl.ObserveStatement(ctx, header, nonce); err != nil {
		e.opts.logger.Warn("engine: stream key statement ignored", "err", err)
	}
}

// recordedAlbum returns an album as a download recorded it.
func (e *Engine) recordedAlbum(ctx context.Context, id model.AlbumID) (model.Album, []model.Track, bool) {
	dl := e.Downloads()
	if dl == nil {
		return model.Album{}, nil, false
	}
	a, tracks, ok, err := dl.AlbumInfo(ctx, id)
	if err != nil {
		e.opts.logger.Warn("engine: downloaded album metadata unreadable; asking the relay", "album", id, "err", err)
	}
	return a, tracks, ok
}

// recordedTrack returns a track as a download recorded it.
func (e *Engine) recordedTrack(ctx context.Context, id model.TrackID) (model.Track, bool) {
	dl := e.Downloads()
	if dl == nil {
		return model.Track{}, false
	}
	t, ok, err := dl.TrackInfo(ctx, id)
	if err != nil {
		e.opts.logger.Warn("engine: downloaded track metadata unreadable; asking the relay", "track", id, "err", err)
	}
	return t, ok
}
