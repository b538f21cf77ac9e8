package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/wire"
)

// syncState returns the in-memory sync state with peer, loading the
// persisted one (shared heads from an earlier session) on first use.
// Caller holds h.mu.
func (h *Handle) syncState(ctx context.Context, peer PeerID) (peerSync, error) {
	if ss, ok := h.syncs[peer]; ok {
		return ss, nil
	}
	if h.syncs == nil {
		h.syncs = map[PeerID]peerSync{}
	}
	var raw []byte
	err := store.ErrNotFound
	if h.statesDropped == nil || h.statesDropped.finished() {
		raw, err = h.repo.st.Get(ctx, syncKey(peer, h.id))
	}
	var ss peerSync
	switch {
	case errors.Is(err, store.ErrNotFound):
		ss, err = h.newPeerSync(nil)
	case err != nil:
		return nil, fmt.Errorf("repo: read sync state %s/%s: %w", peer, h.id, err)
	default:
		if ss, err = h.newPeerSync(raw); err != nil {
			h.repo.opts.logger.Warn("repo: discarding corrupt sync state", "peer", string(peer), "doc", h.id.String(), "err", err)
			ss, err = h.newPeerSync(nil)
		}
	}
	if err != nil {
		return nil, err
	}
	h.syncs[peer] = ss
	h.repo.peers.add(peer, h)
	return ss, nil
}

// GenerateSyncMessage returns the next automerge sync message to send to
// peer for document id, or ok == false when there is nothing to send
// right now (in sync, or waiting for the peer's reply). The document must
// be known (Get or Ensure); an empty placeholder produces the "request"
// message that asks the peer for the whole document. A message is at
// most the repo's message limit (WithSyncLimits): changes beyond it are
// left for the messages that answer the peer's next ones, and a message
// that cannot fit returns an error wrapping wire.ErrSyncTooLarge (a
// refusal of this document only). msg is owned by the caller.
func (r *Repo) GenerateSyncMessage(ctx context.Context, peer PeerID, id docs.DocumentID) (msg []byte, ok bool, err error) {
	return r.generate(ctx, peer, id, nil)
}

// GenerateSyncMessageAt is GenerateSyncMessage for a peer whose access
// to the document was decided at ACL revision aclRev (Handle.ReadACLAt):
// when the document's ACL revision has moved since, it generates
// nothing, leaves the sync state with peer as it was and returns
// ErrACLMoved. A message thus never carries changes made after the
// access decision it is sent under, such as the change that withdrew
// the peer's read access or any change after that one.
func (r *Repo) GenerateSyncMessageAt(ctx context.Context, peer PeerID, id docs.DocumentID, aclRev uint64) (msg []byte, ok bool, err error) {
	return r.generate(ctx, peer, id, &aclRev)
}

