package core

import (
	"context"
	"fmt"
	"sync"

	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/fetch"
)

// offlineState is the engine's downloads manager and offline-mode switch.
// It lives beside the Engine (keyed by it) so that the downloads
// subsystem needs no field in engine.go.
type offlineState struct {
	mu          sync.Mutex
	dl          *download.Manager
	offlineMode bool
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
// offline licenses serve OpenTrack — with no relay at all. Call
// CloseDownloads before Close.
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
	}, opts.WithLogger(e.log))
	if err != nil {
		return nil, fmt.Errorf("core: open downloads: %w", err)
	}
	e.fetcher.SetPinned(m.Blob)
	st.dl = m
	return m, nil
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
	if st.dl == nil {
		return nil
	}
	e.fetcher.SetPinned(nil)
	err := st.dl.Close()
	st.dl = nil
	return err
}
