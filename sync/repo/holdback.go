package repo

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/sync/msync"
	"github.com/segue-fm/segue/sync/wire"
)

// ErrHoldLimit is returned (wrapped in ErrRejected) for a checked sync
// message whose changes wait for dependencies beyond the repository's
// HoldLimits. Nothing of the message is applied or held.
var ErrHoldLimit = errors.New("repo: too many changes waiting for their dependencies")

// HoldLimits bound the changes a repository holds back from checked
// peers (see Incoming.Check and WithWriteCheck) because they depend on
// changes it does not have yet. Every limit applies at once.
type HoldLimits struct {
	// PeerChanges and PeerBytes bound what one peer has held, over all
	// documents.
	PeerChanges, PeerBytes int
	// DocChanges and DocBytes bound what one document holds, over all
	// peers.
	DocChanges, DocBytes int
	// TotalBytes bounds what the repository holds altogether.
	TotalBytes int
}

// DefaultHoldLimits returns 256 changes and 1 MiB per peer, 1,024
// changes and 4 MiB per document, and 64 MiB altogether.
func DefaultHoldLimits() HoldLimits {
	return HoldLimits{PeerChanges: 256, PeerBytes: 1 << 20, DocChanges: 1024, DocBytes: 4 << 20, TotalBytes: 64 << 20}
}

// WithHoldLimits returns o with the given bounds on held-back changes;
// fields < 1 keep their default (DefaultHoldLimits).
func (o Options) WithHoldLimits(l HoldLimits) Options {
	d := DefaultHoldLimits()
	pick := func(v, def int) int {
		if v < 1 {
			return def
		}
		return v
	}
	o.hold = HoldLimits{
		PeerChanges: pick(l.PeerChanges, d.PeerChanges),
		PeerBytes:   pick(l.PeerBytes, d.PeerBytes),
		DocChanges:  pick(l.DocChanges, d.DocChanges),
		DocBytes:    pick(l.DocBytes, d.DocBytes),
		TotalBytes:  pick(l.TotalBytes, d.TotalBytes),
	}
	return o
}

// heldChange is a change from a checked peer that waits for its
// dependencies. automerge never sees it until it is released: automerge
// would queue it inside the document and apply it, unchecked, once its
// dependencies arrive. raw (its encoding) is what the limits count; the
// decoded change costs automerge memory of about the same size.
type heldChange struct {
	change *automerge.Change
	hash   automerge.ChangeHash
	deps   []automerge.ChangeHash
	raw    []byte
}

// holdBook counts held changes per peer and altogether.
type holdBook struct {
	mu     sync.Mutex
	peers  map[PeerID]holdUse
	total  int
	limits HoldLimits
}

type holdUse struct{ changes, bytes int }

// reserve accounts add for peer if the per-peer and total limits allow.
func (b *holdBook) reserve(peer PeerID, add holdUse) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	u := b.peers[peer]
	if u.changes+add.changes > b.limits.PeerChanges || u.bytes+add.bytes > b.limits.PeerBytes ||
		b.total+add.bytes > b.limits.TotalBytes {
		return false
	}
	if b.peers == nil {
		b.peers = map[PeerID]holdUse{}
	}
	b.peers[peer] = holdUse{u.changes + add.changes, u.bytes + add.bytes}
	b.total += add.bytes
	return true
}

// release returns what peer no longer holds.
func (b *holdBook) release(peer PeerID, sub holdUse) {
	if sub.changes == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	u := b.peers[peer]
	u.changes -= sub.changes
	u.bytes -= sub.bytes
	if u.changes <= 0 {
		delete(b.peers, peer)
	} else {
		b.peers[peer] = u
	}
	b.total -= sub.bytes
}

// Held returns how many changes and bytes the repository holds back
// altogether (changes from checked peers waiting for dependencies).
func (r *Repo) Held() (changes, bytes int) {
	r.hold.mu.Lock()
	defer r.hold.mu.Unlock()
	for _, u := range r.hold.peers {
		changes += u.changes
	}
	return changes, r.hold.total
}

