package api

import "github.com/segue-fm/segue/core/model"

// PlayRecord is one play event as a device uploads it (POST /v1/plays):
// the fields of model.PlayEvent the relay counts, with times in Unix
// milliseconds. Seq is the device's history sequence number, unique per
// device, so an upload retried after a lost answer is idempotent.
type PlayRecord struct {
	Seq         uint64            `json:"seq"`
	Track       model.TrackID     `json:"track"`
	Tier        model.Tier        `json:"tier"`
	Context     model.PlayContext `json:"context"`
	StartedAt   int64             `json:"started_at"` // Unix ms
	PlayedMs    int64             `json:"played_ms"`
	EndReason   model.EndReason   `json:"end_reason"`
	Offline     bool              `json:"offline"`
	VolumeMuted bool              `json:"volume_muted"`
	Source      model.PlaySource  `json:"source"`
	// TrustedTime: StartedAt comes from the device's trusted license
	// clock (offline plays), not its wall clock.
	TrustedTime bool `json:"trusted_time,omitempty"`
}

// PlaysRequest is the JSON body of POST /v1/plays. Sig is the device's
// Ed25519 signature over crypto.PlaysMessage(device, Events); the relay
// keeps it with the batch so every counted stream traces back to the
// device's own signed claim.
type PlaysRequest struct {
	Events []PlayRecord `json:"events"`
	Sig    []byte       `json:"sig"`
}

// Play outcomes and rejection reasons of PlayResult.Status. Every status
// is final: the device may drop the event from its history once it has
// the answer (core.History.Ack).
const (
	// PlayAccepted: the event is durably in the relay's event log.
	PlayAccepted = "accepted"
	// PlayDuplicate: the same event (same seq, same content) was accepted
	// before; it is counted once.
	PlayDuplicate = "duplicate"
	// PlayUnknownTrack: the track is not in the catalog.
	PlayUnknownTrack = "unknown_track"
	// PlayBadField: tier, end reason, source or context is not one the
	// relay knows.
	PlayBadField = "bad_field"
	// PlayBadDuration: played_ms is negative or longer than MaxPlayMs,
	// or started_at is not a positive time.
	PlayBadDuration = "bad_duration"
	// PlayFuture: the play started or ended after the relay's clock (plus
	// its allowed skew).
	PlayFuture = "future_timestamp"
	// PlayTooLong: played_ms exceeds the track's duration × 1.05.
	PlayTooLong = "played_exceeds_track"
	// PlayTooOld: the play started longer ago than a device can hold a
	// play before uploading it: the offline window (license validity plus
	// grace) and the allowed clock skew before the relay's clock, or, on
	// logs that expire events (such as the NATS JetStream backend with a
	// maximum age), before the retention horizon, where its
	// de-duplication record may be gone and it is refused rather than
	// risk counting it twice.
	PlayTooOld = "too_old"
	// PlayBeforeAccount: the play started before the uploading device's
	// account was created (less the allowed clock skew): no device of it
	// could have had a key then.
	PlayBeforeAccount = "before_account"
	// PlayNotReleased: the track's album was not released yet when the
	// play started (its embargo, release_at, less the allowed clock
	// skew, is after started_at; this includes every album still under
	// embargo): no device could have had its key.
	PlayNotReleased = "not_released"
	// PlayOverlapping: the play counts as a stream and its time
	// (started_at for played_ms) overlaps, by more than the player's
	// longest crossfade, another stream of the same device on the same
	// clock (trusted_time or not) accepted before or earlier in the
	// batch: one device plays one track at a time.
	PlayOverlapping = "overlapping"
	// PlaySeqConflict: an event with this seq but different content was
	// accepted before (or appears earlier in the same batch).
	PlaySeqConflict = "seq_conflict"
)

// MaxPlayMs is the longest played time an event may claim (24 hours).
const MaxPlayMs = 24 * 60 * 60 * 1000

// The longest play context an event may carry, in bytes (longer is
// PlayBadField): its kind and its id.
const (
	MaxContextKind = 64
	MaxContextID   = 256
)

// PlayResult is the relay's answer for one event of a batch.
type PlayResult struct {
	Seq    uint64 `json:"seq"`
	Status string `json:"status"`
}

// PlaysAnswer is the JSON answer of POST /v1/plays: one result per event,
// in request order. It is sent only after the accepted events are durable.
type PlaysAnswer struct {
	Results []PlayResult `json:"results"`
}
