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
	e.fetcher.SetPinned(m.Blob)
	e.dl = m
	return m, nil
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