func usage(hs []heldChange) holdUse {
	u := holdUse{changes: len(hs)}
	for _, c := range hs {
		u.bytes += len(c.raw)
	}
	return u
}

// dropHeld forgets the changes held for peer. Caller holds h.mu.
func (h *Handle) dropHeld(peer PeerID) {
	if h.wr == nil {
		return
	}
	if hs, ok := h.wr.held[peer]; ok {
		delete(h.wr.held, peer)
		delete(h.wr.answered, peer)
		h.repo.hold.release(peer, usage(hs))
	}
}

// candidate is a change a checked message would add: from the message,
// or held from an earlier one.
type candidate struct {
	held heldChange
	old  bool // held from an earlier message
}

// decodeChanges decodes the changes of sync message msg the way
// automerge reads them: through a scratch document and sync state
// (automerge.LoadChanges refuses a change whose dependencies it was not
// given), both freed before it returns, after msync.GuardScratch (the
// scratch document applies the changes that depend on nothing, and
// automerge aborts on some it should refuse). The message and its changes
// are the caller's, who frees them (CloseChanges, then sm.Close) when
// done: checkWrite keeps those it holds back, withoutChanges reads
// their dependencies and drops them.
func decodeChanges(msg []byte) (*automerge.SyncMessage, []*automerge.Change, error) {
	if err := msync.GuardScratch(msg); err != nil {
		return nil, nil, err
	}
	scratch := automerge.New()
	defer scratch.Close()
	sss := automerge.NewSyncState(scratch)
	defer sss.Close()
	sm, err := sss.ReceiveMessage(msg)
	if err != nil {
		return nil, nil, err
	}
	return sm, sm.Changes(), nil
}

