package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/core/playlog"
	"github.com/segue-fm/segue/store"
)

// History is the web device's play history in its store (the page's
// IndexedDB in the browser), appended to by the player: the native
// engine's queue (playlog.Queue, hist/<u64 seq>), whose sequence numbers
// are the relay's de-duplication key when Engine.UploadPlays sends it;
// shared (playlog.NewShared), as the page's other tabs append to the same
// IndexedDB.
//
// Append returns at once and a background writer stores the events in
// order: the player calls it from the goroutine that feeds the audio
// output, and an IndexedDB commit can take longer than the output's
// buffer lasts. Events returns stored and pending events alike.
type History struct {
	st  store.Store
	q   *playlog.Queue
	log func(msg string, args ...any)
	// stored is told after the writer stored what was pending.
	stored func()

	mu        sync.Mutex
	listeners []func(model.PlayEvent)
	pending   []model.PlayEvent
	writing   bool
	idle      *sync.Cond
	// adoptMu serialises adopt; adopted: the events of the old layout
	// were moved into q.
	adoptMu sync.Mutex
	adopted bool
}

func newHistory(st store.Store, log func(string, ...any), stored func()) *History {
	h := &History{st: st, q: playlog.NewShared(st), log: log, stored: stored}
	h.idle = sync.NewCond(&h.mu)
	return h
}

// Append implements player.History: it queues ev for the store and tells
// the listeners.
func (h *History) Append(_ context.Context, ev model.PlayEvent) error {
	h.mu.Lock()
	h.pending = append(h.pending, ev)
	if !h.writing {
		h.writing = true
		go h.write()
	}
	ls := append([]func(model.PlayEvent){}, h.listeners...)
	h.mu.Unlock()
	for _, fn := range ls {
		fn(ev)
	}
	return nil
}

// write stores the pending events in order until none is left, then
// tells stored.
func (h *History) write() {
	for {
		h.mu.Lock()
		if len(h.pending) == 0 {
			h.writing = false
			h.idle.Broadcast()
			h.mu.Unlock()
			h.stored()
			return
		}
		ev := h.pending[0]
		h.mu.Unlock()
		if _, err := h.q.Append(context.Background(), ev); err != nil {
			h.log("engine: save play event", "event", ev.EventID, "err", err)
		}
		h.mu.Lock()
		h.pending = h.pending[1:]
		h.mu.Unlock()
	}
}

// Flush waits until every appended event has been written.
func (h *History) Flush() {
	h.mu.Lock()
	for h.writing {
		h.idle.Wait()
	}
	h.mu.Unlock()
}

// OnAppend registers fn to run after every stored event (on the player's
// goroutine: keep it short).
func (h *History) OnAppend(fn func(model.PlayEvent)) {
	h.mu.Lock()
	h.listeners = append(h.listeners, fn)
	h.mu.Unlock()
}

// adopt moves the events an earlier version stored as hist/<event id> →
// JSON (never uploaded) into the queue, each in one transaction, once
// per History (again after a failure); one that does not decode is
// logged and left.
func (h *History) adopt(ctx context.Context) error {
	h.adoptMu.Lock()
	defer h.adoptMu.Unlock()
	if h.adopted {
		return nil
	}
	type old struct {
		key []byte
		ev  model.PlayEvent
	}
	var olds []old
	err := h.st.Iterate(ctx, playlog.Prefix, false, func(k, v []byte) error {
		if len(k) == len(playlog.Prefix)+8 || bytes.Equal(k, playlog.MarkKey) {
			return nil
		}
		var ev model.PlayEvent
		if err := json.Unmarshal(v, &ev); err != nil {
			// Left in place: one damaged entry does not hold back the rest.
			h.log("engine: old play event does not decode; not uploaded", "key", string(k), "err", err)
			return nil
		}
		olds = append(olds, old{bytes.Clone(k), ev})
		return nil
	})
	if err != nil {
		return fmt.Errorf("engine: read old play events: %w", err)
	}
	for _, o := range olds {
		if _, err := h.q.Replace(ctx, o.ev, o.key); err != nil {
			return fmt.Errorf("engine: move old play event: %w", err)
		}
	}
	h.adopted = true
	return nil
}

// Events returns the queued play events, oldest first, owned by the
// caller, after the pending ones are written; one that does not decode
// is left out (UploadPlays sets it aside).
func (h *History) Events(ctx context.Context) ([]model.PlayEvent, error) {
	h.Flush()
	if err := h.adopt(ctx); err != nil {
		return nil, err
	}
	es, err := h.q.List(ctx, 0, 0)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	out := make([]model.PlayEvent, 0, len(es))
	for _, e := range es {
		if e.Err == nil {
			out = append(out, e.Event)
		}
	}
	return out, nil
}

// Pending returns how many play events wait to be uploaded, after the
// pending ones are written.
func (h *History) Pending(ctx context.Context) (int, error) {
	h.Flush()
	if err := h.adopt(ctx); err != nil {
		return 0, err
	}
	n, err := h.q.Len(ctx)
	if err != nil {
		return 0, fmt.Errorf("engine: %w", err)
	}
	return n, nil
}
