package repo

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
)

// syncState returns the in-memory sync state with peer, loading the
// persisted one (shared heads from an earlier session) on first use.
// Caller holds h.mu.
func (h *Handle) syncState(ctx context.Context, peer PeerID) (*automerge.SyncState, error) {
	if ss, ok := h.syncs[peer]; ok {
		return ss, nil
	}
	if h.syncs == nil {
		h.syncs = map[PeerID]*automerge.SyncState{}
	}
	raw, err := h.repo.st.Get(ctx, syncKey(peer, h.id))
	var ss *automerge.SyncState
	switch {
	case errors.Is(err, store.ErrNotFound):
		ss = automerge.NewSyncState(h.doc)
	case err != nil:
		return nil, fmt.Errorf("repo: read sync state %s/%s: %w", peer, h.id, err)
	default:
		if ss, err = automerge.LoadSyncState(h.doc, raw); err != nil {
			h.repo.opts.logger.Warn("repo: discarding corrupt sync state", "peer", string(peer), "doc", h.id.String(), "err", err)
			ss = automerge.NewSyncState(h.doc)
		}
	}
	h.syncs[peer] = ss
	return ss, nil
}

// GenerateSyncMessage returns the next automerge sync message to send to
// peer for document id, or ok == false when there is nothing to send
// right now (in sync, or waiting for the peer's reply). The document must
// be known (Get or Ensure); an empty placeholder produces the "request"
// message that asks the peer for the whole document. msg is owned by the
// caller.
func (r *Repo) GenerateSyncMessage(ctx context.Context, peer PeerID, id docs.DocumentID) (msg []byte, ok bool, err error) {
	if err := peer.check(); err != nil {
		return nil, false, err
	}
	h, err := r.Get(ctx, id)
	if err != nil {
		return nil, false, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.loaded(ctx); err != nil {
		return nil, false, err
	}
	ss, err := h.syncState(ctx, peer)
	if err != nil {
		return nil, false, err
	}
	sm, valid := ss.GenerateMessage()
	if !valid {
		return nil, false, nil
	}
	b := sm.Bytes()
	r.gc.add(len(b))
	return b, true, nil
}

// ReceiveSyncMessage applies a sync message from peer to document id
// (created as an empty placeholder if unknown). New changes and the
// updated sync state are persisted in one store Update (a group commit
// shared with other messages) before it returns; subscribers are then
// notified with Remote set. A message that adds no change (heads, a bloom
// filter, changes the document already has) does not wait for its sync
// state to be durable, only for the document's earlier writes: answering
// it acknowledges nothing new. The document's lock is released while the
// write commits, so later messages of the same document are applied
// meanwhile (and may reach other peers before this one is durable; its
// sender is answered only after). A message that does not decode returns
// ErrBadMessage; one refused by the write check returns ErrRejected and
// changes nothing.
func (r *Repo) ReceiveSyncMessage(ctx context.Context, peer PeerID, id docs.DocumentID, msg []byte) error {
	if err := peer.check(); err != nil {
		return err
	}
	h, err := r.Ensure(ctx, id)
	if err != nil {
		return err
	}
	h.mu.Lock()
	prev := h.pending
	w, changed, err := h.receive(ctx, peer, msg)
	h.mu.Unlock()
	if err != nil {
		return err
	}
	if !changed {
		w = prev
	}
	return w.wait(ctx)
}

// receive applies msg and queues its persistence; changed reports
// whether it added changes. Caller holds h.mu.
func (h *Handle) receive(ctx context.Context, peer PeerID, msg []byte) (w *write, changed bool, err error) {
	if err := h.loaded(ctx); err != nil {
		return nil, false, err
	}
	if h.repo.opts.writeCheck != nil {
		if err := h.checkWrite(peer, msg); err != nil {
			return nil, false, err
		}
	}
	ss, err := h.syncState(ctx, peer)
	if err != nil {
		return nil, false, err
	}
	before := h.doc.Heads()
	if _, err := ss.ReceiveMessage(msg); err != nil {
		return nil, false, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	after := h.doc.Heads()
	state := ss.Save()
	var ev *Event
	if changed = !slices.Equal(before, after); changed {
		ev = &Event{Doc: h.id, Heads: after, Remote: true, Peer: peer}
	}
	key := syncKey(peer, h.id)
	h.repo.gc.add(len(msg) + len(state))
	return h.persist(func(tx store.Txn) error { return tx.Set(key, state) }, len(key)+len(state), ev), changed, nil
}

// checkWrite decodes msg on a scratch document and runs the write check
// on the changes the document does not have yet. Caller holds h.mu.
func (h *Handle) checkWrite(peer PeerID, msg []byte) error {
	sm, err := automerge.NewSyncState(automerge.New()).ReceiveMessage(msg)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	var fresh []*automerge.Change
	for _, c := range sm.Changes() {
		if _, err := h.doc.Change(c.Hash()); err != nil {
			fresh = append(fresh, c)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	if err := h.repo.opts.writeCheck(peer, h.id, h.doc, fresh); err != nil {
		return fmt.Errorf("%w: %w", ErrRejected, err)
	}
	return nil
}

// SyncState returns the persisted sync state with peer for document id
// (automerge's encoding: the heads both sides are known to share), or nil
// when none is stored. The bytes are owned by the caller.
func (r *Repo) SyncState(ctx context.Context, peer PeerID, id docs.DocumentID) ([]byte, error) {
	if err := peer.check(); err != nil {
		return nil, err
	}
	b, err := r.st.Get(ctx, syncKey(peer, id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("repo: read sync state: %w", err)
	}
	return b, nil
}

// PeerDisconnected drops the in-memory sync sessions with peer for every
// open document (the persisted shared heads stay). Call it when the
// connection closes: the next session starts with a fresh exchange of
// heads, which is what recovers from messages lost in the broken
// connection.
func (r *Repo) PeerDisconnected(peer PeerID) {
	r.mu.Lock()
	hs := make([]*Handle, 0, len(r.handles))
	for _, h := range r.handles {
		hs = append(hs, h)
	}
	r.mu.Unlock()
	for _, h := range hs {
		h.mu.Lock()
		delete(h.syncs, peer)
		h.mu.Unlock()
	}
}

// ForgetPeer is PeerDisconnected that also deletes every persisted sync
// state with peer (for ephemeral peers, or a peer that reset its store).
func (r *Repo) ForgetPeer(ctx context.Context, peer PeerID) error {
	if err := peer.check(); err != nil {
		return err
	}
	r.PeerDisconnected(peer)
	var keys [][]byte
	prefix := store.Prefix("sync", string(peer))
	if err := r.st.Iterate(ctx, prefix, false, func(k, _ []byte) error {
		keys = append(keys, append([]byte(nil), k...))
		return nil
	}); err != nil {
		return fmt.Errorf("repo: forget peer %s: %w", peer, err)
	}
	return r.st.Update(ctx, func(tx store.Txn) error {
		for _, k := range keys {
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}
