package core

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/core/playlog"
)

// MaxPlayBatch is the most play events UploadPlays sends in one request
// (playlog.MaxBatch; the relay accepts up to 1,000 by default).
const MaxPlayBatch = playlog.MaxBatch

// stampPlay completes a play event the player recorded: Source is
// download when the downloads manager holds the track at that tier, else
// stream; an offline play's start is moved by the difference between the
// downloads' trusted license clock (crypto.TrustedClock) and the engine's
// clock, and marked TrustedTime, so a device whose wall clock is wrong
// still reports when the play happened.
func (e *Engine) stampPlay(ctx context.Context, ev *model.PlayEvent) {
	ev.Source = model.SourceStream
	if err := e.notePlayed(ctx, ev.TrackID, false); err != nil {
		e.log.Warn("core: note a recent play for search", "track", ev.TrackID, "err", err)
	}
	dl := e.Downloads()
	if dl == nil {
		return
	}
	if dl.Downloaded(ev.TrackID, ev.Tier) {
		ev.Source = model.SourceDownload
	}
	if ev.Offline {
		ev.Started = ev.Started.Add(dl.TrustedNow(ctx).Sub(e.opts.clock.Now()))
		ev.TrustedTime = true
	}
}

// PlayRecord returns the upload form of a history entry.
func PlayRecord(h HistoryEntry) api.PlayRecord { return playlog.Record(h) }

// FutureRetryWindow is how long after a play, on the device's clock,
// UploadPlays keeps a play the relay refused as dated after its own clock
// to send it again (playlog.FutureRetryWindow).
const FutureRetryWindow = playlog.FutureRetryWindow

// PlayUpload sums up an UploadPlays call: how many events the relay
// accepted, already had, rejected for good (by reason), or refused as
// dated after its clock and are kept to be sent again (Held; see
// FutureRetryWindow).
type PlayUpload = playlog.Summary

// UploadPlays sends the play history to the relay (POST /v1/plays) with
// playlog.Uploader.Upload: in batches of at most MaxPlayBatch events,
// each signed with the device's key over crypto.PlaysMessage, a batch
// acknowledged in History only once the relay has answered for every
// event of it (plays dated after the relay's clock stay queued within
// FutureRetryWindow). A failed request leaves the batch queued for the
// next call; since sequence numbers are the relay's de-duplication key,
// resending is harmless. It returns what was uploaded before any error;
// an answer that does not match the batch is ErrBadResponse.
func (e *Engine) UploadPlays(ctx context.Context) (PlayUpload, error) {
	ctx, done, err := e.calls.enter(ctx)
	if err != nil {
		return PlayUpload{}, err
	}
	defer done()
	u := playlog.Uploader{Device: e.DeviceID(), Sign: e.id.Sign, Now: e.opts.clock.Now,
		Post: func(ctx context.Context, req api.PlaysRequest) (api.PlaysAnswer, error) {
			var ans api.PlaysAnswer
			err := e.call(ctx, http.MethodPost, "/v1/plays", req, &ans, true)
			return ans, err
		}}
	sum, err := u.Upload(ctx, historySource{e.history})
	switch {
	case errors.Is(err, playlog.ErrBadAnswer):
		return sum, fmt.Errorf("%w: %w", ErrBadResponse, err)
	case err != nil:
		return sum, fmt.Errorf("core: %w", err)
	}
	return sum, nil
}

// historySource is History as the uploader's playlog.Source (its
// errors prefixed once, by UploadPlays).
type historySource struct{ h *History }

func (s historySource) List(ctx context.Context, from uint64, limit int) ([]HistoryEntry, error) {
	ctx, done, err := s.h.calls.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	return s.h.q.List(ctx, from, limit)
}

func (s historySource) Ack(ctx context.Context, upTo uint64, keep ...uint64) error {
	ctx, done, err := s.h.calls.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	return s.h.q.Ack(ctx, upTo, keep...)
}

func (s historySource) AckEntries(ctx context.Context, batch []HistoryEntry, keep ...uint64) error {
	ctx, done, err := s.h.calls.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	return s.h.q.AckEntries(ctx, batch, keep...)
}
