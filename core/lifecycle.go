package core

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// gate admits calls until it is shut, then refuses them with ErrClosed.
// Shutting cancels the context of every admitted call and waits for those
// calls to return, so whatever the calls use (the store, the network
// client) can be released right after. The zero gate is not usable: make
// one with newGate.
type gate struct {
	ctx    context.Context // done once the gate is shut
	cancel context.CancelFunc

	mu    sync.Mutex
	shut  bool
	calls sync.WaitGroup
}

func newGate() *gate {
	ctx, cancel := context.WithCancel(context.Background())
	return &gate{ctx: ctx, cancel: cancel}
}

// enter admits one call: it returns ctx, additionally cancelled when the
// gate shuts, and the function that ends the call (call it exactly once).
// After the gate shut it returns ErrClosed.
func (g *gate) enter(ctx context.Context) (context.Context, func(), error) {
	g.mu.Lock()
	if g.shut {
		g.mu.Unlock()
		return ctx, nil, ErrClosed
	}
	g.calls.Add(1)
	g.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(g.ctx, cancel)
	return ctx, func() {
		stop()
		cancel()
		g.calls.Done()
	}, nil
}

// check returns ErrClosed once the gate is shut, for calls that hold no
// resource the gate protects.
func (g *gate) check() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.shut {
		return ErrClosed
	}
	return nil
}

// close shuts the gate, cancels the admitted calls and waits for them to
// return. Later calls do nothing.
func (g *gate) close() {
	g.mu.Lock()
	g.shut = true
	g.mu.Unlock()
	g.cancel()
	g.calls.Wait()
}

// Close shuts the engine down, in an order in which nothing still running
// can reach a released resource:
//
//  1. public calls: new calls (and every method of a Track, History or
//     Docs of this engine) return ErrClosed; calls in flight have their
//     context cancelled and are waited for;
//  2. the player (as ClosePlayer);
//  3. downloads (as CloseDownloads: the FollowPlaylists watcher, then the
//     manager);
//  4. every Docs opened with OpenDocs and not yet closed (as Docs.Close:
//     relay and LAN sync, then the repository);
//  5. the play history;
//  6. the fetcher's cache recency, persisted (LRU touches flushed), and the
//     content keys held in memory, forgotten;
//  7. the idle connections of the engine's own HTTP client (not of a
//     client given with WithHTTPClient, which stays the caller's);
//  8. the store (unless it was given with WithStore).
//
// Sinks given to OpenPlayer stay the caller's: close them after Close.
// Close is idempotent: later calls (concurrent ones after the first has
// finished) return nil. The error joins the failures of every step.
func (e *Engine) Close() error {
	var err error
	e.closeOnce.Do(func() { err = e.shutdown() })
	return err
}

func (e *Engine) shutdown() error {
	e.calls.close()
	var errs []error
	if err := e.closePlayer(); err != nil {
		errs = append(errs, fmt.Errorf("core: close player: %w", err))
	}
	if err := e.closeDownloads(); err != nil {
		errs = append(errs, fmt.Errorf("core: close downloads: %w", err))
	}
	if err := e.closeDocs(); err != nil {
		errs = append(errs, fmt.Errorf("core: close documents: %w", err))
	}
	e.history.calls.close()
	e.keys.clear()
	e.heads.Clear()
	if err := e.fetcher.Flush(context.Background()); err != nil {
		errs = append(errs, fmt.Errorf("core: flush cache recency: %w", err))
	}
	if e.ownClient {
		e.client.CloseIdleConnections()
	}
	if err := e.closeStore(); err != nil {
		errs = append(errs, fmt.Errorf("core: close store: %w", err))
	}
	return errors.Join(errs...)
}

// closeDocs closes every Docs still open.
func (e *Engine) closeDocs() error {
	e.mu.Lock()
	open := make([]*Docs, 0, len(e.docs))
	for d := range e.docs {
		open = append(open, d)
	}
	e.mu.Unlock()
	var errs []error
	for _, d := range open {
		errs = append(errs, d.Close())
	}
	return errors.Join(errs...)
}

// reserveDocs claims the engine's one Docs slot for an OpenDocs in
// progress, or returns ErrDocsOpen while a Docs is open or being opened.
// OpenDocs ends the claim with addDocs.
func (e *Engine) reserveDocs() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.docsOpening || len(e.docs) > 0 {
		return ErrDocsOpen
	}
	e.docsOpening = true
	return nil
}

// addDocs ends reserveDocs' claim, recording d as open for Close (nil:
// the open failed, the slot is free again). OpenDocs calls it inside an
// admitted call, so it always happens before Close closes the open Docs.
func (e *Engine) addDocs(d *Docs) {
	e.mu.Lock()
	e.docsOpening = false
	if d != nil {
		e.docs[d] = struct{}{}
	}
	e.mu.Unlock()
}

// removeDocs forgets d (closed).
func (e *Engine) removeDocs(d *Docs) {
	e.mu.Lock()
	delete(e.docs, d)
	e.mu.Unlock()
}