// checkWrite decodes msg and runs the write checks (the repository's,
// then in's) on the changes that become applicable: those of the
// message the document lacks, plus changes held for peer whose
// dependencies are now met. Changes whose dependencies are still missing
// are held (within HoldLimits) rather than refused; automerge never sees
// them until they are released and checked, so sending changes out of
// order cannot skip the check. It returns the message to apply: msg
// itself, or msg rewritten to carry exactly the checked changes. A
// refused message changes nothing but drops the changes held for peer
// (they would be refused again). With from (the actor binding), a change
// under an actor bound to another user is held the same way, with its
// dependents, until that user delivers it. Caller holds h.mu.
func (h *Handle) checkWrite(peer PeerID, msg []byte, in Incoming, from *writer) ([]byte, error) {
	// A message without changes (an acknowledgement: heads, a Bloom
	// filter) adds nothing to check and, with nothing held for peer,
	// releases nothing: its framing says so without automerge's scratch
	// decode (FuzzNoChangesFraming holds wire.ParseSync to automerge's
	// reading). A message ParseSync refuses takes the full path.
	if len(h.heldFor(peer)) == 0 {
		if m, err := wire.ParseSync(msg); err == nil && len(m.Changes) == 0 {
			return msg, nil
		}
	}
	sm, inMsg, err := decodeChanges(msg)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	// The message's changes live in sm's memory: freed on return unless
	// some are held back (kept, with sm, until released or dropped).
	keep := false
	held := h.heldFor(peer)
	defer func() {
		if !keep {
			automerge.CloseChanges(inMsg)
			sm.Close()
		}
	}()
	if len(inMsg) == 0 && len(held) == 0 {
		return msg, nil
	}
	doc, err := h.current()
	if err != nil {
		return nil, err
	}
	var g *msync.Graph // the actors a LAN peer's binding reads (actors.go)
	if from != nil && from.known {
		if g, err = h.graph(); err != nil {
			return nil, err
		}
	}
	has := map[automerge.ChangeHash]bool{}
	inDoc := func(hash automerge.ChangeHash) bool {
		v, ok := has[hash]
		if !ok {
			v = doc.HasChange(hash)
			has[hash] = v
		}
		return v
	}
	seen := map[automerge.ChangeHash]bool{}
	var cands []*candidate
	for _, c := range inMsg {
		hash := c.Hash()
		if seen[hash] || inDoc(hash) {
			continue
		}
		seen[hash] = true
		cands = append(cands, &candidate{held: heldChange{change: c, hash: hash, deps: c.Dependencies()}})
	}
	stale := false // a held change the document got meanwhile
	for _, hc := range held {
		switch {
		case inDoc(hc.hash):
			stale = true
		case !seen[hc.hash]:
			seen[hc.hash] = true
			cands = append(cands, &candidate{held: hc, old: true})
		}
	}
	// Ready: every dependency in the document or ready itself (Kahn's
	// order, linear in the changes and their dependencies). fresh lists
	// them so that each follows its dependencies.
	byHash := make(map[automerge.ChangeHash]*candidate, len(cands))
	for _, c := range cands {
		byHash[c.held.hash] = c
	}
	waiting := make(map[*candidate]int, len(cands))
	dependents := map[automerge.ChangeHash][]*candidate{}
	var queue []*candidate
	for _, c := range cands {
		blocked := false
		for _, d := range c.held.deps {
			switch {
			case byHash[d] != nil:
				waiting[c]++
				dependents[d] = append(dependents[d], c)
			case !inDoc(d):
				blocked = true
			}
		}
		if !blocked && from != nil {
			// Under an actor bound to another user: it waits for
			// that user (actors.go), and so do its dependents.
			actor, err := hex.DecodeString(c.held.change.ActorID())
			blocked = err != nil || h.foreign(from, g, string(actor))
		}
		if blocked {
			waiting[c] = -1 // never ready: a dependency nobody sent, or a foreign actor
		} else if waiting[c] == 0 {
			queue = append(queue, c)
		}
	}
	ready := make(map[automerge.ChangeHash]bool, len(cands))
	var fresh []*candidate
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		ready[c.held.hash] = true
		fresh = append(fresh, c)
		for _, dep := range dependents[c.held.hash] {
			if waiting[dep] > 0 {
				if waiting[dep]--; waiting[dep] == 0 {
					queue = append(queue, dep)
				}
			}
		}
	}
	var orphans []heldChange
	newOrphans := false
	for _, c := range cands {
		if ready[c.held.hash] {
			continue
		}
		if !c.old {
			c.held.raw = c.held.change.Save()
			newOrphans = true
			keep = true
		}
		orphans = append(orphans, c.held)
	}
	released := false
	changes := make([]*automerge.Change, 0, len(fresh))
	for _, c := range fresh {
		released = released || c.old
		changes = append(changes, c.held.change)
	}
	if len(changes) > 0 {
		if err := h.runChecks(peer, changes, in); err != nil {
			h.dropHeld(peer)
			return nil, err
		}
	}
	if newOrphans || released || stale {
		if err := h.setHeld(peer, orphans); err != nil {
			return nil, err
		}
	}
	if !newOrphans && !released {
		return msg, nil
	}
	m, err := wire.ParseSync(msg)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	m.Changes = make([][]byte, len(changes))
	for i, c := range fresh {
		if c.old {
			m.Changes[i] = c.held.raw
		} else {
			m.Changes[i] = c.held.change.Save()
		}
	}
	return m.Encode(), nil
}

// runChecks runs the repository's write check, then in.Check, then the
// document's ACL check when in.CheckACL, on changes. Caller holds h.mu.
func (h *Handle) runChecks(peer PeerID, changes []*automerge.Change, in Incoming) error {
	doc, err := h.current()
	if err != nil {
		return err
	}
	if c := h.repo.opts.writeCheck; c != nil {
		if err := c(peer, h.id, doc, changes); err != nil {
			return fmt.Errorf("%w: %w", ErrRejected, err)
		}
	}
	if in.Check != nil {
		if err := in.Check(doc, changes); err != nil {
			return fmt.Errorf("%w: %w", ErrRejected, err)
		}
	}
	if in.CheckACL {
		if err := h.acl.Check(doc, changes); err != nil {
			return fmt.Errorf("%w: %w", ErrRejected, err)
		}
	}
	return nil
}

