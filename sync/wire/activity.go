package wire

import (
	"fmt"

	"github.com/fxamacker/cbor/v2"

	"github.com/segue-fm/segue/internal/cborx"
)

// Segue's friend-activity messages on the sync connection (docs/
// ARCHITECTURE.md §10). They are ephemeral: relayed, never stored, and
// addressed to the connection, not to a document, so they carry no
// documentId; other automerge-repo peers ignore them as unknown types.
const (
	// TypeActivitySubscribe (device → relay) asks for the account's
	// friends' activity on this connection: the relay answers with one
	// TypeActivity snapshot (the current feed) and then pushes every
	// friend's activity as it is published, until unsubscribe or the end
	// of the connection. Repeating it while subscribed does nothing. No
	// data, no documentId.
	TypeActivitySubscribe = "segue-activity-subscribe"
	// TypeActivityUnsubscribe (device → relay) stops the pushes. No data,
	// no documentId.
	TypeActivityUnsubscribe = "segue-activity-unsubscribe"
	// TypeActivity (relay → device) carries an ActivityBatch in Data. A
	// relay refuses one sent by a device.
	TypeActivity = "segue-activity"
	// TypeActivityRefused (relay → device) answers a subscription the
	// relay cannot hold (too many streams); Message says why.
	TypeActivityRefused = "segue-activity-refused"
)

// MaxActivityBatch bounds the activities one TypeActivity message
// carries.
const MaxActivityBatch = 1024

// ActivityBatch is the data of a TypeActivity message: a CBOR map
// {"activities": [item…], "snapshot"?: true, "dropped"?: n}. Items are
// CBOR maps the wire leaves opaque (core/api.ActivityItem), oldest first. Snapshot marks the batch that answers a
// subscription (the feed at that moment); Dropped counts the activities
// the relay dropped for this connection since the previous batch because
// it read too slowly (its queue holds a bounded number, the oldest go
// first).
//
// A decoded batch's items are copies owned by the caller.
type ActivityBatch struct {
	Items    []cbor.RawMessage `cbor:"activities"`
	Snapshot bool              `cbor:"snapshot,omitempty"`
	Dropped  uint64            `cbor:"dropped,omitempty"`
}

// activityDec decodes batches from the relay: strict (no duplicate keys,
// indefinite lengths or tags), items bounded.
var activityDec = cborx.Limits{MaxNestedLevels: 8, MaxArrayElements: MaxActivityBatch, MaxMapPairs: 64}.StrictDecMode()

// EncodeActivityBatch returns the CBOR encoding of b (deterministic). It
// refuses more than MaxActivityBatch items and items that are not CBOR
// maps.
func EncodeActivityBatch(b ActivityBatch) ([]byte, error) {
	if err := b.validate(); err != nil {
		return nil, err
	}
	out, err := cborx.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("wire: encode activity batch: %w", err)
	}
	return out, nil
}

// DecodeActivityBatch parses the data of a TypeActivity message. Errors
// wrap ErrMalformed.
func DecodeActivityBatch(data []byte) (ActivityBatch, error) {
	var b ActivityBatch
	if err := activityDec.Unmarshal(data, &b); err != nil {
		return ActivityBatch{}, fmt.Errorf("%w: activity batch: %v", ErrMalformed, err)
	}
	if err := b.validate(); err != nil {
		return ActivityBatch{}, err
	}
	return b, nil
}

func (b ActivityBatch) validate() error {
	if len(b.Items) > MaxActivityBatch {
		return fmt.Errorf("%w: activity batch of %d items, limit %d", ErrMalformed, len(b.Items), MaxActivityBatch)
	}
	for i, it := range b.Items {
		// A definite-length map: major type 5 with a length below 31.
		if len(it) == 0 || it[0]>>5 != 5 || it[0]&0x1f == 31 {
			return fmt.Errorf("%w: activity %d is not a CBOR map", ErrMalformed, i)
		}
	}
	return nil
}
