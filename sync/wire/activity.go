package wire

import (
	"fmt"
	"unicode/utf8"

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
	// TypeActivityPublish (device → relay) tells the relay what this
	// device plays now or played last, for the account's friends: an
	// ActivityPublish in Data, no documentId. The user is the
	// connection's login, never anything in the message. It is not
	// answered: the relay drops a publication it refuses (rate limit,
	// unknown track, activity hidden) as it would answer POST
	// /v1/activity with an error; a malformed one ends the connection.
	TypeActivityPublish = "segue-activity-publish"
)

// MaxActivityField bounds the track id and the context id of an
// ActivityPublish in bytes, and MaxActivityKind its context kind.
const (
	MaxActivityField = 128
	MaxActivityKind  = 16
)

// ActivityPublish is the data of a TypeActivityPublish message: a CBOR
// map with integer keys {1: track, 2?: context kind, 3?: context id, 4?:
// playing} (core/api.ActivityPost's fields). The relay checks that the
// track exists and the context kind is one it knows.
type ActivityPublish struct {
	Track       string `cbor:"1,keyasint"`
	ContextKind string `cbor:"2,keyasint,omitempty"`
	ContextID   string `cbor:"3,keyasint,omitempty"`
	Playing     bool   `cbor:"4,keyasint,omitempty"`
}

// publishDec decodes publications from devices: strict, small, and no
// key but the four.
var publishDec = cborx.Limits{MaxNestedLevels: 4, MaxArrayElements: 16, MaxMapPairs: 16}.ClosedDecMode()

// EncodeActivityPublish returns the CBOR encoding of p (deterministic),
// refusing what DecodeActivityPublish refuses.
func EncodeActivityPublish(p ActivityPublish) ([]byte, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	out, err := cborx.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("wire: encode activity publication: %w", err)
	}
	return out, nil
}

// DecodeActivityPublish parses the data of a TypeActivityPublish
// message: no track, a field over its limit or not UTF-8, or anything but
// the four keys is an error wrapping ErrMalformed.
func DecodeActivityPublish(data []byte) (ActivityPublish, error) {
	var p ActivityPublish
	if err := publishDec.Unmarshal(data, &p); err != nil {
		return ActivityPublish{}, fmt.Errorf("%w: activity publication: %v", ErrMalformed, err)
	}
	if err := p.validate(); err != nil {
		return ActivityPublish{}, err
	}
	return p, nil
}

func (p ActivityPublish) validate() error {
	switch {
	case p.Track == "":
		return fmt.Errorf("%w: activity publication without a track", ErrMalformed)
	case len(p.Track) > MaxActivityField || len(p.ContextID) > MaxActivityField || len(p.ContextKind) > MaxActivityKind:
		return fmt.Errorf("%w: activity publication field over its limit", ErrMalformed)
	case !utf8.ValidString(p.Track) || !utf8.ValidString(p.ContextKind) || !utf8.ValidString(p.ContextID):
		return fmt.Errorf("%w: activity publication not UTF-8", ErrMalformed)
	}
	return nil
}

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