// setHeld replaces the changes held for peer with hs if the limits
// allow; otherwise it returns ErrHoldLimit (wrapped in ErrRejected) and
// holds what it held. Caller holds h.mu.
func (h *Handle) setHeld(peer PeerID, hs []heldChange) error {
	wr := h.writers()
	old := usage(wr.held[peer])
	next := usage(hs)
	doc := holdUse{}
	for p, phs := range wr.held {
		if p != peer {
			u := usage(phs)
			doc.changes += u.changes
			doc.bytes += u.bytes
		}
	}
	lim := h.repo.opts.hold
	if doc.changes+next.changes > lim.DocChanges || doc.bytes+next.bytes > lim.DocBytes {
		return fmt.Errorf("%w: %w: document %s would hold %d changes", ErrRejected, ErrHoldLimit, h.id, doc.changes+next.changes)
	}
	h.repo.hold.release(peer, old)
	if !h.repo.hold.reserve(peer, next) {
		h.repo.hold.reserve(peer, old)
		return fmt.Errorf("%w: %w: peer %s would hold %d changes", ErrRejected, ErrHoldLimit, peer, next.changes)
	}
	if len(hs) == 0 {
		delete(wr.held, peer)
		delete(wr.answered, peer)
		return nil
	}
	if wr.held == nil {
		wr.held = map[PeerID][]heldChange{}
	}
	wr.held[peer] = hs
	h.repo.peers.add(peer, h)
	return nil
}

// askReserve bounds the bytes askMissing adds to a message for peer:
// a need per dependency of the changes held for it, and a longer count.
// Caller holds h.mu.
func (h *Handle) askReserve(peer PeerID) int {
	n := 0
	for _, c := range h.heldFor(peer) {
		n += 32 * len(c.deps)
	}
	if n > 0 {
		n += binary.MaxVarintLen64
	}
	return n
}

// askMissing adds to msg (a sync message for peer) the dependencies of
// the changes held for peer that neither the document nor the held
// changes have, so the peer sends them: automerge lists only what its
// own document waits for, and it never sees held changes. It also takes
// the held changes themselves out of the message's needs (the peer sent
// them), and it withholds a message that would tell the peer nothing
// new while changes are held for it: no changes, no needs and the heads
// it last sent. The peer answers every message while its heads differ
// from the relay's, so without that the two would exchange messages for
// as long as a change waits (a change under another user's actor waits
// for that user, actors.go). ok is false for a withheld message. Caller
// holds h.mu.
func (h *Handle) askMissing(peer PeerID, msg []byte) (out []byte, ok bool) {
	held := h.heldFor(peer)
	if len(held) == 0 {
		return msg, true
	}
	doc, err := h.current()
	if err != nil {
		return msg, true
	}
	heldSet := make(map[automerge.ChangeHash]bool, len(held))
	for _, c := range held {
		heldSet[c.hash] = true
	}
	var missing [][32]byte
	for _, c := range held {
		for _, d := range c.deps {
			if heldSet[d] || slices.Contains(missing, [32]byte(d)) {
				continue
			}
			if _, err := doc.Change(d); err != nil {
				missing = append(missing, d)
			}
		}
	}
	m, err := wire.ParseSync(msg)
	if err != nil {
		h.repo.opts.logger.Warn("repo: generated sync message does not parse", "doc", h.id.String(), "err", err)
		return msg, true
	}
	n := len(m.Need)
	m.Need = slices.DeleteFunc(m.Need, func(d [32]byte) bool { return heldSet[d] })
	for _, d := range missing {
		if !slices.Contains(m.Need, d) {
			m.Need = append(m.Need, d)
		}
	}
	wr := h.writers()
	if len(m.Changes) == 0 && len(m.Need) == 0 && slices.Equal(m.Heads, wr.answered[peer]) {
		return nil, false
	}
	if wr.answered == nil {
		wr.answered = map[PeerID][][32]byte{}
	}
	wr.answered[peer] = slices.Clone(m.Heads)
	if len(missing) == 0 && len(m.Need) == n {
		return msg, true
	}
	return m.Encode(), true
}
