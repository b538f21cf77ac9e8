// Package events is the relay's append-only, durable log of play events
// uploaded by devices (POST /v1/plays). A Log de-duplicates on (device,
// seq) atomically with the append, so a device retrying a batch whose
// answer it lost never adds an event twice, and keeps each batch's signed
// message and signature so every entry traces back to the device's own
// claim. Consumers (server/counting) read it by offset.
//
// StoreLog is the embedded backend over the relay's store (Badger on
// disk, store.Memory in tests); eventstest is the conformance suite every
// backend runs. The key schema is in docs/ARCHITECTURE.md §5.
package events

import (
	"context"
	"errors"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
)

// Errors of the event log.
var (
	// ErrBadBatch: the batch has no device, no signature or no events.
	ErrBadBatch = errors.New("events: bad batch")
	// ErrCorrupt: a stored record does not decode.
	ErrCorrupt = errors.New("events: corrupt record")
	// ErrNotFound: no batch with that id.
	ErrNotFound = errors.New("events: not found")
	// ErrNotStored: the backend did not confirm every event of an Append
	// as stored (a backend that appends event by event may have stored
	// some); the Append reports none of them, and a retry of the whole
	// batch finds the stored ones as Duplicate.
	ErrNotStored = errors.New("events: not every event stored")
)

// Outcome is what Append did with one event of a batch.
type Outcome int

// Append outcomes.
const (
	// Appended: the event is new and now in the log.
	Appended Outcome = iota + 1
	// Duplicate: an identical event with the same (device, seq) is in the
	// log already; nothing was added.
	Duplicate
	// Conflict: an event with the same (device, seq) but different
	// content is in the log (or earlier in the batch); nothing was added.
	Conflict
)

// Batch is one signed upload of a device: the events to append (already
// validated by the caller), the signed message (crypto.PlaysMessage over
// the whole request, rejected events included) and its signature.
type Batch struct {
	Device   model.DeviceID
	User     model.UserID
	Received int64 // Unix ms, the relay's clock
	Message  []byte
	Sig      []byte
	Events   []api.PlayRecord
}

// Entry is one event in the log.
type Entry struct {
	Offset   uint64 // position in the log, from 0, dense
	Batch    uint64 // id of the batch it arrived in (Log.Batch)
	Device   model.DeviceID
	User     model.UserID
	Received int64 // Unix ms
	Event    api.PlayRecord
}

// StoredBatch is a batch's signed claim as the log keeps it.
type StoredBatch struct {
	Device   model.DeviceID
	User     model.UserID
	Received int64
	Message  []byte
	Sig      []byte
}

// Log is an append-only, durable event log. Implementations are safe for
// concurrent use.
type Log interface {
	// Append adds the batch's new events at the end of the log, in order,
	// with the (device, seq) de-duplication in the same atomic, durable
	// step, and returns one Outcome per event of b.Events. When it
	// returns an error nothing was added. A batch with no Appended event
	// stores no batch record.
	Append(ctx context.Context, b Batch) ([]Outcome, error)
	// Read returns up to limit entries from offset from, oldest first
	// (fewer, or none, at the end of the log). The entries are the
	// caller's.
	Read(ctx context.Context, from uint64, limit int) ([]Entry, error)
	// Head returns the offset the next appended event will get (the
	// number of events in the log).
	Head(ctx context.Context) (uint64, error)
	// Batch returns the stored batch with id (an Entry's Batch), or
	// ErrNotFound.
	Batch(ctx context.Context, id uint64) (StoredBatch, error)
}
