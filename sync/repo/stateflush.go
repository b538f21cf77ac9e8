package repo

import (
	"sync"
	"time"

	"github.com/segue-fm/segue/store"
)

// DefaultSyncStateFlush is how long the sync state of a message that
// adds no change may stay unwritten by default (WithSyncStateFlush).
const DefaultSyncStateFlush = time.Second

// stateFlusher writes behind the sync states of messages that add no
// change (acknowledgements, heads, Bloom filters): such a message only
// advances what the repo knows its peer holds, so its state is kept per
// peer and document (a later one replaces it) and written by one queued
// write per document every interval, when the peer disconnects or its
// state is read (SyncState), before the document unloads and at Close.
// A state lost in a crash costs the next session a few more round trips,
// never data: a change is always written with its message, before the
// message is answered.
type stateFlusher struct {
	interval time.Duration
	mu       sync.Mutex
	dirty    map[*Handle]struct{}
	stop     chan struct{}
	done     chan struct{}
}

func newStateFlusher(interval time.Duration) *stateFlusher {
	return &stateFlusher{interval: interval, dirty: map[*Handle]struct{}{}, stop: make(chan struct{}), done: make(chan struct{})}
}

// keepState records the sync state with peer to write behind (with no
// interval, it queues its write at once). Caller holds h.mu.
func (h *Handle) keepState(peer PeerID, state []byte) {
	if h.dirty == nil {
		h.dirty = map[PeerID][]byte{}
	}
	h.dirty[peer] = state
	f := h.repo.flusher
	if f.interval <= 0 {
		h.flushStates()
		return
	}
	f.mu.Lock()
	f.dirty[h] = struct{}{}
	f.mu.Unlock()
}

// flushStates queues one write of every sync state of h kept behind.
// Caller holds h.mu.
func (h *Handle) flushStates() {
	if len(h.dirty) == 0 {
		return
	}
	type kv struct{ k, v []byte }
	kvs := make([]kv, 0, len(h.dirty))
	size := 0
	for peer, state := range h.dirty {
		k := syncKey(peer, h.id)
		kvs = append(kvs, kv{k, state})
		size += len(k) + len(state)
	}
	// nil, not cleared: a cleared map keeps its buckets, and a relay
	// holds a Handle for every document its followers touched (100,000
	// empty maps were ≈ 50 MB of live heap).
	h.dirty = nil
	h.queue(&write{h: h, size: size, stateOnly: true, fn: func(tx store.Txn) error {
		for _, e := range kvs {
			if err := tx.Set(e.k, e.v); err != nil {
				return err
			}
		}
		return nil
	}})
}

// flushLoop writes the kept sync states every interval until Close.
func (r *Repo) flushLoop() {
	defer close(r.flusher.done)
	if r.flusher.interval <= 0 {
		<-r.flusher.stop
		return
	}
	t := time.NewTicker(r.flusher.interval)
	defer t.Stop()
	for {
		select {
		case <-r.flusher.stop:
			return
		case <-t.C:
			r.flushAllStates()
		}
	}
}

// flushAllStates queues the writes of every sync state kept behind.
func (r *Repo) flushAllStates() {
	f := r.flusher
	f.mu.Lock()
	hs := f.dirty
	f.dirty = map[*Handle]struct{}{}
	f.mu.Unlock()
	for h := range hs {
		h.mu.Lock()
		h.flushStates()
		h.mu.Unlock()
	}
}

// stopFlusher stops the loop and queues what it still held; the
// committer, stopped after it, commits those writes.
func (r *Repo) stopFlusher() {
	select {
	case <-r.flusher.stop:
	default:
		close(r.flusher.stop)
	}
	<-r.flusher.done
	r.flushAllStates()
}
