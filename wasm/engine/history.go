package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
)

// prefixHistory keys play events: hist/<event id>, value the event's JSON.
const prefixHistory = "hist/"

// History is the web device's play history in its store (the page's
// IndexedDB in the browser), appended to by the player.
//
// Append returns at once and a background writer stores the events in
// order: the player calls it from the goroutine that feeds the audio
// output, and an IndexedDB commit can take longer than the output's
// buffer lasts. Events returns stored and pending events alike.
type History struct {
	st  store.Store
	log func(msg string, args ...any)

	mu        sync.Mutex
	listeners []func(model.PlayEvent)
	pending   []model.PlayEvent
	writing   bool
	idle      *sync.Cond
}

func newHistory(st store.Store, log func(string, ...any)) *History {
	h := &History{st: st, log: log}
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

// write stores the pending events in order until none is left.
func (h *History) write() {
	for {
		h.mu.Lock()
		if len(h.pending) == 0 {
			h.writing = false
			h.idle.Broadcast()
			h.mu.Unlock()
			return
		}
		ev := h.pending[0]
		h.mu.Unlock()
		if b, err := json.Marshal(ev); err != nil {
			h.log("engine: encode play event", "event", ev.EventID, "err", err)
		} else if err := h.st.Set(context.Background(), []byte(prefixHistory+ev.EventID), b); err != nil {
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

// Events returns the stored play events in key order, owned by the
// caller, after the pending ones are written.
func (h *History) Events(ctx context.Context) ([]model.PlayEvent, error) {
	h.Flush()
	var out []model.PlayEvent
	err := h.st.Iterate(ctx, []byte(prefixHistory), false, func(k, v []byte) error {
		var ev model.PlayEvent
		if err := json.Unmarshal(v, &ev); err != nil {
			return fmt.Errorf("engine: play event %q: %w", k, err)
		}
		out = append(out, ev)
		return nil
	})
	return out, err
}
