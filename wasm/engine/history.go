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
type History struct {
	st store.Store

	mu        sync.Mutex
	listeners []func(model.PlayEvent)
}

// Append implements player.History: it stores ev under its id and tells
// the listeners.
func (h *History) Append(ctx context.Context, ev model.PlayEvent) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("engine: encode play event: %w", err)
	}
	if err := h.st.Set(ctx, []byte(prefixHistory+ev.EventID), b); err != nil {
		return fmt.Errorf("engine: save play event: %w", err)
	}
	h.mu.Lock()
	ls := append([]func(model.PlayEvent){}, h.listeners...)
	h.mu.Unlock()
	for _, fn := range ls {
		fn(ev)
	}
	return nil
}

// OnAppend registers fn to run after every stored event (on the player's
// goroutine: keep it short).
func (h *History) OnAppend(fn func(model.PlayEvent)) {
	h.mu.Lock()
	h.listeners = append(h.listeners, fn)
	h.mu.Unlock()
}

// Events returns the stored play events in key order, owned by the caller.
func (h *History) Events(ctx context.Context) ([]model.PlayEvent, error) {
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
