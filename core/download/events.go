package download

import "github.com/segue-fm/segue/core/model"

// EventKind says what an Event reports.
type EventKind string

// Event kinds.
const (
	// EventQueued: a request was recorded.
	EventQueued EventKind = "queued"
	// EventResolved: a request's tracks are known and licensed.
	EventResolved EventKind = "resolved"
	// EventProgress: one more blob of Track is stored and verified.
	EventProgress EventKind = "progress"
	// EventTrackDone: every blob of Track is stored and verified.
	EventTrackDone EventKind = "track_done"
	// EventFailed: a request or track failed (Err); it is retried on the
	// next Refresh or restart, not in a loop.
	EventFailed EventKind = "failed"
	// EventUnavailable: the relay cannot license Track of request Ref at
	// Tier (Reason, see Unavailable); the request goes on without it.
	EventUnavailable EventKind = "unavailable"
	// EventPaused: downloads paused; Reason is "offline" or "metered".
	EventPaused EventKind = "paused"
	// EventResumed: downloads resumed after a pause.
	EventResumed EventKind = "resumed"
	// EventRemoved: a request was removed.
	EventRemoved EventKind = "removed"
	// EventRenewed: every license was renewed in one request.
	EventRenewed EventKind = "renewed"
	// EventRenewalRefused: the relay refused renewal (Reason).
	EventRenewalRefused EventKind = "renewal_refused"
)

// Event is one progress report. Fields not relevant to the kind are zero.
type Event struct {
	Kind      EventKind
	Ref       Ref // the request, for queued/resolved/failed/unavailable/removed
	Track     model.TrackID
	Tier      model.Tier
	BlobsDone int
	Blobs     int
	BytesDone int64
	Bytes     int64
	Reason    string // paused, renewal_refused and unavailable
	Err       error
}
