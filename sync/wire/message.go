package wire

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/fxamacker/cbor/v2"

	"github.com/segue-fm/segue/internal/cborx"
	"github.com/segue-fm/segue/sync/docs"
)

// Message types of the automerge-repo protocol.
const (
	// TypeJoin is a client's first message: its peer id, metadata and the
	// protocol versions it speaks.
	TypeJoin = "join"
	// TypePeer is the server's answer to join: its peer id, metadata and
	// the selected protocol version.
	TypePeer = "peer"
	// TypeSync carries an Automerge sync message for one document.
	TypeSync = "sync"
	// TypeRequest is a sync message sent by a peer that does not have
	// the document yet and asks for it.
	TypeRequest = "request"
	// TypeDocUnavailable answers a request for a document the sender
	// neither has nor may share.
	TypeDocUnavailable = "doc-unavailable"
	// TypeEphemeral carries application data (presence, cursors) that is
	// relayed but never stored.
	TypeEphemeral = "ephemeral"
	// TypeError reports an error. Without a documentId it is fatal and
	// the sender closes the connection after it; with one (Segue's
	// relay), it refuses that document only and the session goes on.
	TypeError = "error"
	// TypeRemoteSubscriptionChange and TypeRemoteHeadsChanged are
	// automerge-repo's optional remote-heads gossip. Segue decodes and
	// ignores them.
	TypeRemoteSubscriptionChange = "remote-subscription-change"
	// TypeRemoteHeadsChanged: see TypeRemoteSubscriptionChange.
	TypeRemoteHeadsChanged = "remote-heads-changed"
	// TypeDeviceRevoked is Segue's own: the relay tells a user's live
	// sessions that one of the user's devices was deregistered; Data is
	// the catalog-signed notice (crypto.IssueRevocation). Other
	// automerge-repo peers ignore it.
	TypeDeviceRevoked = "segue-device-revoked"
)

// ProtocolV1 is the only automerge-repo network protocol version.
const ProtocolV1 = "1"

// MaxFrameSize is the default cap on one encoded message (1 MiB). Larger
// frames are refused before they are decoded.
const MaxFrameSize = 1 << 20

// Bounds on the Automerge sync messages a peer sends: whatever a
// document's history, every sync or request frame fits MaxFrameSize.
const (
	// MaxSyncEnvelope bounds what the envelope of a sync or request
	// message adds to the Automerge sync message it carries: the CBOR
	// map with its type and its sender, target and document ids, each
	// as long as Validate allows, and the length of its data (≈ 640
	// bytes at most; TestMaxSyncEnvelope).
	MaxSyncEnvelope = 1 << 10
	// MaxSyncData is the largest Automerge sync message a peer sends in
	// one frame. Changes beyond it wait for a later message of the
	// protocol (msync.GenerateWithin, repo's generation).
	MaxSyncData = MaxFrameSize - MaxSyncEnvelope
	// SyncReserve is the room a sync message keeps beside its largest
	// change for its heads, needs and Bloom filter: 256 KiB holds a
	// filter over ≈ 200,000 changes (10 bits each).
	SyncReserve = 256 << 10
	// MaxSyncChange is the largest change a peer creates, takes from
	// another or forwards: alone in a message whose heads, needs and
	// filter fit SyncReserve, it fits MaxSyncData, so no stored change
	// is too big to be sent on.
	MaxSyncChange = MaxSyncData - SyncReserve
)

// Limits on the string fields of a message; longer values are invalid.
const (
	maxTypeLen    = 64
	maxPeerIDLen  = 256
	maxDocIDLen   = 64
	maxSessionLen = 256
	maxErrorLen   = 4096
)

// Errors returned by Decode and Validate. Every decoding failure wraps
// ErrMalformed; an unacceptable frame size wraps ErrFrameTooLarge.
var (
	ErrMalformed     = errors.New("wire: malformed message")
	ErrFrameTooLarge = errors.New("wire: frame too large")
)

// ErrSyncTooLarge is returned for an Automerge sync message that cannot
// be sent within the size allowed even with changes left for a later
// message (FitSync, msync.GenerateWithin): its heads, needs and Bloom
// filter alone, or with its first change, are over the limit. It
// concerns one document; a session refuses that document and goes on.
var ErrSyncTooLarge = errors.New("wire: sync message too large to send")

// PeerMetadata is what a peer says about itself in join and peer.
// StorageID names the peer's durable storage (empty for a peer without
// storage); sync states are persisted per storage id. IsEphemeral marks
// a peer that will forget everything when it disconnects.
type PeerMetadata struct {
	StorageID   string `cbor:"storageId,omitempty"`
	IsEphemeral bool   `cbor:"isEphemeral"`
	// Features lists the Segue-only message types the sender accepts
	// beyond automerge-repo's (FeatureActivityPublish, …), at most
	// MaxFeatures. Stock automerge-repo peers ignore the key; a peer that
	// does not send it (an older relay) accepts none of them.
	Features []string `cbor:"segueFeatures,omitempty"`
}

