package playlog

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
)

// MaxBatch is the most play events Upload sends in one request (the
// relay accepts up to 1,000 by default).
const MaxBatch = 500

// FutureRetryWindow is how long after a play, on the device's clock,
// Upload keeps a play the relay refused as dated after its own clock
// (api.PlayFuture) to send it again. A device whose clock runs ahead of
// the relay's by more than the relay's allowance (5 minutes by default)
// has its online plays refused that way; they are counted once the
// relay's clock has passed them. A play refused so and older than this
// (the relay refuses plays older than its offline window, 30 days, plus
// its allowance anyway) is dropped as rejected.
const FutureRetryWindow = 32 * 24 * time.Hour

// ErrBadAnswer is returned when the relay's answer does not match the
// batch sent (another number of results, or a result for another seq);
// nothing of that batch is acknowledged.
var ErrBadAnswer = errors.New("playlog: relay answer does not match the plays sent")

// Undecodable is the rejection reason Upload counts for a queued play
// that does not decode (Entry.Err: a damaged store value). It is not
// sent; the Ack of its batch sets it aside under BadPrefix, so it does
// not hold back the plays queued after it.
const Undecodable = "undecodable"

// Summary sums up an Upload: how many events the relay accepted, already
// had, rejected for good (by reason), or refused as dated after its clock
// and are kept to be sent again (Held; see FutureRetryWindow).
type Summary struct {
	Accepted  int
	Duplicate int
	Rejected  map[string]int
	Held      int
}

// Source is the queue Upload reads and acknowledges (Queue, or a wrapper
// of one).
type Source interface {
	List(ctx context.Context, from uint64, limit int) ([]Entry, error)
	// AckEntries removes the entries of batch, as List returned them,
	// but those in keep (Queue.AckEntries).
	AckEntries(ctx context.Context, batch []Entry, keep ...uint64) error
}

// Uploader is what Upload needs of the device: its id, its Ed25519
// signature, the relay request and the device's clock.
type Uploader struct {
	Device model.DeviceID
	// Sign signs a message with the device's identity key.
	Sign func(msg []byte) []byte
	// Post sends the request to POST /v1/plays and returns the relay's
	// answer.
	Post func(ctx context.Context, req api.PlaysRequest) (api.PlaysAnswer, error)
	// Now is the device's clock (for FutureRetryWindow).
	Now func() time.Time
	// MaxBody, when > 0, is the most bytes a request's body (the JSON of
	// api.PlaysRequest) may have: a batch is cut to the plays that fit,
	// the rest go in the next one (the web engine's upload on page hide
	// sets the browser's keepalive limit, 64 KiB). 0, the default: batches
	// are bounded by MaxBatch only.
	MaxBody int
}

// fit returns how many of recs, from the first, make a request body of
// at most most bytes (at least 1).
func fit(recs []api.PlayRecord, most int) (int, error) {
	sig := make([]byte, ed25519.SignatureSize)
	n := len(recs)
	for n > 1 {
		b, err := json.Marshal(api.PlaysRequest{Events: recs[:n], Sig: sig})
		if err != nil {
			return 0, fmt.Errorf("encode plays: %w", err)
		}
		if len(b) <= most {
			break
		}
		n = max(1, min(n-1, n*most/len(b)))
	}
	return n, nil
}

