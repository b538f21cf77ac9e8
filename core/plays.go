package core

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
)

// MaxPlayBatch is the most play events UploadPlays sends in one request
// (the relay accepts up to 1,000 by default).
const MaxPlayBatch = 500

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
func PlayRecord(h HistoryEntry) api.PlayRecord {
	ev := h.Event
	src := ev.Source
	if src == "" {
		src = model.SourceStream
	}
	return api.PlayRecord{
		Seq: h.Seq, Track: ev.TrackID, Tier: ev.Tier, Context: ev.Context,
		StartedAt: ev.Started.UnixMilli(), PlayedMs: ev.Played.Milliseconds(), EndReason: ev.End,
		Offline: ev.Offline, VolumeMuted: ev.Muted, Source: src, TrustedTime: ev.TrustedTime,
	}
}

// FutureRetryWindow is how long after a play, on the device's clock,
// UploadPlays keeps a play the relay refused as dated after its own clock
// (api.PlayFuture) to send it again. A device whose clock runs ahead of
// the relay's by more than the relay's allowance (5 minutes by default)
// has its online plays refused that way; they are counted once the
// relay's clock has passed them. A play refused so and older than this
// (the relay refuses plays older than its offline window, 30 days, plus
// its allowance anyway) is dropped as rejected.
const FutureRetryWindow = 32 * 24 * time.Hour

// PlayUpload sums up an UploadPlays call: how many events the relay
// accepted, already had, rejected for good (by reason), or refused as
// dated after its clock and are kept to be sent again (Held; see
// FutureRetryWindow).
type PlayUpload struct {
	Accepted  int
	Duplicate int
	Rejected  map[string]int
	Held      int
}

// UploadPlays sends the play history to the relay (POST /v1/plays) in
// batches of at most MaxPlayBatch events, each signed with the device's
// key over crypto.PlaysMessage, and acknowledges a batch in History only
// once the relay has answered for every event of it (its answer comes
// after the accepted events are durable; rejections are final too, but
// for plays dated after the relay's clock, which stay queued and are sent
// again by later calls within FutureRetryWindow). A failed request
// leaves the batch queued for the next call; since sequence numbers are
// the relay's de-duplication key (and the relay stores none of a play it
// refuses), resending is harmless. It returns what was uploaded before
// any error.
func (e *Engine) UploadPlays(ctx context.Context) (PlayUpload, error) {
	sum := PlayUpload{Rejected: map[string]int{}}
	var from uint64 // entries before it were answered by this call
	for {
		hs, err := e.history.listFrom(ctx, from, MaxPlayBatch)
		if err != nil {
			return sum, err
		}
		if len(hs) == 0 {
			return sum, nil
		}
		recs := make([]api.PlayRecord, len(hs))
		for i, h := range hs {
			recs[i] = PlayRecord(h)
		}
		msg, err := crypto.PlaysMessage(e.DeviceID(), recs)
		if err != nil {
			return sum, fmt.Errorf("core: sign plays: %w", err)
		}
		var ans api.PlaysAnswer
		if err := e.call(ctx, http.MethodPost, "/v1/plays", api.PlaysRequest{Events: recs, Sig: e.id.Sign(msg)}, &ans, true); err != nil {
			return sum, fmt.Errorf("core: upload plays: %w", err)
		}
		if len(ans.Results) != len(recs) {
			return sum, fmt.Errorf("%w: %d results for %d plays", ErrBadResponse, len(ans.Results), len(recs))
		}
		var held []uint64
		for i, r := range ans.Results {
			if r.Seq != recs[i].Seq {
				return sum, fmt.Errorf("%w: result for seq %d where %d was sent", ErrBadResponse, r.Seq, recs[i].Seq)
			}
			switch {
			case r.Status == api.PlayAccepted:
				sum.Accepted++
			case r.Status == api.PlayDuplicate:
				sum.Duplicate++
			case r.Status == api.PlayFuture && e.opts.clock.Now().Sub(hs[i].Event.Started) < FutureRetryWindow:
				sum.Held++
				held = append(held, r.Seq)
			default:
				sum.Rejected[r.Status]++
			}
		}
		last := recs[len(recs)-1].Seq
		if err := e.history.Ack(ctx, last, held...); err != nil {
			return sum, err
		}
		if last == math.MaxUint64 {
			return sum, nil
		}
		from = last + 1
	}
}
