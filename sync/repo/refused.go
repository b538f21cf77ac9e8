package repo

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/wire"
)

// receiveRefused applies what a message the write check refused says
// besides its changes: the sender's heads, needs and Bloom filter. The
// changes are discarded (nothing of them is stored), but the sync state
// with peer moves on as for a message without changes, so the next
// GenerateSyncMessage answers it. Without this the sender, whose
// automerge waits for an answer to the changes it sent, and this side,
// which waits for the sender's next message, would both stay silent: a
// change of a third peer that the sender's Bloom filter wrongly claims
// (a false positive) would then never reach it. The sender's heads are
// rewritten first: a head that is a refused change of the message is
// replaced by its dependencies (recursively, within the message), and
// any other head the document lacks is dropped, so automerge neither
// asks for the refused changes (the sender would send them again, to be
// refused again) nor treats the sender as having lost its data. It
// returns the queued write of the sync state, or nil when the message
// does not parse (the refusal is then all the sender gets). Caller
// holds h.mu with the document loaded.
func (h *Handle) receiveRefused(ctx context.Context, peer PeerID, msg []byte, refusal error) *write {
	bare, err := h.withoutChanges(msg)
	if err != nil {
		h.repo.opts.logger.Debug("repo: refused message not applied", "doc", h.id.String(), "peer", string(peer), "err", err, "refusal", refusal)
		return nil
	}
	ss, err := h.syncState(ctx, peer)
	if err != nil {
		h.repo.opts.logger.Warn("repo: refused message not applied", "doc", h.id.String(), "peer", string(peer), "err", err)
		return nil
	}
	delete(h.quiet, peer)
	// bare carries no change: the heads stay.
	if _, _, err := ss.receive(h, bare, nil, via{}); err != nil {
		h.repo.opts.logger.Warn("repo: refused message not applied", "doc", h.id.String(), "peer", string(peer), "err", err)
		return nil
	}
	state := ss.save()
	key := syncKey(peer, h.id)
	h.repo.gc.add(len(bare) + len(state))
	w := &write{h: h, size: len(key) + len(state), fn: func(tx store.Txn) error { return tx.Set(key, state) }}
	h.queue(w)
	return w
}

// withoutChanges returns msg without its changes and with its heads
// restricted to changes the document has (see receiveRefused). Caller
// holds h.mu with the document loaded.
func (h *Handle) withoutChanges(msg []byte) ([]byte, error) {
	m, err := wire.ParseSync(msg)
	if err != nil {
		return nil, err
	}
	doc, err := h.current()
	if err != nil {
		return nil, err
	}
	sm, cs, err := decodeChanges(msg)
	if err != nil {
		return nil, err
	}
	deps := make(map[automerge.ChangeHash][]automerge.ChangeHash, len(cs))
	for _, c := range cs {
		deps[c.Hash()] = c.Dependencies()
	}
	automerge.CloseChanges(cs)
	sm.Close()
	var heads [][32]byte
	seen := map[automerge.ChangeHash]bool{}
	stack := make([]automerge.ChangeHash, 0, len(m.Heads))
	for _, hd := range m.Heads {
		stack = append(stack, hd)
	}
	for len(stack) > 0 {
		hd := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[hd] {
			continue
		}
		seen[hd] = true
		switch d, refused := deps[hd]; {
		case doc.HasChange(hd):
			heads = append(heads, hd)
		case refused:
			stack = append(stack, d...)
		}
	}
	slices.SortFunc(heads, func(a, b [32]byte) int { return slices.Compare(a[:], b[:]) })
	m.Heads, m.Changes = heads, nil
	return m.Encode(), nil
}

// RefusedFunc decides, during SetAside, whether change c is one the
// remote refuses; base is the document rebuilt so far (the changes the
// remote holds and the pending ones kept before c) and must not be
// modified. An error aborts SetAside.
type RefusedFunc func(base *automerge.Doc, c *automerge.Change) (bool, error)

