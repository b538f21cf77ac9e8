package core

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/core/playlog"
	"github.com/segue-fm/segue/internal/safetext"
)

// ErrInvalidEvent is returned by History.Append for a play event no
// relay could count (api.PlayBadField, api.PlayBadDuration,
// api.PlayUnknownTrack): a track id that is not an id, an unknown tier,
// end reason or source, a context past api.MaxContextKind or
// api.MaxContextID, no start time (or one before 1970), or a played
// time that is negative or longer than api.MaxPlayMs. Nothing is
// stored.
var ErrInvalidEvent = errors.New("core: invalid play event")

// History is the device's durable, append-only queue of play events
// (playlog.Queue: hist/<u64 seq> in the engine's store), waiting to be uploaded (Engine.UploadPlays sends them in signed batches;
// the relay de-duplicates by (device, sequence number)). Sequence numbers increase strictly and are
// never reused, even after Ack. It is safe for concurrent use and
// implements player.History. It belongs to its engine: after the engine's
// Close (which closes it after the player, so the player's last events
// are kept) every method returns ErrClosed.
type History struct {
	q     *playlog.Queue
	calls *gate
	// stamp completes events appended without a Source (Engine.stampPlay).
	stamp func(context.Context, *model.PlayEvent)
}

// HistoryEntry is one queued play event and its sequence number.
type HistoryEntry = playlog.Entry

// History returns the engine's play history queue (the same one on every
// call, created by Open).
func (e *Engine) History() *History { return e.history }

// Append stores ev durably at the end of the queue; an invalid event is
// refused (ErrInvalidEvent).
func (h *History) Append(ctx context.Context, ev model.PlayEvent) error {
	_, err := h.AppendSeq(ctx, ev)
	return err
}

// AppendSeq is Append returning the entry's sequence number. An event
// without a Source (as the player records them) is completed first: its
// source, and for an offline play the start time on the downloads'
// trusted license clock (Engine.stampPlay).
func (h *History) AppendSeq(ctx context.Context, ev model.PlayEvent) (uint64, error) {
	ctx, done, err := h.calls.enter(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	if err := checkEvent(ev); err != nil {
		return 0, err
	}
	if h.stamp != nil && ev.Source == "" {
		h.stamp(ctx, &ev)
	}
	seq, err := h.q.Append(ctx, ev)
	if err != nil {
		return 0, fmt.Errorf("core: %w", err)
	}
	return seq, nil
}

// checkEvent returns nil when a relay could count ev, as far as ev alone
// tells (server/counting's checks that need no catalog or clock), else
// an error wrapping ErrInvalidEvent naming the field.
func checkEvent(ev model.PlayEvent) error {
	switch {
	case !model.ValidID(string(ev.TrackID)):
		return fmt.Errorf("%w: track id %s (%d bytes)", ErrInvalidEvent, safetext.Quote(string(ev.TrackID)), len(ev.TrackID))
	case !ev.Tier.Valid():
		return fmt.Errorf("%w: tier %s", ErrInvalidEvent, safetext.Quote(string(ev.Tier)))
	case !ev.End.Valid():
		return fmt.Errorf("%w: end reason %s", ErrInvalidEvent, safetext.Quote(string(ev.End)))
	case ev.Source != "" && !ev.Source.Valid():
		return fmt.Errorf("%w: source %s", ErrInvalidEvent, safetext.Quote(string(ev.Source)))
	case len(ev.Context.Kind) > api.MaxContextKind || len(ev.Context.ID) > api.MaxContextID:
		return fmt.Errorf("%w: context of %d and %d bytes, at most %d and %d", ErrInvalidEvent, len(ev.Context.Kind), len(ev.Context.ID), api.MaxContextKind, api.MaxContextID)
	case ev.Started.UnixMilli() <= 0:
		return fmt.Errorf("%w: start time %s", ErrInvalidEvent, ev.Started.UTC().Format(time.RFC3339))
	case ev.Played < 0 || ev.Played.Milliseconds() > api.MaxPlayMs:
		return fmt.Errorf("%w: played %s, from 0 to %s", ErrInvalidEvent, ev.Played, time.Duration(api.MaxPlayMs)*time.Millisecond)
	}
	return nil
}

// List returns up to limit queued entries, oldest first (all when limit
// ≤ 0). The entries are owned by the caller. An entry that does not
// decode is listed with its Err set (UploadPlays counts it as rejected,
// playlog.Undecodable, and sets it aside).
func (h *History) List(ctx context.Context, limit int) ([]HistoryEntry, error) {
	ctx, done, err := h.calls.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	out, err := h.q.List(ctx, 0, limit)
	if err != nil {
		return nil, fmt.Errorf("core: %w", err)
	}
	return out, nil
}

// Ack removes every entry with a sequence number ≤ upTo (once uploaded)
// but those in keep, in one transaction.
func (h *History) Ack(ctx context.Context, upTo uint64, keep ...uint64) error {
	ctx, done, err := h.calls.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	if err := h.q.Ack(ctx, upTo, keep...); err != nil {
		return fmt.Errorf("core: %w", err)
	}
	return nil
}
