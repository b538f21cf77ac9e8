package automerge

// #include "automerge.h"
import "C"

import (
	"runtime"
)

// SyncState represents the state of syncing between a local copy of
// a doc and a peer; and lets you optimize bandwidth used to ensure
// two docs are always in sync.
type SyncState struct {
	Doc  *Doc
	item *item

	cSyncState *C.AMsyncState
}

// NewSyncState returns a new sync state to sync with a peer
func NewSyncState(d *Doc) *SyncState {
	ss := must(wrap(C.AMsyncStateInit()).item()).syncState()
	ss.Doc = d
	return ss
}

// LoadSyncState lets you resume syncing with a peer from where you left off.
func LoadSyncState(d *Doc, raw []byte) (*SyncState, error) {
	cBytes, free := toByteSpan(raw)
	defer free()

	item, err := wrap(C.AMsyncStateDecode(cBytes.src, cBytes.count)).item()
	if err != nil {
		return nil, err
	}
	ss := item.syncState()
	ss.Doc = d
	return ss, nil
}

// ReceiveMessage should be called with every message created by GenerateMessage
// on the peer side.
func (ss *SyncState) ReceiveMessage(msg []byte) (*SyncMessage, error) {
	if ss.cSyncState == nil {
		panic(errClosed("SyncState"))
	}
	sm, err := loadSyncMessage(msg)
	if err != nil {
		return nil, err
	}

	defer runtime.KeepAlive(ss)
	defer runtime.KeepAlive(sm)
	cDoc, unlock := ss.Doc.lock()
	defer unlock()

	return sm, wrap(C.AMreceiveSyncMessage(cDoc, ss.cSyncState, sm.cSyncMessage)).voidFree()
}

// GenerateMessage generates the next message to send to the client.
// If `valid` is false the clients are currently in sync and there are
// no more messages to send (until you either modify the underlying document)
func (ss *SyncState) GenerateMessage() (sm *SyncMessage, valid bool) {
	if ss.cSyncState == nil {
		panic(errClosed("SyncState"))
	}
	defer runtime.KeepAlive(ss)
	cDoc, unlock := ss.Doc.lock()
	defer unlock()

	res := wrap(C.AMgenerateSyncMessage(cDoc, ss.cSyncState))
	sm = must(res.item()).syncMessage()

	if sm == nil {
		res.free()
		return nil, false
	}

	return sm, true
}

// Save serializes the sync state so that you can resume it later.
// This is an optimization to reduce the number of round-trips required
// to get two peers in sync at a later date.
func (ss *SyncState) Save() []byte {
	if ss.cSyncState == nil {
		panic(errClosed("SyncState"))
	}
	defer runtime.KeepAlive(ss)

	return copyOut(wrap(C.AMsyncStateEncode(ss.cSyncState)), (*item).bytes)
}

// SyncMessage is sent between peers to keep copies of a document in sync.
type SyncMessage struct {
	item         *item
	cSyncMessage *C.AMsyncMessage
}

// LoadSyncMessage decodes a sync message without a sync state (segue
// fork), so that its changes can be applied with Doc.Apply by a caller
// that keeps its own sync state. Close the message when done.
func LoadSyncMessage(msg []byte) (*SyncMessage, error) {
	return loadSyncMessage(msg)
}

func loadSyncMessage(msg []byte) (*SyncMessage, error) {
	cBytes, free := toByteSpan(msg)
	defer free()

	item, err := wrap(C.AMsyncMessageDecode(cBytes.src, cBytes.count)).item()
	if err != nil {
		return nil, err
	}
	return item.syncMessage(), nil
}

// Changes returns any changes included in this SyncMessage
func (sm *SyncMessage) Changes() []*Change {
	defer runtime.KeepAlive(sm)

	items := must(wrap(C.AMsyncMessageChanges(sm.cSyncMessage)).items())

	return mapItems(items, func(i *item) *Change { return i.change() })
}

// Heads gives the heads of the peer that generated the SyncMessage
func (sm *SyncMessage) Heads() []ChangeHash {
	defer runtime.KeepAlive(sm)

	return must(copyHashes(C.AMsyncMessageHeads(sm.cSyncMessage)))
}

// Bytes returns a representation for sending over the network.
func (sm *SyncMessage) Bytes() []byte {
	if sm == nil {
		return nil
	}
	defer runtime.KeepAlive(sm)
	return copyOut(wrap(C.AMsyncMessageEncode(sm.cSyncMessage)), (*item).bytes)
}

// Close frees the sync state's C memory now instead of when the Go
// collector finalises it (segue fork). The state must not be used after
// Close (its methods panic); Close is safe to call more than once but
// not concurrently with the state's other methods.
func (ss *SyncState) Close() {
	if ss == nil || ss.cSyncState == nil {
		return
	}
	ss.item.result.free()
	ss.cSyncState = nil
}

// Close frees the message's C memory now instead of when the Go
// collector finalises it (segue fork), including the memory of the
// Changes taken from it: neither may be used after Close. Bytes copied
// out stay valid. Close is safe to call more than once and on nil.
func (sm *SyncMessage) Close() {
	if sm == nil || sm.cSyncMessage == nil {
		return
	}
	sm.item.result.free()
	sm.cSyncMessage = nil
}