// FeatureActivityPublish in a relay's PeerMetadata.Features says it takes
// TypeActivityPublish messages; a device sends them only then.
const FeatureActivityPublish = "activity-publish"

// MaxFeatures bounds the Features a peer announces; further ones are
// ignored by Has.
const MaxFeatures = 32

// Has reports whether m announces feature f (among its first MaxFeatures).
func (m *PeerMetadata) Has(f string) bool {
	if m == nil {
		return false
	}
	for i, g := range m.Features {
		if i >= MaxFeatures {
			return false
		}
		if g == f {
			return true
		}
	}
	return false
}

// Message is one automerge-repo protocol message: a CBOR map with string
// keys. Only the fields of its Type are set; the others are zero and are
// not encoded. Data is never encoded when empty (automerge-repo rejects
// zero-length data). Count is an ephemeral message's sequence number in
// its session; automerge-repo starts it at 1, so 0 means "absent".
//
// A decoded Message owns its byte slices; Encode does not retain m.
type Message struct {
	Type                      string        `cbor:"type"`
	SenderID                  string        `cbor:"senderId,omitempty"`
	TargetID                  string        `cbor:"targetId,omitempty"`
	DocumentID                string        `cbor:"documentId,omitempty"`
	Data                      []byte        `cbor:"data,omitempty"`
	Count                     uint64        `cbor:"count,omitempty"`
	SessionID                 string        `cbor:"sessionId,omitempty"`
	PeerMetadata              *PeerMetadata `cbor:"peerMetadata,omitempty"`
	SupportedProtocolVersions []string      `cbor:"supportedProtocolVersions,omitempty"`
	SelectedProtocolVersion   string        `cbor:"selectedProtocolVersion,omitempty"`
	Message                   string        `cbor:"message,omitempty"`
	// Refusal is Segue's own: on an error message naming a document, it
	// says which rule refused the changes of the sender's message (a
	// Refusal* constant), so the refused device can set those changes
	// aside. Stock automerge-repo peers ignore the key; an unknown value
	// is treated as absent.
	Refusal string `cbor:"segueRefusal,omitempty"`
}

// Values of Message.Refusal.
const (
	// RefusalACL: the changes touch a field only the document's owner
	// may change (docs.ErrACLChange), and the sender may not.
	RefusalACL = "acl"
	// RefusalReadOnly: the sender may only read the document, and the
	// message carries changes.
	RefusalReadOnly = "read-only"
	// RefusalContent: the changes write a value no Segue document may
	// hold (docs.ErrBadContent: a field of the wrong type or format, a
	// key or value over its limit).
	RefusalContent = "content"
	// RefusalFull: the changes would take a playlist past its entry
	// limit (docs.ErrTooManyEntries): entries added concurrently with
	// another device's.
	RefusalFull = "full"
)

// maxRefusalLen bounds Message.Refusal.
const maxRefusalLen = 32

// modes are the wire's encoder (the shared deterministic one) and its own
// decoder, which differs from cborx's strict mode on purpose: messages come
// from JavaScript automerge-repo peers whose encoder this package does not
// control, so indefinite lengths and tags are accepted (only duplicate keys
// are refused), with the wire's own size limits.
var modes = sync.OnceValues(func() (cbor.EncMode, cbor.DecMode) {
	enc := cborx.EncMode()
	dec, err := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:   16,
		MaxArrayElements:  4096,
		MaxMapPairs:       256,
		IndefLength:       cbor.IndefLengthAllowed,
		TagsMd:            cbor.TagsAllowed,
		ExtraReturnErrors: cbor.ExtraDecErrorNone,
	}.DecMode()
	if err != nil {
		panic(fmt.Sprintf("wire: cbor decode options: %v", err))
	}
	return enc, dec
})

// Encode returns the CBOR encoding of m (deterministic: sorted keys,
// shortest forms). It validates m first so that nothing invalid is ever
// sent. The returned slice is owned by the caller.
func Encode(m *Message) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	enc, _ := modes()
	b, err := enc.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("wire: encode %s: %w", m.Type, err)
	}
	if len(b) > MaxFrameSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, len(b))
	}
	return b, nil
}

// bufMode is the encoder of EncodeTo: cborx's options (the core
// deterministic encoding, the same bytes as Encode) into a caller's
// buffer.
var bufMode = sync.OnceValue(func() cbor.UserBufferEncMode {
	m, err := cbor.CoreDetEncOptions().UserBufferEncMode()
	if err != nil {
		panic(fmt.Sprintf("wire: cbor encode options: %v", err)) // static options; cannot fail
	}
	return m
})

