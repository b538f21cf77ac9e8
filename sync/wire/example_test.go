package wire_test

import (
	"bytes"
	"fmt"

	"github.com/segue-fm/segue/sync/wire"
)

func ExampleEncode() {
	join := &wire.Message{
		Type:                      wire.TypeJoin,
		SenderID:                  "device-1",
		PeerMetadata:              &wire.PeerMetadata{StorageID: "store-1"},
		SupportedProtocolVersions: []string{wire.ProtocolV1},
	}
	b, err := wire.Encode(join)
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := wire.Decode(b, wire.MaxFrameSize)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Type, m.SenderID, m.PeerMetadata.StorageID, m.SupportedProtocolVersions)
	// Output: join device-1 store-1 [1]
}

func ExampleReadFrame() {
	var stream bytes.Buffer
	_ = wire.WriteFrame(&stream, &wire.Message{Type: wire.TypeError, Message: "rate limit exceeded"})
	m, err := wire.ReadFrame(&stream, wire.MaxFrameSize)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Type, m.Message)
	// Output: error rate limit exceeded
}
