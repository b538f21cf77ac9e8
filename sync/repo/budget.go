package repo

import (
	"context"
	"errors"
	"time"
)

// loaded makes sure the document is in memory, reloading it from the
// store when the document budget unloaded it, and marks it most recently
// used; past the budget it unloads the least recently used idle
// documents. Caller holds h.mu.
func (h *Handle) loaded(ctx context.Context) error {
	if h.doc == nil {
		if err := h.repo.waitForRoom(ctx); err != nil {
			return err
		}
		err := h.reload(ctx)
		if err == nil {
			h.repo.touch(h)
		}
		h.repo.loadDone()
		return err
	}
	h.repo.touch(h)
	return nil
}

// waitForRoom blocks a load until fewer than pinnedShare ×
// WithLoadedDocs documents are loaded or being loaded, unloading idle
// ones (exchanges do not pin past that bound: see touch) as writes
// commit; ctx ends the wait. It is the bound that holds when documents
// cannot unload because their writes are queued for the group commit:
// without it a burst of first syncs (thousands of followers each asking
// for documents the relay has on disk) loaded a document per waiting
// write, above the bound, as fast as the sessions asked. On success the
// load counts as in progress until loadDone.
func (r *Repo) waitForRoom(ctx context.Context) error {
	limit := pinnedShare * r.opts.maxLoaded
	waited := false
	for {
		signal := r.roomSignal()
		r.lruMu.Lock()
		if r.lru.Len()+r.loading < limit {
			r.loading++
			r.lruMu.Unlock()
			return nil
		}
		var victims []*Handle
		for el := r.lru.Back(); el != nil && len(victims) < unloadScan; el = el.Prev() {
			victims = append(victims, el.Value.(*Handle))
		}
		r.lruMu.Unlock()
		var busy []*Handle
		freed := false
		for _, v := range victims {
			if v.tryUnload(true) {
				freed = true
			} else {
				busy = append(busy, v)
			}
		}
		r.requeue(busy)
		if freed {
			continue
		}
		if !waited {
			waited = true
			r.roomWaits.Add(1)
		}
		t := time.NewTimer(roomPoll)
		select {
		case <-signal:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		t.Stop()
	}
}

// roomPoll is how often a load waiting for room looks again without a
// commit to wake it: documents may also become unloadable when a
// session releases one without writing.
const roomPoll = 100 * time.Millisecond

// loadDone ends a load counted by waitForRoom (the document is in the
// loaded list now, or the load failed).
func (r *Repo) loadDone() {
	r.lruMu.Lock()
	r.loading--
	r.lruMu.Unlock()
}

// roomSignal returns the channel the next roomChanged closes.
func (r *Repo) roomSignal() <-chan struct{} {
	r.roomMu.Lock()
	defer r.roomMu.Unlock()
	return r.room
}

// roomChanged wakes the loads waiting for room: a batch of writes
// committed, so documents whose writes were pending may unload.
func (r *Repo) roomChanged() {
	r.roomMu.Lock()
	close(r.room)
	r.room = make(chan struct{})
	r.roomMu.Unlock()
}

// CMemUnloads returns how many of the unloads Loaded counts were made
// for the C budget (WithCMemBudget).
func (r *Repo) CMemUnloads() uint64 { return r.cmemUnloads.Load() }

// LoadWaits returns how many loads had to wait for room under the bound
// on loaded documents (pinnedShare × WithLoadedDocs).
func (r *Repo) LoadWaits() uint64 { return r.roomWaits.Load() }

// reload reads the document back from the store (snapshot, increments)
// with a fresh actor id; a document with nothing stored (an unloaded
// empty placeholder) comes back empty. Caller holds h.mu.
func (h *Handle) reload(ctx context.Context) error {
	l, err := h.repo.read(ctx, h.id)
	if errors.Is(err, ErrNotFound) {
		l, err = h.repo.empty()
	}
	if err != nil {
		return err
	}
	h.doc, h.nextSeq, h.incCount, h.incBytes, h.snapBytes, h.facts = l.doc, l.nextSeq, l.incCount, l.incBytes, l.snapBytes, l.facts
	h.setActors(l.actors)
	h.setContent(l.doc.Heads())
	h.setGraph(l.changes)
	h.closeSyncs()
	h.syncs = nil
	return nil
}

// closeSyncs frees the in-memory sync states (bound to the current
// document) and empties the map. Caller holds h.mu.
func (h *Handle) closeSyncs() {
	for peer, ss := range h.syncs {
		ss.close()
		delete(h.syncs, peer)
	}
	clear(h.quiet)
}

// touch marks h most recently used (adding it to the loaded list) and
// unloads the least recently used documents past the budget. A document
// that is busy (its lock held by someone else, or not unloadable: a
// write pending, a failed write's changes only in memory, a sync
// exchange under way) stays loaded and moves to the front of the list,
// as if used: a touch examines at most unloadScan documents, so
// documents pinned by exchanges neither cost every touch a walk over
// them nor hide the idle ones behind them. Caller holds h.mu; the others
// are only try-locked, so there is no lock order to respect.
func (r *Repo) touch(h *Handle) {
	r.lruMu.Lock()
	if h.lru == nil {
		h.lru = r.lru.PushFront(h)
	} else {
		r.lru.MoveToFront(h.lru)
	}
	var victims []*Handle
	for el := r.lru.Back(); el != nil && len(victims) < unloadScan && r.lru.Len()-len(victims) > r.opts.maxLoaded; el = el.Prev() {
		if v := el.Value.(*Handle); v != h {
			victims = append(victims, v)
		}
	}
	// Past pinnedShare × the budget, exchanges no longer pin: the
	// sessions resume from the persisted shared heads (extra round
	// trips, TestUnloadDuringLiveSessions), memory stays bounded
	// however many remotes are slow to answer.
	force := r.lru.Len() > pinnedShare*r.opts.maxLoaded
	r.lruMu.Unlock()
	var busy []*Handle
	for _, v := range victims {
		if !v.tryUnload(force) {
			busy = append(busy, v)
		}
	}
	r.requeue(busy)
	if r.opts.cmemBudget > 0 && r.touches.Add(1)%cmemSample == 0 {
		r.unloadOverCMem(h)
	}
}

// unloadScan bounds the documents one touch examines for unloading, and
// one search of unloadOverCMem for a victim.
const unloadScan = 16

// pinnedShare × WithLoadedDocs is how many documents may stay loaded
// because sync exchanges pin them (see unloadable), and past which loads
// wait for room (waitForRoom). It bounds a follow burst's automerge
// memory: at 4 a relay following 100,000 documents for 10,000 peers held
// ≈ 3,500 documents loaded through the burst and peaked over 1 GiB RSS
// at the default budget (docs/BENCHMARKS.md, burst10).
const pinnedShare = 2

// requeue moves documents that could not unload to the front of the
// loaded list (those unloaded meanwhile are no longer in it).
func (r *Repo) requeue(busy []*Handle) {
	if len(busy) == 0 {
		return
	}
	r.lruMu.Lock()
	for _, v := range busy {
		if v.lru != nil {
			r.lru.MoveToFront(v.lru)
		}
	}
	r.lruMu.Unlock()
}

// cmemSample: WithCMemBudget reads the C heap every cmemSample touches.
const cmemSample = 32

// cmemMaxUnloads bounds the documents one touch unloads for the C
// budget, so that no single operation pays for a large eviction.
const cmemMaxUnloads = 64

// cmemPinned: past the C budget plus budget/cmemPinned, sync exchanges
// no longer pin documents for the C budget (as pinnedShare for the
// count): the least recently used document without a pending write
// unloads even mid-exchange (its sessions resume from the persisted
// shared heads, at the cost of extra round trips). Without it a relay
// whose every document is under active sync (synccap scenario (a))
// never found an idle victim and its C heap grew with the documents'
// history, however small the budget.
const cmemPinned = 2

// unloadOverCMem unloads least recently used idle documents other than
// h while the C heap in use exceeds the budget (at most cmemMaxUnloads),
// examining at most unloadScan documents per victim; the busy ones it
// passes move to the front (see touch). Past the budget plus
// budget/cmemPinned, documents in a sync exchange count as idle
// (cmemPinned). Locks as touch.
func (r *Repo) unloadOverCMem(h *Handle) {
	budget := r.opts.cmemBudget
	for range cmemMaxUnloads {
		inUse := r.cstats().InUse
		if inUse <= budget {
			return
		}
		force := inUse > budget+budget/cmemPinned
		var victim *Handle
		var busy []*Handle
		r.lruMu.Lock()
		n := 0
		for el := r.lru.Back(); el != nil && n < unloadScan; el = el.Prev() {
			n++
			v := el.Value.(*Handle)
			if v == h {
				continue
			}
			if v.idle(force) {
				victim = v
				break
			}
			busy = append(busy, v)
		}
		r.lruMu.Unlock()
		r.requeue(busy)
		if victim == nil {
			if len(busy) == 0 {
				return
			}
			continue
		}
		if !victim.tryUnload(force) {
			return
		}
		r.cmemUnloads.Add(1)
	}
}

// idle reports, without blocking, whether h could be unloaded now
// (unloadable(force)).
func (h *Handle) idle(force bool) bool {
	if !h.mu.TryLock() {
		return false
	}
	defer h.mu.Unlock()
	return h.unloadable(force)
}

// tryUnload unloads h if its lock is free and unloadable(force) holds;
// it reports whether it did.
func (h *Handle) tryUnload(force bool) bool {
	if !h.mu.TryLock() {
		return false
	}
	defer h.mu.Unlock()
	if !h.unloadable(force) {
		return false
	}
	h.unload()
	return true
}

// unloadable reports whether h may drop its document now: no write of
// its content is pending, no failed write left changes only in memory,
// and no sync session is in the middle of an exchange. Writes of sync
// states alone do not keep it loaded (the states kept behind are queued
// here first): in a follow burst every first sync writes one, and
// waiting for the group commit to unload paced the burst by the commit.
// A session of the reloaded document may read a stored state older than
// the one still queued, which costs it round trips, as a state lost in
// a crash does (stateFlusher), never data. A session is between
// exchanges when its sync state last generated nothing at the current
// revision (quietFor): a message received since, a message generated
// and not yet answered by nothing, or a change of the document since
// (its followers have not been told) pins the document. Unloading then
// would replace the session's state by the persisted shared heads
// mid-exchange, so the remote's answer would meet a fresh state that
// knows neither what was sent nor what the remote has. With force, the
// exchanges do not count (writes still do). Caller holds h.mu.
func (h *Handle) unloadable(force bool) bool {
	if h.broken.Load() {
		return false
	}
	if c := h.pending.content(); c != nil && !c.finished() {
		return false
	}
	h.flushStates()
	if force {
		return true
	}
	for peer, ss := range h.syncs {
		if !h.quietFor(peer, ss) {
			return false
		}
	}
	return true
}

// unload drops the document, its heads and facts record and its
// in-memory sync states (the persisted ones stay; a session resumes from
// them as after a reconnect) and frees their automerge memory at once; a
// compaction running in the background goes stale (the reload counts the
// increments anew). Caller holds h.mu and has checked that no write of
// the content is pending (unloadable).
func (h *Handle) unload() {
	h.repo.lruMu.Lock()
	if h.lru != nil {
		h.repo.lru.Remove(h.lru)
		h.lru = nil
	}
	h.repo.lruMu.Unlock()
	h.staleCompaction()
	h.closeSyncs()
	h.doc.Close()
	if h.pending != nil && h.pending.finished() {
		// Else a write of sync states: later writes, and the waits of
		// SyncState, PeerDisconnected and Delete, follow it.
		h.pending = nil
	}
	h.dropGraph()
	h.doc, h.syncs, h.view, h.quiet = nil, nil, nil, nil
	// The store holds every change of the graph (unloading waits for
	// their writes): the reloaded document has them all.
	h.behind = 0
	// reload reads heads and facts back with the document: an unloaded
	// document (the relay's idle followed ones) keeps neither.
	h.heads, h.facts = nil, nil
	h.setActors(nil)
	h.acl.Reset()
	h.repo.unloads.Add(1)
}

// Loaded returns the number of documents in memory (bounded by
// WithLoadedDocs, beyond which only busy documents stay) and how many
// times a document was unloaded to keep within the budget.
func (r *Repo) Loaded() (docs int, unloads uint64) {
	r.lruMu.Lock()
	defer r.lruMu.Unlock()
	return r.lru.Len(), r.unloads.Load()
}

// LoadedBudget returns the document count budget (WithLoadedDocs): past
// it idle documents unload, and loads wait for room past pinnedShare
// times it.
func (r *Repo) LoadedBudget() int { return r.opts.maxLoaded }
