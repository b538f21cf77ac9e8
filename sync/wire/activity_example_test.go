package wire_test

import (
	"fmt"

	"github.com/fxamacker/cbor/v2"

	"github.com/segue-fm/segue/sync/wire"
)

// The relay answers a device's segue-activity-subscribe with a snapshot
// batch, then sends each friend's activity as it is published.
func ExampleEncodeActivityBatch() {
	item, _ := cbor.Marshal(map[int]any{1: "ada", 3: "track-1", 8: 1764700000000})
	data, err := wire.EncodeActivityBatch(wire.ActivityBatch{Items: []cbor.RawMessage{item}, Dropped: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	frame, err := wire.Encode(&wire.Message{Type: wire.TypeActivity, SenderID: "relay-1", Data: data})
	if err != nil {
		fmt.Println(err)
		return
	}
	m, _ := wire.Decode(frame, 0)
	b, err := wire.DecodeActivityBatch(m.Data)
	fmt.Println(m.Type, len(b.Items), b.Snapshot, b.Dropped, err)
	// Output: segue-activity 1 false 2 <nil>
}