// SetAside rebuilds document id without the changes peer refused, so
// that the document can sync with peer again: peer answered a message
// with a refusal (its write check: an ACL change, a write by a reader),
// and every later change made on top of them would be refused too. The
// rebuilt document is the document as of the heads shared with peer
// (the sync state's shared heads: changes peer holds; with none known,
// nothing is set aside), plus every
// pending change (one peer does not hold) in causal order that refused
// does not pick and that does not depend on a change set aside. A
// change set aside from another peer is not lost: its author still has
// it and syncs it through the remote if the remote takes it. It returns
// how many changes were set aside; with none, nothing changes. The
// rebuilt document replaces the stored one (one snapshot, written
// atomically together with the deletion of the persisted sync states of
// the document whose shared heads name a change set aside; peer's,
// whose shared heads are the base, stays), the in-memory sync states
// are dropped (the next message to each peer starts from the persisted
// state, or afresh) and subscribers are notified once it is durable.
func (r *Repo) SetAside(ctx context.Context, peer PeerID, id docs.DocumentID, refused RefusedFunc) (int, error) {
	if err := peer.check(); err != nil {
		return 0, err
	}
	h, err := r.Get(ctx, id)
	if err != nil {
		return 0, err
	}
	h.mu.Lock()
	w, n, err := h.setAside(ctx, peer, refused)
	h.mu.Unlock()
	if err != nil {
		return 0, err
	}
	if err := w.wait(ctx); err != nil {
		return n, fmt.Errorf("repo: set aside refused changes of %s: %w", id, err)
	}
	return n, nil
}

// setAside is SetAside under h.mu: it returns the queued snapshot write
// (nil when nothing was set aside) and the number of changes set aside.
func (h *Handle) setAside(ctx context.Context, peer PeerID, refused RefusedFunc) (*write, int, error) {
	if err := h.loaded(ctx); err != nil {
		return nil, 0, err
	}
	if _, err := h.current(); err != nil {
		return nil, 0, err
	}
	ss, err := h.syncState(ctx, peer)
	if err != nil {
		return nil, 0, err
	}
	shared, err := SharedHeads(ss.save())
	if err != nil {
		return nil, 0, fmt.Errorf("repo: set aside in %s: %w", h.id, err)
	}
	base := slices.DeleteFunc(shared, func(c automerge.ChangeHash) bool { return !h.doc.HasChange(c) })
	if len(base) == 0 {
		// Nothing known to be held by peer (a sync state started afresh,
		// e.g. by an earlier SetAside, before peer's answer): every change
		// would count as pending, the creation included. Nothing is set
		// aside; a later refusal, once peer told its heads, does it.
		return nil, 0, nil
	}
	pending, err := h.doc.Changes(base...)
	if err != nil {
		return nil, 0, fmt.Errorf("repo: set aside in %s: read pending changes: %w", h.id, err)
	}
	defer automerge.CloseChanges(pending)
	if len(pending) == 0 {
		return nil, 0, nil
	}
	doc, err := h.doc.Fork(base...)
	if err != nil {
		return nil, 0, fmt.Errorf("repo: set aside in %s: fork: %w", h.id, err)
	}
	keep := false
	defer func() {
		if !keep {
			doc.Close()
		}
	}()
	aside := map[automerge.ChangeHash]bool{}
	for _, c := range causalOrder(pending) {
		hash := c.Hash()
		if slices.ContainsFunc(c.Dependencies(), func(d automerge.ChangeHash) bool { return aside[d] }) {
			aside[hash] = true
			continue
		}
		if err := h.rebuildStep(doc, hash, refused, aside); err != nil {
			return nil, 0, fmt.Errorf("repo: set aside in %s: %w", h.id, err)
		}
	}
	if len(aside) == 0 {
		return nil, 0, nil
	}
	actor, err := h.repo.newActor()
	if err != nil {
		return nil, 0, err
	}
	if err := doc.SetActorID(actor); err != nil {
		return nil, 0, fmt.Errorf("repo: set aside in %s: set actor: %w", h.id, err)
	}
	keep = true
	h.repo.opts.logger.Warn("repo: set aside changes the peer refused", "doc", h.id.String(), "peer", string(peer), "changes", len(aside))
	// States kept behind are written first, so dropStates sees them.
	h.flushStates()
	h.closeSyncs()
	if h.wr != nil {
		for p := range h.wr.held {
			h.dropHeld(p)
		}
	}
	h.doc.Close()
	h.doc, h.view = doc, nil
	if h.changes != nil {
		// The new document holds none of the changes the old one
		// queued.
		h.changes.Release()
	}
	h.acl.Reset()
	heads := doc.Heads()
	h.setContent(slices.Clone(heads))
	id := h.id
	// A persisted sync state whose shared heads name a change set aside
	// is deleted (automerge would build Bloom filters from a change the
	// document no longer has); the others, the refusing peer's among
	// them (its shared heads are the base), stay valid and are kept, so
	// the document is still known to be in sync with the peer.
	dropStates := func(tx store.Txn) error {
		suffix := append([]byte{store.Sep}, id.String()...)
		return deleteWhere(tx, store.Prefix("sync"), func(k, v []byte) bool {
			if !bytes.HasSuffix(k, suffix) {
				return false
			}
			shared, err := SharedHeads(v)
			return err != nil || slices.ContainsFunc(shared, func(c automerge.ChangeHash) bool { return aside[c] })
		})
	}
	w := h.queueCompaction(dropStates, 0, &Event{Doc: id, Heads: heads}, false, nil)
	h.statesDropped = w
	return w, len(aside), nil
}