// Record returns the upload form of a queue entry.
func Record(h Entry) api.PlayRecord {
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

// Unsendable returns the status the relay would give r whatever its
// state (api.PlayBadField for a context longer than api.MaxContextKind
// or api.MaxContextID, api.PlayUnknownTrack for a track id that is not a
// catalog id), or "" when r is worth sending. Upload does not send such a
// play: a context past the signed message's 65,535 bytes could not be
// signed, and long ones filled a batch past the relay's body limit, so
// either held every play queued after it for ever. With these bounds a
// batch of MaxBatch stays far below the relay's 1 MiB.
func Unsendable(r api.PlayRecord) string {
	switch {
	case len(r.Context.Kind) > api.MaxContextKind || len(r.Context.ID) > api.MaxContextID:
		return api.PlayBadField
	case !model.ValidID(string(r.Track)):
		return api.PlayUnknownTrack
	}
	return ""
}

// send uploads recs (of entries sent, in order; none: nothing is sent)
// and adds the relay's answer to sum; it returns the plays to keep.
func (u Uploader) send(ctx context.Context, recs []api.PlayRecord, sent []Entry, sum *Summary) (held []uint64, err error) {
	if len(recs) == 0 {
		return nil, nil
	}
	msg, err := crypto.PlaysMessage(u.Device, recs)
	if err != nil {
		return nil, fmt.Errorf("sign plays: %w", err)
	}
	ans, err := u.Post(ctx, api.PlaysRequest{Events: recs, Sig: u.Sign(msg)})
	if err != nil {
		return nil, fmt.Errorf("upload plays: %w", err)
	}
	if len(ans.Results) != len(recs) {
		return nil, fmt.Errorf("%w: %d results for %d plays", ErrBadAnswer, len(ans.Results), len(recs))
	}
	for i, r := range ans.Results {
		if r.Seq != recs[i].Seq {
			return nil, fmt.Errorf("%w: result for seq %d where %d was sent", ErrBadAnswer, r.Seq, recs[i].Seq)
		}
	}
	for i, r := range ans.Results {
		switch {
		case r.Status == api.PlayAccepted:
			sum.Accepted++
		case r.Status == api.PlayDuplicate:
			sum.Duplicate++
		case r.Status == api.PlayFuture && u.Now().Sub(sent[i].Event.Started) < FutureRetryWindow:
			sum.Held++
			held = append(held, r.Seq)
		default:
			sum.Rejected[r.Status]++
		}
	}
	return held, nil
}

// Upload sends src to the relay in batches of at most MaxBatch events
// (and MaxBody bytes when set),
// each signed over crypto.PlaysMessage (a play the relay could never
// take, Unsendable, or one that does not decode, Undecodable, is counted
// as rejected and not sent), and acknowledges a batch in src
// only once the relay has answered for every event of it (its answer
// comes after the accepted events are durable; rejections are final
// too, but for plays dated after the relay's clock, which stay queued
// and are sent again by later calls within FutureRetryWindow). A failed
// request leaves the batch queued for the next call; since sequence
// numbers are the relay's de-duplication key (and the relay stores none
// of a play it refuses), resending is harmless. It returns what was
// uploaded before any error.
func (u Uploader) Upload(ctx context.Context, src Source) (Summary, error) {
	sum := Summary{Rejected: map[string]int{}}
	var from uint64 // entries before it were answered by this call
	for {
		hs, err := src.List(ctx, from, MaxBatch)
		if err != nil {
			return sum, err
		}
		if len(hs) == 0 {
			return sum, nil
		}
		recs := make([]api.PlayRecord, 0, len(hs))
		sent := make([]Entry, 0, len(hs))
		type unsent struct {
			seq    uint64
			status string
		}
		var unsendable []unsent
		for _, h := range hs {
			if h.Err != nil {
				unsendable = append(unsendable, unsent{h.Seq, Undecodable})
				continue
			}
			r := Record(h)
			if status := Unsendable(r); status != "" {
				unsendable = append(unsendable, unsent{h.Seq, status})
				continue
			}
			recs, sent = append(recs, r), append(sent, h)
		}
		last := hs[len(hs)-1].Seq
		if u.MaxBody > 0 && len(recs) > 0 {
			n, err := fit(recs, u.MaxBody)
			if err != nil {
				return sum, err
			}
			if n < len(recs) {
				recs, sent, last = recs[:n], sent[:n], sent[n-1].Seq
			}
		}
		held, err := u.send(ctx, recs, sent, &sum)
		if err != nil {
			return sum, err
		}
		for _, x := range unsendable {
			if x.seq <= last {
				sum.Rejected[x.status]++
			}
		}
		done := hs
		if i := slices.IndexFunc(hs, func(h Entry) bool { return h.Seq > last }); i >= 0 {
			done = hs[:i]
		}
		if err := src.AckEntries(ctx, done, held...); err != nil {
			return sum, err
		}
		if last == math.MaxUint64 {
			return sum, nil
		}
		from = last + 1
	}
}
