// Package wire is the automerge-repo network protocol as Segue speaks it:
// the CBOR messages (join, peer, sync, request, doc-unavailable,
// ephemeral, error) that a stock @automerge/automerge-repo client
// exchanges with a server, their validation, and the length-prefixed
// framing Segue uses on libp2p streams.
//
// Over a WebSocket one binary frame is one message:
//
//	b, err := wire.Encode(&wire.Message{Type: wire.TypeSync, SenderID: me,
//		TargetID: peer, DocumentID: id.String(), Data: syncMsg})
//	...
//	m, err := wire.Decode(frame, wire.MaxFrameSize)
//
// Over a byte stream (libp2p /segue/sync/3) each message is a 4-byte
// big-endian length followed by the same CBOR bytes: WriteFrame and
// ReadFrame, with the size checked before anything is allocated.
//
// Segue adds its own message types, which stock automerge-repo peers
// ignore: segue-device-revoked, and the friend-activity messages
// (TypeActivitySubscribe, TypeActivityUnsubscribe, TypeActivity with an
// ActivityBatch, TypeActivityRefused; activity.go).
//
// InspectSync reads the envelope of the Automerge sync message inside a
// sync or request message without applying it, so that a relay can see
// whether a peer is trying to write before it touches the document.
//
// Everything here is pure: no goroutines, no I/O beyond the io.Reader or
// io.Writer handed in.
package wire