// EncodeTo appends Encode's bytes for m to buf, so a sender can reuse one
// buffer across messages instead of allocating each encoding. On error
// buf holds what it held before, possibly followed by a partial
// encoding that the caller discards.
func EncodeTo(buf *bytes.Buffer, m *Message) error {
	if err := m.Validate(); err != nil {
		return err
	}
	start := buf.Len()
	if err := bufMode().MarshalToBuffer(m, buf); err != nil {
		return fmt.Errorf("wire: encode %s: %w", m.Type, err)
	}
	if n := buf.Len() - start; n > MaxFrameSize {
		return fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, n)
	}
	return nil
}

// Decode parses one frame (a single CBOR map, nothing after it) and
// validates it. Frames larger than maxSize (MaxFrameSize when maxSize <=
// 0) are refused with ErrFrameTooLarge. Unknown keys are ignored so that
// newer automerge-repo fields do not break old peers. The returned
// message does not alias b.
func Decode(b []byte, maxSize int) (*Message, error) {
	if maxSize <= 0 {
		maxSize = MaxFrameSize
	}
	if len(b) > maxSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, len(b), maxSize)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty frame", ErrMalformed)
	}
	_, dec := modes()
	var m Message
	if err := dec.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Validate checks that m has the fields its type requires and that no
// string field is longer than the protocol allows. Unknown types are
// valid when they carry a sender (peers ignore them). Errors wrap
// ErrMalformed.
func (m *Message) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
	switch {
	case m.Type == "":
		return bad("missing type")
	case len(m.Type) > maxTypeLen:
		return bad("type longer than %d bytes", maxTypeLen)
	case len(m.SenderID) > maxPeerIDLen || len(m.TargetID) > maxPeerIDLen:
		return bad("peer id longer than %d bytes", maxPeerIDLen)
	case len(m.DocumentID) > maxDocIDLen:
		return bad("document id longer than %d bytes", maxDocIDLen)
	case len(m.SessionID) > maxSessionLen:
		return bad("session id longer than %d bytes", maxSessionLen)
	case len(m.Message) > maxErrorLen:
		return bad("error message longer than %d bytes", maxErrorLen)
	case len(m.Refusal) > maxRefusalLen:
		return bad("refusal longer than %d bytes", maxRefusalLen)
	case m.PeerMetadata != nil && len(m.PeerMetadata.StorageID) > maxPeerIDLen:
		return bad("storage id longer than %d bytes", maxPeerIDLen)
	}
	if m.Type != TypeError && m.SenderID == "" {
		return bad("%s without senderId", m.Type)
	}
	switch m.Type {
	case TypePeer:
		if m.TargetID == "" {
			return bad("peer without targetId")
		}
	case TypeSync, TypeRequest:
		if m.DocumentID == "" || m.TargetID == "" {
			return bad("%s without documentId or targetId", m.Type)
		}
		if len(m.Data) == 0 {
			return bad("%s with empty data", m.Type)
		}
	case TypeDocUnavailable:
		if m.DocumentID == "" || m.TargetID == "" {
			return bad("doc-unavailable without documentId or targetId")
		}
	case TypeDeviceRevoked:
		if len(m.Data) == 0 {
			return bad("%s with empty data", m.Type)
		}
	case TypeActivitySubscribe, TypeActivityUnsubscribe:
		if len(m.Data) > 0 || m.DocumentID != "" {
			return bad("%s with data or documentId", m.Type)
		}
	case TypeActivity, TypeActivityPublish:
		if len(m.Data) == 0 || m.DocumentID != "" {
			return bad("%s without data or with documentId", m.Type)
		}
	case TypeActivityRefused:
		if m.Message == "" {
			return bad("%s without message", m.Type)
		}
	case TypeEphemeral:
		if m.DocumentID == "" || m.SessionID == "" || m.Count == 0 {
			return bad("ephemeral without documentId, sessionId or count")
		}
		if len(m.Data) == 0 {
			return bad("ephemeral with empty data")
		}
	}
	return nil
}

// DocID parses m.DocumentID (bs58check, as automerge-repo writes it).
// The error wraps docs.ErrInvalidDocumentID.
func (m *Message) DocID() (docs.DocumentID, error) {
	id, err := docs.ParseDocumentID(m.DocumentID)
	if err != nil {
		return docs.DocumentID{}, fmt.Errorf("%s message: %w", m.Type, err)
	}
	return id, nil
}

// ErrorMessage returns an error message from sender to target.
func ErrorMessage(sender, target, text string) *Message {
	if len(text) > maxErrorLen {
		text = text[:maxErrorLen]
	}
	return &Message{Type: TypeError, SenderID: sender, TargetID: target, Message: text}
}
