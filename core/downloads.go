package core

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/docs"
)

// ErrNoDownloads is returned by FollowPlaylists before OpenDownloads.
var ErrNoDownloads = errors.New("core: downloads not open")

// errNoDataDir: OpenDownloads on an engine opened without a data
// directory (Open(ctx, "", …) with WithStore) has nowhere for blob files.
var errNoDataDir = errors.New("no data directory for downloaded blobs")

// offlineState is the engine's downloads manager and offline-mode switch.
// It lives beside the Engine (keyed by it) so that the downloads
// subsystem needs no field in engine.go.
type offlineState struct {
	mu          sync.Mutex
	dl          *download.Manager
	offlineMode bool
	unfollow    func() // stops FollowPlaylists' watcher; nil when none
}

var offlineStates sync.Map // *Engine → *offlineState

func (e *Engine) offline() *offlineState {
	v, _ := offlineStates.LoadOrStore(e, &offlineState{})
	return v.(*offlineState)
}

// OpenDownloads starts the engine's downloads manager (the first call;
// later calls return the same manager and ignore opts): it loads the
// durable download table from the store without network I/O, resumes
// unfinished downloads in the background, and makes downloaded blobs and
// offline licenses serve OpenTrack — with no relay at all. Downloaded
// blobs are files under <dir>/blobs (encrypted, content addressed); the
// job table and licenses are in the store. In offline mode
// (SetOfflineMode) the manager starts paused. Call CloseDownloads before
// Close.
func (e *Engine) OpenDownloads(ctx context.Context, opts download.Options) (*download.Manager, error) {
	if err := e.checkOpen(); err != nil {
		return nil, err
	}
	st := e.offline()
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.dl != nil {
		return st.dl, nil
	}
	if e.dir == "" {
		return nil, fmt.Errorf("core: open downloads: %w", errNoDataDir)
	}
	origins := make([]fetch.Origin, len(e.opts.origins))
	for i, u := range e.opts.origins {
		o, err := fetch.NewHTTPOrigin(u, e.opts.httpClient, e.Token)
		if err != nil {
			return nil, fmt.Errorf("core: %w", err)
		}
		origins[i] = o
	}
	m, err := download.New(ctx, download.Deps{
		Store: e.st, Identity: e.id, CatalogKey: e.catalogKey, Fetcher: e.fetcher,
		Origins: origins, Relays: e.opts.origins, HTTP: e.opts.httpClient, Token: e.Token,
		BlobDir: filepath.Join(e.dir, "blobs"),
	}, opts.WithLogger(e.log))
	if err != nil {
		return nil, fmt.Errorf("core: open downloads: %w", err)
	}
	if st.offlineMode {
		m.SetPaused(offlineModeReason)
	}
	e.fetcher.SetPinned(m.Blob)
	st.dl = m
	return m, nil
}

// FollowPlaylists makes the downloads manager follow d's playlists:
// playlist downloads (download.KindPlaylist, id = the document id's
// string) resolve to the entries of the playlist document as this device
// holds it (offline too), and every change of a downloaded playlist — an
// edit here, or one synced from another device or a collaborator —
// refreshes its download: new entries are licensed and fetched, removed
// entries' blobs are released unless another download still needs them
// (shared tracks are stored and counted once). Every playlist download is
// refreshed once now, since documents may have changed while downloads
// were closed. The watcher runs until CloseDownloads, d.Close, or the
// next FollowPlaylists. It needs OpenDownloads first (ErrNoDownloads).
func (e *Engine) FollowPlaylists(ctx context.Context, d *Docs) error {
	st := e.offline()
	st.mu.Lock()
	m := st.dl
	if m == nil {
		st.mu.Unlock()
		return ErrNoDownloads
	}
	if st.unfollow != nil {
		st.unfollow()
	}
	events, cancel := d.Subscribe()
	done := make(chan struct{})
	st.unfollow = func() { cancel(); <-done }
	st.mu.Unlock()
	m.SetPlaylists(func(ctx context.Context, id string) ([]model.TrackID, error) {
		doc, err := docs.ParseDocumentID(id)
		if err != nil {
			return nil, err
		}
		v, err := d.Playlists().Get(ctx, doc)
		if err != nil {
			return nil, err
		}
		ids := make([]model.TrackID, len(v.Entries))
		for i, en := range v.Entries {
			ids[i] = en.Track
		}
		return ids, nil
	})
	bg := context.WithoutCancel(ctx)
	go func() {
		defer close(done)
		for ev := range events {
			if err := m.RefreshPlaylist(bg, ev.Doc.String()); err != nil {
				e.log.Warn("core: refresh playlist download", "playlist", ev.Doc.String(), "err", err)
			}
		}
	}()
	for _, id := range m.Playlists() {
		if err := m.RefreshPlaylist(ctx, id); err != nil {
			return fmt.Errorf("core: refresh playlist download %s: %w", id, err)
		}
	}
	return nil
}

// Downloads returns the manager started by OpenDownloads, or nil.
func (e *Engine) Downloads() *download.Manager {
	st := e.offline()
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.dl
}

// CloseDownloads stops the downloads manager (in-flight blobs are
// abandoned, never half-recorded) and forgets the engine's offline state.
// Safe to call without OpenDownloads and more than once.
func (e *Engine) CloseDownloads() error {
	v, ok := offlineStates.LoadAndDelete(e)
	if !ok {
		return nil
	}
	st := v.(*offlineState)
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.unfollow != nil {
		st.unfollow()
		st.unfollow = nil
	}
	if st.dl == nil {
		return nil
	}
	e.fetcher.SetPinned(nil)
	err := st.dl.Close()
	st.dl = nil
	return err
}