// generate is GenerateSyncMessage, and GenerateSyncMessageAt with
// aclRev not nil.
func (r *Repo) generate(ctx context.Context, peer PeerID, id docs.DocumentID, aclRev *uint64) (msg []byte, ok bool, err error) {
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
	if aclRev != nil && *aclRev != h.aclRev {
		return nil, false, fmt.Errorf("%w: %s", ErrACLMoved, id)
	}
	ss, err := h.syncState(ctx, peer)
	if err != nil {
		return nil, false, err
	}
	if h.quietFor(peer, ss) {
		r.quietSkips.Add(1)
		return nil, false, nil
	}
	raw, valid, err := ss.generate(h, r.opts.maxMessage-h.askReserve(peer))
	if err != nil {
		return nil, false, err
	}
	if !valid {
		h.markQuiet(peer, ss)
		return nil, false, nil
	}
	b, ok := h.askMissing(peer, raw)
	if !ok {
		return nil, false, nil
	}
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
// ErrBadMessage; one refused by the write check, or carrying a change
// over the change limit (WithSyncLimits; ErrChangeTooLarge), returns
// ErrRejected and changes nothing.
func (r *Repo) ReceiveSyncMessage(ctx context.Context, peer PeerID, id docs.DocumentID, msg []byte) error {
	return r.ReceiveSyncMessageWith(ctx, peer, id, msg, Incoming{})
}

// Incoming refines one ReceiveSyncMessageWith call.
type Incoming struct {
	// Check, when set, runs under the document's lock (after the
	// repository's WriteCheck) on the changes msg would add that the
	// document does not have yet and whose dependencies are met;
	// current must not be modified. A non-nil error rejects the whole
	// message (ErrRejected wrapping it) and nothing is applied. Changes
	// whose dependencies are missing are held back, within HoldLimits,
	// until a later message from the same peer brings them; they are
	// then checked together (see WithHoldLimits).
	Check func(current *automerge.Doc, fresh []*automerge.Change) error
	// CheckACL, when set, runs docs.ACLCheck (the document's own, which
	// reads the changes' operations and keeps the ACL fields' object ids
	// between messages) after Check, on the same changes: the rule for a
	// writer who may not manage the document. With WithLazyApply and no
	// other check, a neutral batch (docs.Neutral under the kept record:
	// it leaves every ACL field alone) skips the check and automerge.
	CheckACL bool
	// Create, when set, makes the call a creation: the document must
	// have no changes yet (ErrExists otherwise), and Create runs inside
	// the store Update that first stores it, so whatever it writes is
	// stored together with the document or not at all. An error from
	// Create rejects the message (returned as is) and nothing is stored.
	Create func(tx store.Txn) error
	// Writer is the authenticated user the message comes from, for the
	// actor binding (WithActorBinding; actors.go): a change under an
	// actor id bound to another user is held back, as if its
	// dependencies were missing, until that user delivers it, and the
	// changes applied bind their unbound actors to Writer. Empty: a
	// trusted caller, nothing is checked or bound.
	Writer model.UserID
	// Owner says Writer owns the document (or, on a device, is the
	// device's own user): its changes are taken under any actor id and
	// bind it to Writer.
	Owner bool
	// ActorPrefix, with Guard, is the actor prefix of the writer's
	// device (ActorPrefix of the device its certificate names): an actor
	// starting with it is the writer's own even when the document holds
	// changes under it that no binding names (they came through the
	// relay). Empty: none.
	ActorPrefix []byte
	// Guard, with automerge's sync states (WithGoSync(false): devices),
	// runs msync's guard on the message's changes before automerge sees
	// them, as the Go sync states always do: automerge 0.5 aborts the
	// process on some changes a hostile peer can send, and applies
	// others that leave the document unloadable. For a peer that is not
	// the relay (which guards what it forwards): a LAN peer. With the
	// actor binding, an actor the document holds changes of that no
	// binding names counts as another user's for such a peer (the
	// relay's deliveries and the device's own edits bind nothing).
	Guard bool
	// ACLRev, when set, is the document's ACL revision the writer's
	// access was decided at (Handle.ReadACLAt), and the message is
	// received only while the revision is still *ACLRev: when it has
	// moved (the owner removed the writer, say), nothing is applied, the
	// sync state with the peer is left as it was and the error wraps
	// ErrACLMoved, so the caller decides again. A write thus never lands
	// under an access decision that a change of the ACL fields applied
	// before it has overtaken.
	ACLRev *uint64
}

// ErrExists is returned by ReceiveSyncMessageWith with Incoming.Create
// when the document already has changes.
var ErrExists = errors.New("repo: document exists")

// ReceiveSyncMessageWith is ReceiveSyncMessage with an extra check and,
// for a creation, extra writes in the same store Update (see Incoming).
func (r *Repo) ReceiveSyncMessageWith(ctx context.Context, peer PeerID, id docs.DocumentID, msg []byte, in Incoming) error {
	if err := peer.check(); err != nil {
		return err
	}
	h, err := r.Ensure(ctx, id)
	if err != nil {
		return err
	}
	h.mu.Lock()
	prev := h.pending
	w, changed, err := h.receive(ctx, peer, msg, in)
	if err != nil {
		h.mu.Unlock()
		return err
	}
	if in.Create != nil {
		// A creation keeps the document's lock until its write is
		// decided, so nothing is applied on top of a document that may
		// yet be refused. It waits for the outcome even past ctx: only
		// the outcome tells whether the document must be reset.
		defer h.mu.Unlock()
		err := w.wait(context.Background())
		if err != nil {
			// A creation that is not stored leaves no document behind.
			h.resetEmpty()
		}
		return err
	}
	h.mu.Unlock()
	if !changed {
		w = prev
	}
	return w.wait(ctx)
}

// receive runs the checks of in, applies msg and queues its persistence
// (with in.Create's writes, as a creation); changed reports whether it
// added changes. Caller holds h.mu.
func (h *Handle) receive(ctx context.Context, peer PeerID, msg []byte, in Incoming) (w *write, changed bool, err error) {
	if err := h.loaded(ctx); err != nil {
		return nil, false, err
	}
	if in.Create != nil && len(h.heads) > 0 {
		return nil, false, fmt.Errorf("%w: %s", ErrExists, h.id)
	}
	if in.ACLRev != nil && *in.ACLRev != h.aclRev {
		return nil, false, fmt.Errorf("%w: %s", ErrACLMoved, h.id)
	}
	if len(msg) > h.repo.opts.maxChange {
		// Only a message longer than the limit can hold such a change.
		if err := oversized(msg, h.repo.opts.maxChange); err != nil {
			return h.refusedWrite(ctx, peer, msg, in, fmt.Errorf("%w: %w", ErrRejected, err))
		}
	}
	res, err := h.reserve(msg, in)
	if err != nil {
		return h.refusedWrite(ctx, peer, msg, in, err)
	}
	// The reservation ends with the write that stores the message's
	// changes (persist hands it over), else here.
	defer func() {
		if res != nil {
			res.settle(nil)
		}
	}()
	// Taken before the checks: the ACL check moves the record's heads
	// to those it expects after the changes it accepts.
	base := h.beforeChanges()
	from := h.newWriter(in)
	v := via{from: from, guard: in.Guard, writer: in.Writer}
	// Every change applied below passed the ACL check when in.CheckACL
	// (checkWrite rewrites the message to the checked changes).
	aclKept := false
	// A writer no check applies to may have a neutral batch kept out of
	// automerge (Handle.lazyFresh); so may a collaborator with nothing
	// held back: a neutral batch leaves the ACL fields alone, which is
	// all the ACL check asks (docs.Neutral, docs.CheckACLUntouched).
	// Whatever else a collaborator sends is declined (errNeedsCheck),
	// then checked and received again.
	var lazy *neutralBase
	checks := h.repo.opts.writeCheck != nil || in.Check != nil || in.CheckACL
	if h.repo.opts.lazy && h.repo.opts.writeCheck == nil && in.Check == nil && in.Create == nil {
		switch {
		case !in.CheckACL:
			lazy = &base
		case base.rec != nil && len(h.heldFor(peer)) == 0:
			base.checked = true
			lazy = &base
			checks = false
		}
	}
	if checks {
		checked, err := h.checkWrite(peer, msg, in, from)
		if err != nil {
			return h.refusedWrite(ctx, peer, msg, in, err)
		}
		msg = checked
		aclKept = in.CheckACL && in.Create == nil
	}
	ss, err := h.syncState(ctx, peer)
	if err != nil {
		return nil, false, err
	}
	before := h.heads
	// The sync state changes (and may generate again) whatever the
	// outcome.
	delete(h.quiet, peer)
	after, known, err := ss.receive(h, msg, lazy, v)
	if errors.Is(err, errNeedsCheck) {
		// A collaborator's batch that is not neutral, or a change
		// under an actor bound to another user: checked, and held back
		// for its actor's user.
		checked, cerr := h.checkWrite(peer, msg, in, from)
		if cerr != nil {
			return h.refusedWrite(ctx, peer, msg, in, cerr)
		}
		msg, aclKept = checked, in.CheckACL
		after, known, err = ss.receive(h, msg, nil, v)
	}
	neutral := false
	if changed = !slices.Equal(before, after); changed {
		if err != nil {
			// Part of the message applied: judged as a whole, not
			// neutral.
			base = neutralBase{}
		}
		neutral = h.changed(base, after, aclKept, known && err == nil)
	}
	if errors.Is(err, ErrCatchUp) {
		// Not the message's fault: the document is stuck.
		return nil, false, err
	}
	if err != nil {
		// The cause stays in the chain: a change the content check
		// refused (docs.ErrBadContent, docs.ErrTooManyEntries) is told
		// to the sender as such, which then sets it aside
		// (sync/wire/peer).
		return nil, false, fmt.Errorf("%w: %w", ErrBadMessage, err)
	}
	state := ss.save()
	var ev *Event
	if changed {
		ev = &Event{Doc: h.id, Heads: after, Remote: true, Peer: peer}
	}
	h.repo.gc.add(len(msg) + len(state))
	if !changed && in.Create == nil && !h.broken.Load() {
		// No new change: only the sync state to store, written behind
		// (stateflush.go).
		h.keepState(peer, state)
		return nil, false, nil
	}
	key := syncKey(peer, h.id)
	bind, bindSize := h.bound(from)
	create := in.Create
	if res != nil && h.changes != nil {
		res.added = h.changes.Bytes() - res.before
	}
	extra := func(tx store.Txn) error {
		if create != nil {
			if err := create(tx); err != nil {
				return err
			}
		}
		if bind != nil {
			if err := bind(tx); err != nil {
				return err
			}
		}
		return tx.Set(key, state)
	}
	// The state is written with the message: one kept behind is older.
	delete(h.dirty, peer)
	if len(h.dirty) == 0 {
		h.dirty = nil
	}
	kept := res
	res = nil
	return h.persist(extra, len(key)+len(state)+bindSize, ev, in.Create != nil, neutral, kept), changed, nil
}

// oversized returns an error wrapping ErrChangeTooLarge when msg carries
// a change over limit bytes: no message this side sends could carry it
// on (WithSyncLimits). A message that does not parse is left to the
// receive path to report.
func oversized(msg []byte, limit int) error {
	m, err := wire.ParseSync(msg)
	if err != nil {
		return nil
	}
	for _, c := range m.Changes {
		if len(c) > limit {
			return fmt.Errorf("%w: a change of %d bytes, limit %d (no sync message could carry it on)", ErrChangeTooLarge, len(c), limit)
		}
	}
	return nil
}

// refusedWrite is receive's answer to a message the write checks
// refused with err.
func (h *Handle) refusedWrite(ctx context.Context, peer PeerID, msg []byte, in Incoming, err error) (*write, bool, error) {
	if errors.Is(err, ErrRejected) && in.Create == nil {
		return h.receiveRefused(ctx, peer, msg, err), false, err
	}
	return nil, false, err
}

// resetEmpty turns h back into an empty placeholder after a creation
// whose write failed. The in-memory sync states were bound to the
// discarded document; they are dropped and reload from the store (where
// the failed Update wrote nothing). An empty document has nothing a
// failed write could have lost, so it is no longer broken, and a
// compaction running in the background goes stale. Caller holds h.mu.
func (h *Handle) resetEmpty() {
	doc := automerge.New()
	if err := doc.SetActorID(h.doc.ActorID()); err != nil {
		h.repo.opts.logger.Warn("repo: reset placeholder actor", "doc", h.id.String(), "err", err)
	}
	h.staleCompaction()
	h.closeSyncs()
	h.doc.Close()
	h.doc, h.nextSeq, h.incCount, h.incBytes, h.snapBytes, h.view = doc, 1, 0, 0, 0, nil
	h.setActors(nil)
	h.setContent(nil)
	h.dropGraph()
	h.behind = 0
	h.broken.Store(false)
	clear(h.syncs)
	clear(h.dirty)
	h.acl.Reset()
}

// SyncState returns the persisted sync state with peer for document id
// (automerge's encoding: the heads both sides are known to share), or nil
// when none is stored. It first waits for the document's queued writes,
// so the state reflects every message received before the call (a
// message that adds no change returns before its sync state is
// durable). The bytes are owned by the caller.
func (r *Repo) SyncState(ctx context.Context, peer PeerID, id docs.DocumentID) ([]byte, error) {
	if err := peer.check(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	h := r.handles[id]
	r.mu.Unlock()
	if h != nil {
		h.mu.Lock()
		h.flushStates()
		pending := h.pending
		h.mu.Unlock()
		// A failed write leaves the stored state as it was: read that.
		if err := pending.wait(ctx); err != nil && ctx.Err() != nil {
			return nil, fmt.Errorf("repo: read sync state: %w", err)
		}
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

// PeerDisconnected drops the in-memory sync sessions with peer, and the
// changes held for it, on every document where it has them (the
// persisted shared heads stay). Call it when the connection closes: the
// next session starts with a fresh exchange of heads, which is what
// recovers from messages lost in the broken connection. It first waits
// for each such document's queued writes (the group commit may still
// hold the latest sync state with peer) after queuing the states written
// behind, so the next session resumes from the latest state, not an
// older stored one. Its cost follows the documents peer synced, not the
// documents the repo knows.
func (r *Repo) PeerDisconnected(peer PeerID) {
	for _, h := range r.peers.take(peer) {
		h.mu.Lock()
		h.flushStates()
		pending := h.pending
		h.mu.Unlock()
		// A failed write leaves the stored state as it was; the next
		// session reads that.
		_ = pending.wait(context.Background())
		h.mu.Lock()
		if ss := h.syncs[peer]; ss != nil {
			ss.close()
			delete(h.syncs, peer)
		}
		delete(h.quiet, peer)
		h.dropHeld(peer)
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

// dropBatch bounds the sync states DropSyncStates deletes in one store
// Update.
const dropBatch = 1000

// DropSyncStates deletes every persisted sync state whose peer drop
// selects and returns how many it deleted. Call it before any session
// runs (it does not touch in-memory states): the relay drops, once
// upgraded, the states stored under peer names it no longer uses. A
// peer whose state is gone starts its next exchange afresh — a round
// trip of heads and Bloom filters per document, no change either side
// holds already — as after a crash that lost the state.
func (r *Repo) DropSyncStates(ctx context.Context, drop func(peer PeerID) bool) (int, error) {
	prefix := store.Prefix("sync")
	var keys [][]byte
	if err := r.st.Iterate(ctx, prefix, false, func(k, _ []byte) error {
		rest := k[len(prefix):]
		if i := bytes.IndexByte(rest, '/'); i > 0 && drop(PeerID(rest[:i])) {
			keys = append(keys, bytes.Clone(k))
		}
		return nil
	}); err != nil {
		return 0, fmt.Errorf("repo: list sync states: %w", err)
	}
	for done := 0; done < len(keys); done += dropBatch {
		batch := keys[done:min(done+dropBatch, len(keys))]
		if err := r.st.Update(ctx, func(tx store.Txn) error {
			for _, k := range batch {
				if err := tx.Delete(k); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return done, fmt.Errorf("repo: drop sync states: %w", err)
		}
	}
	return len(keys), nil
}