// rebuildStep offers the change hash of h.doc to refused and applies it
// to doc unless refused picks it (then it joins aside). The change is
// read alone (Doc.Change): a change taken from a Doc.Changes result
// carries the whole result into Doc.Apply. Caller holds h.mu.
func (h *Handle) rebuildStep(doc *automerge.Doc, hash automerge.ChangeHash, refused RefusedFunc, aside map[automerge.ChangeHash]bool) error {
	c, err := h.doc.Change(hash)
	if err != nil {
		return fmt.Errorf("read change %s: %w", hash, err)
	}
	defer automerge.CloseChanges([]*automerge.Change{c})
	drop, err := refused(doc, c)
	if err != nil {
		return err
	}
	if drop {
		aside[hash] = true
		return nil
	}
	if err := doc.Apply(c); err != nil {
		return fmt.Errorf("apply change %s: %w", hash, err)
	}
	return nil
}

// causalOrder returns cs ordered so that every change follows those of
// cs it depends on (automerge returns them so already; the order is
// made sure of, in time linear in the changes and their dependencies).
func causalOrder(cs []*automerge.Change) []*automerge.Change {
	byHash := make(map[automerge.ChangeHash]*automerge.Change, len(cs))
	for _, c := range cs {
		byHash[c.Hash()] = c
	}
	out := make([]*automerge.Change, 0, len(cs))
	done := make(map[automerge.ChangeHash]bool, len(cs))
	var visit func(c *automerge.Change)
	visit = func(c *automerge.Change) {
		hash := c.Hash()
		if done[hash] {
			return
		}
		done[hash] = true
		for _, d := range c.Dependencies() {
			if dc, ok := byHash[d]; ok {
				visit(dc)
			}
		}
		out = append(out, c)
	}
	for _, c := range cs {
		visit(c)
	}
	return out
}

// syncStateType is the first byte of automerge's encoded sync state,
// which continues with the shared heads (a LEB128 count, then 32-byte
// hashes).
const syncStateType = 0x43

// SharedHeads decodes the shared heads of an encoded automerge sync
// state (SyncState.Save, as the repo persists it), or returns
// ErrBadSyncState for bytes that are not one. The returned slice is the
// caller's; state is not retained.
func SharedHeads(state []byte) ([]automerge.ChangeHash, error) {
	if len(state) == 0 || state[0] != syncStateType {
		return nil, ErrBadSyncState
	}
	n, k := binary.Uvarint(state[1:])
	if k <= 0 || n > uint64(len(state)-1-k)/32 {
		return nil, ErrBadSyncState
	}
	rest := state[1+k:]
	heads := make([]automerge.ChangeHash, n)
	for i := range heads {
		copy(heads[i][:], rest[32*i:])
	}
	return heads, nil
}

// ErrBadSyncState is returned by SharedHeads for bytes that are not an
// encoded automerge sync state.
var ErrBadSyncState = errors.New("repo: malformed sync state")
