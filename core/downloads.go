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

// ErrNoDocs is returned by the calls that take a *Docs (PlayPlaylist,
// FollowPlaylists, ResolvePlaylists, FollowSearchIndex) when it is nil.
var ErrNoDocs = errors.New("core: no documents (nil *Docs)")

// errNoDataDir: OpenDownloads on an engine opened without a data
// directory (Open(ctx, "", …) with WithStore) has nowhere for blob files.
var errNoDataDir = errors.New("no data directory for downloaded blobs")

// offlineState is the engine's downloads manager and offline-mode switch
// (Engine.offline).
type offlineState struct {
	mu          sync.Mutex // held while the manager opens or closes
	dl          *download.Manager
	offlineMode bool
	unfollow    func() // stops FollowPlaylists' watcher; nil when none
}

// OpenDownloads starts the engine's downloads manager (the first call;
// later calls return the same manager and ignore opts): it loads the
// durable download table from the store without network I/O, resumes
// unfinished downloads in the background, and makes downloaded blobs and
// offline licenses serve OpenTrack, and the metadata downloads recorded
// serve TrackInfo and Album (so the Play methods) — with no relay at all. Downloaded
// blobs are files under <dir>/blobs (encrypted, content addressed); the
// job table and licenses are in the store. In offline mode
// (SetOfflineMode) the manager starts paused. The manager is the
// engine's: CloseDownloads or Close closes it.
func (e *Engine) OpenDownloads(ctx context.Context, opts download.Options) (*download.Manager, error) {
	ctx, done, err := e.calls.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	st := &e.offline
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
		o, err := fetch.NewHTTPOrigin(u, e.client, e.Token)
		if err != nil {
			return nil, fmt.Errorf("core: %w", err)
		}
		origins[i] = o
	}
	m, err := download.New(ctx, download.Deps{
		Store: e.st, Identity: e.id, CatalogKey: e.catalogKey, Fetcher: e.fetcher,
		Origins: origins, Relays: e.opts.origins, HTTP: e.client, Token: e.Token,
		BlobDir: filepath.Join(e.dir, "blobs"),
	}, opts.WithLogger(e.log).WithEvents(e.searchDownloadEvents(opts.Events())))
	if err != nil {
		return nil, fmt.Errorf("core: open downloads: %w", err)
	}
	if st.offlineMode {
		m.SetPaused(offlineModeReason)
	}
	// A queued offline play's end is a trusted time the clock reached:
	// a floor a dl/clock restored from a backup cannot go below.
	if end, ok, err := e.history.q.NewestTrusted(ctx, maxFloorPlays); err != nil {
		e.log.Warn("core: read the play history for the trusted clock", "err", err)
	} else if ok {
		m.RaiseClock(ctx, end)
	}
	e.fetcher.SetPinned(m.Blob)
	st.dl = m
	e.scheduleSearchRefresh() // downloads may have changed while closed
	return m, nil
}

// maxFloorPlays is how many of the newest queued plays OpenDownloads
// reads for one stamped with trusted time (online plays, in wall time,
// are not).
const maxFloorPlays = 256

// FollowPlaylists makes the downloads manager follow d's playlists:
// playlist downloads (download.KindPlaylist, id = the document id's
// string) resolve to the entries of the playlist document as this device
// holds it (offline too), and every change of a downloaded playlist — an
// edit here, or one synced from another device or a collaborator —
// refreshes its download: new entries are licensed and fetched, removed
// entries' blobs are released unless another download still needs them
// (shared tracks are stored and counted once). Every playlist download is
// refreshed once now, since documents may have changed while downloads
// were closed. The watcher runs until CloseDownloads (or Close), d.Close,
// or the next FollowPlaylists; stopping it cancels the refresh it is
// doing. It needs OpenDownloads first (ErrNoDownloads).
func (e *Engine) FollowPlaylists(ctx context.Context, d *Docs) error {
	if d == nil {
		return ErrNoDocs
	}
	ctx, done, err := e.calls.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	st := &e.offline
	st.mu.Lock()
	m := st.dl
	if m == nil {
		st.mu.Unlock()
		return ErrNoDownloads
	}
	if st.unfollow != nil {
		st.unfollow()
	}
	events, unsubscribe := d.Subscribe()
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	watching := make(chan struct{})
	st.unfollow = func() { unsubscribe(); stop(); <-watching }
	st.mu.Unlock()
	m.SetPlaylists(playlistResolver(d))
	go func() {
		defer close(watching)
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

// ResolvePlaylists lets the downloads manager resolve playlist downloads
// from d's playlists as this device holds them (offline too), as
// FollowPlaylists does, but without following their changes or
// refreshing the downloads: the playlist downloads still to be resolved
// (new, or failed before) are resolved, resolved ones stay as they are.
// A later FollowPlaylists replaces it. It needs OpenDownloads first
// (ErrNoDownloads).
func (e *Engine) ResolvePlaylists(ctx context.Context, d *Docs) error {
	if d == nil {
		return ErrNoDocs
	}
	_, done, err := e.calls.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	m := e.Downloads()
	if m == nil {
		return ErrNoDownloads
	}
	m.SetPlaylists(playlistResolver(d))
	return nil
}

// playlistResolver resolves a playlist download (id: the document id's
// string) to the entries of d's playlist document.
func playlistResolver(d *Docs) download.PlaylistFunc {
	return func(ctx context.Context, id string) ([]model.TrackID, error) {
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
	}
}

// Downloads returns the manager started by OpenDownloads, or nil (none,
// or after CloseDownloads or Close).
func (e *Engine) Downloads() *download.Manager {
	e.offline.mu.Lock()
	defer e.offline.mu.Unlock()
	return e.offline.dl
}

// CloseDownloads stops FollowPlaylists' watcher and the downloads manager
// (in-flight blobs are abandoned, never half-recorded), returning when
// they have ended. Offline mode stays as set. It is a no-op returning nil
// without a manager, so more than once and after Close too; OpenDownloads
// may start a new manager.
func (e *Engine) CloseDownloads() error { return e.closeDownloads() }

func (e *Engine) closeDownloads() error {
	st := &e.offline
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
