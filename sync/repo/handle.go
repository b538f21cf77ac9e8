package repo

import (
	"bytes"
	"container/list"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/msync"
)

// Handle is one open document of a Repo. Its methods serialise access to
// the document; the *automerge.Doc passed to callbacks must not be
// retained after the callback returns. The Repo keeps at most its
// document budget (WithLoadedDocs) loaded: an idle handle past it drops
// its automerge document and in-memory sync states and reloads them from
// the store on next use, so a Handle stays valid however long it is held.
type Handle struct {
	repo *Repo
	id   docs.DocumentID

	mu      sync.Mutex
	doc     *automerge.Doc // nil while unloaded (see reload)
	nextSeq uint64         // sequence number of the next increment key
	// incCount and incBytes count the increments stored since the last
	// snapshot and their bytes (at most WithCompaction's byte bound,
	// capped at maxIncBytesCap, plus one increment), sealed ones
	// excepted: an increment of at least the byte bound (a bundle,
	// compact.go, or one big edit) is not counted, so that it is not
	// bundled again (sealed). snapBytes is the
	// size of the stored snapshot: compaction rewrites it, so it waits
	// until the increments are worth a share of it. 32 bits each, beside
	// broken: a Handle fits the 256-byte allocation class.
	incCount, incBytes, snapBytes int32
	// graphSaved is the number of changes at the front of the change
	// graph's history (changes) that are queued for the store: the next
	// increment is the graph's changes after them (see increment). A
	// graph is built (graph) only while the document holds no change
	// that is not queued for the store, so it starts at the graph's
	// length.
	graphSaved int32
	// broken is set by the committer when a write of the document failed
	// after it changed in memory: the next persist writes a full snapshot
	// so nothing is lost, and increments queued meanwhile fail.
	broken atomic.Bool
	// behind is the number of changes at the end of the change graph's
	// history that the automerge document lacks: neutral batches from
	// owners and collaborators go to the graph and the store alone
	// (lazy.go).
	// The document lags the graph only by changes neutral under the
	// kept ACL record; current applies them before anything reads it.
	// stuckBehind (negative) says applying them failed: the graph holds
	// a change the document cannot, so the lazy path stops and every
	// reader of the document gets the error until it is unloaded.
	behind  int32
	pending *write // the last write queued; unloading waits for the content's (write.content)
	syncs   map[PeerID]peerSync
	dirty   map[PeerID][]byte // sync states written behind (stateflush.go)
	// changes indexes the document's change graph for the Go sync
	// states (peersync.go); brought up to date on use, dropped on
	// unload.
	changes *msync.Graph
	lru     *list.Element // in Repo.lru while loaded; guarded by Repo.lruMu
	// view is the playlist's ordered entries, kept across calls so that
	// reads and placements on big playlists do not re-read every entry
	// (docs.EntryView rebuilds it when the heads moved). Nil until the
	// document is first opened as a playlist, and dropped when the
	// document is unloaded.
	view *docs.EntryView
	// wr is what the handle knows of the document's writers: changes
	// held back and the actor bindings (see writers); nil until one is
	// needed.
	wr *writers
	// acl keeps the document's ACL record (docs.ACLRecord) between
	// messages: the collaborators' access check (Incoming.CheckACL)
	// reads its objects, and a batch of changes neutral under it keeps
	// the ACL revision and the facts (neutral.go). Dropped on unload.
	acl docs.ACLCheck
	// heads are the loaded document's heads, rev its content revision
	// and aclRev the revision of its ACL fields (rev.go), set by
	// setContent and setContentACLKept.
	heads  []automerge.ChangeHash
	rev    uint64
	aclRev uint64
	// quiet marks the peers whose sync state generated nothing at the
	// current revision (rev.go); emptied with the sync states.
	quiet map[PeerID]quietMark
	// facts is the facts record (WithFacts) as last queued for the
	// store, or as read with the document: a persist writes the record
	// only when it differs.
	facts []byte
	// factsACLRev is the ACL revision at which facts was computed
	// (WithFactsUpdate applies while it is the current one).
	factsACLRev uint64
	// statesDropped is the write deleting persisted sync states of the
	// document that name changes SetAside removed: until it commits, a
	// sync state is started afresh instead of read from the store.
	statesDropped *write
}

// playlist opens the document as a playlist with the handle's entry
// view. Caller holds h.mu.
func (h *Handle) playlist(d *automerge.Doc) (*docs.Playlist, error) {
	if h.view == nil {
		h.view = docs.NewEntryView()
	}
	return docs.OpenPlaylistWith(d, h.view, h.repo.opts.docs)
}

// ID returns the document id.
func (h *Handle) ID() docs.DocumentID { return h.id }

// Heads returns the document's current heads (a new slice).
// It returns nil when an unloaded document fails to reload.
func (h *Handle) Heads() []automerge.ChangeHash {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.loaded(context.Background()); err != nil {
		return nil
	}
	return slices.Clone(h.heads)
}

// Empty reports whether the document has no changes yet (a placeholder
// created by Ensure that has not synced).
func (h *Handle) Empty() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.loaded(context.Background()); err != nil {
		return true
	}
	return len(h.heads) == 0
}

// Read runs fn with the document under the handle's lock. fn must not
// modify the document.
func (h *Handle) Read(fn func(d *automerge.Doc) error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.loaded(context.Background()); err != nil {
		return err
	}
	d, err := h.current()
	if err != nil {
		return err
	}
	return fn(d)
}

// ReadPlaylist runs fn with a read view of the playlist.
func (h *Handle) ReadPlaylist(fn func(p *docs.Playlist) error) error {
	return h.Read(func(d *automerge.Doc) error {
		p, err := h.playlist(d)
		if err != nil {
			return err
		}
		return fn(p)
	})
}

// ReadLibrary runs fn with a read view of the library.
func (h *Handle) ReadLibrary(fn func(l *docs.Library) error) error {
	return h.Read(func(d *automerge.Doc) error {
		l, err := docs.OpenLibrary(d, h.repo.opts.docs)
		if err != nil {
			return err
		}
		return fn(l)
	})
}

// Change runs fn on the document under the handle's lock; fn makes its
// edits and commits them (the docs views commit for it). Whatever fn
// committed — even when it then returns an error — is persisted as one
// store increment before Change returns, so a nil result means the edits
// are durable (as durable as the store). Subscribers are notified after.
// A change over the repo's change limit (WithSyncLimits) could never be
// synced: then every change fn committed is undone and the error wraps
// ErrChangeTooLarge (the docs views split their bulk edits to stay far
// below it).
func (h *Handle) Change(ctx context.Context, fn func(d *automerge.Doc) error) error {
	h.mu.Lock()
	if err := h.loaded(ctx); err != nil {
		h.mu.Unlock()
		return err
	}
	d, err := h.current()
	if err != nil {
		h.mu.Unlock()
		return err
	}
	before := h.heads
	if h.repo.opts.goSync {
		// The increment (and the test of the batch's neutrality) reads
		// the new changes from the graph: build it before fn changes
		// the document (see Handle.graphSaved).
		if _, err := h.graph(); err != nil {
			h.repo.opts.logger.Warn("repo: index before local change", "doc", h.id.String(), "err", err)
		}
	}
	base := h.beforeChanges()
	fnErr := fn(d)
	after := d.Heads()
	if slices.Equal(before, after) {
		h.mu.Unlock()
		return fnErr
	}
	switch err := h.localTooLarge(d, before); {
	case errors.Is(err, ErrChangeTooLarge):
		uerr := h.discardLocal(d, before)
		if uerr == nil {
			h.mu.Unlock()
			return errors.Join(fnErr, err)
		}
		// Not undone: stored as any change, and reported.
		fnErr = errors.Join(fnErr, err, uerr)
	case err != nil:
		h.repo.opts.logger.Warn("repo: size of local changes", "doc", h.id.String(), "err", err)
	}
	h.heads = slices.Clone(after)
	if h.changes != nil {
		// The graph reads the new changes now rather than at the next
		// sync message, and the increment (and the test of the batch's
		// neutrality) reads them from it.
		if _, err := h.graph(); err != nil {
			h.repo.opts.logger.Warn("repo: index local change", "doc", h.id.String(), "err", err)
		}
	}
	neutral := h.changed(base, after, false, false)
	w := h.persist(nil, 0, &Event{Doc: h.id, Heads: after}, false, neutral, nil)
	h.mu.Unlock()
	if err := w.wait(ctx); err != nil {
		return errors.Join(fnErr, err)
	}
	return fnErr
}

// localTooLarge returns an error wrapping ErrChangeTooLarge when a
// change d holds since before (the changes of one Change call) is over
// the change limit. Caller holds h.mu.
func (h *Handle) localTooLarge(d *automerge.Doc, before []automerge.ChangeHash) error {
	cs, err := d.Changes(before...)
	if err != nil {
		return fmt.Errorf("repo: read new changes of %s: %w", h.id, err)
	}
	defer automerge.CloseChanges(cs)
	for _, c := range cs {
		if n := len(c.Save()); n > h.repo.opts.maxChange {
			return fmt.Errorf("%w: %s: a change of %d bytes, limit %d", ErrChangeTooLarge, h.id, n, h.repo.opts.maxChange)
		}
	}
	return nil
}

// discardLocal undoes the changes d, the loaded document, holds since
// before, which no sync state has seen and nothing has stored (Change
// holds h.mu throughout): the document becomes a copy of d at before,
// under d's actor, and the in-memory sync states, bound to d, start
// again from their persisted form; the change graph, at before, stays.
// On error nothing changed. Caller holds h.mu.
func (h *Handle) discardLocal(d *automerge.Doc, before []automerge.ChangeHash) error {
	doc := automerge.New()
	if len(before) > 0 {
		var err error
		if doc, err = d.Fork(before...); err != nil {
			return fmt.Errorf("repo: undo in %s: %w", h.id, err)
		}
	}
	if err := doc.SetActorID(d.ActorID()); err != nil {
		doc.Close()
		return fmt.Errorf("repo: undo in %s: %w", h.id, err)
	}
	if !h.repo.opts.goSync {
		// Every change of the copy is queued for the store already: the
		// next increment (automerge's) starts after them.
		doc.SaveIncremental()
	}
	h.closeSyncs()
	h.doc.Close()
	h.doc, h.view = doc, nil
	if h.changes != nil {
		// The copy holds none of the changes d queued.
		h.changes.Release()
	}
	return nil
}

// Playlist runs fn with a playlist view (ErrWrongType if the document is
// not a playlist) inside Change.
func (h *Handle) Playlist(ctx context.Context, fn func(p *docs.Playlist) error) error {
	return h.Change(ctx, func(d *automerge.Doc) error {
		p, err := h.playlist(d)
		if err != nil {
			return err
		}
		return fn(p)
	})
}

// Library runs fn with a library view inside Change.
func (h *Handle) Library(ctx context.Context, fn func(l *docs.Library) error) error {
	return h.Change(ctx, func(d *automerge.Doc) error {
		l, err := docs.OpenLibrary(d, h.repo.opts.docs)
		if err != nil {
			return err
		}
		return fn(l)
	})
}

// persist queues the changes since the last persist as one increment,
// plus the extra writes (extraSize bytes), for the group commit and
// returns the queued write, or nil when there is nothing to write. The
// caller waits for it after releasing h.mu: the document's lock is not
// held across the fsync, so the next message of the document is applied
// while this one commits. ev, when set, is published once it is durable.
// It queues a full snapshot instead when a previous write failed or the
// increment cannot be read from the change graph (see increment), and a
// compaction after the increment when the increments pass the configured
// bounds: in the background past a small snapshot (compactLater). A
// creation's write (see write.creation) is committed alone and
// is not followed by a compaction, which would store the document even
// if the creation is refused. factsKept says the changes provably left
// the facts' fields alone (a neutral batch, neutral.go): the facts are
// then not read again, when known. Caller holds h.mu with the document
// loaded.
func (h *Handle) persist(extra func(tx store.Txn) error, extraSize int, ev *Event, creation, factsKept bool, res *reservation) *write {
	if h.broken.Load() {
		return h.queueCompaction(extra, extraSize, ev, creation, res)
	}
	inc, ok := h.increment()
	if !ok {
		return h.queueCompaction(extra, extraSize, ev, creation, res)
	}
	if len(inc) == 0 && extra == nil {
		res.settle(nil)
		return nil
	}
	h.repo.gc.add(len(inc))
	id, seq := h.id, h.nextSeq
	var facts []byte
	if len(inc) > 0 && (creation || !factsKept || h.facts == nil) {
		facts = h.newFacts(creation)
	}
	if ev != nil && facts != nil {
		ev.Facts = true
	}
	w := &write{h: h, size: len(inc) + len(facts) + extraSize, event: ev, creation: creation, stateOnly: len(inc) == 0 && !creation, res: res, fn: func(tx store.Txn) error {
		if len(inc) > 0 {
			k := incKey(id, seq)
			if err := tx.Set(k, frameRecord(k, inc)); err != nil {
				return err
			}
		}
		if facts != nil {
			if err := tx.Set(factsKey(id), facts); err != nil {
				return err
			}
		}
		if extra != nil {
			return extra(tx)
		}
		return nil
	}}
	if len(inc) > 0 {
		h.nextSeq++
		if !h.repo.sealed(len(inc)) {
			h.incCount++
			h.incBytes += int32(len(inc))
		}
	}
	h.queue(w)
	if !creation && (int(h.incBytes) > h.repo.opts.maxIncBytes ||
		h.behind == 0 && int(h.incCount) > h.repo.opts.maxIncrements && int(h.incBytes) >= (int(h.snapBytes)-compactFloor)*compactShare) {
		// A document behind its graph (lazy.go) is compacted at the byte
		// bound only: compacting applies every change it lacks to a copy
		// of it (compactionDoc) or loads the document from the store
		// (compactLater), which every few dozen edits would cost a
		// catch-up each time.
		// Queued behind the increment: a failure loses nothing, the
		// increments stay and the next bound crossing retries.
		if !h.compactLater(w) {
			h.queueCompaction(nil, 0, nil, false, nil)
		}
	}
	return w
}

// queueCompaction queues a write replacing the snapshot and every
// increment of the document with one fresh snapshot, atomically, and
// returns it; a background compaction running (compactLater) goes
// stale. Caller holds h.mu with the document loaded.
func (h *Handle) queueCompaction(extra func(tx store.Txn) error, extraSize int, ev *Event, creation bool, res *reservation) *write {
	h.staleCompaction()
	d, done, err := h.compactionDoc()
	var snap []byte
	asChanges := false
	if err == nil {
		snap, asChanges, err = snapshot(d)
		done()
	}
	if err != nil {
		// A failed compaction loses nothing: the increments stay. It
		// fails here, not in the group commit, where it would fail the
		// other documents' writes of its batch.
		h.repo.opts.logger.Error("repo: compact document", "doc", h.id.String(), "err", err)
		w := &write{h: h, compact: true, creation: creation, res: res, done: make(chan struct{})}
		h.repo.finish(w, err)
		return w
	}
	if asChanges {
		h.repo.opts.logger.Error("repo: saved document does not load back; stored as its changes", "doc", h.id.String())
	}
	h.repo.gc.add(len(snap))
	if h.graphMirrors() {
		h.graphSaved = int32(h.changes.Len())
	}
	id := h.id
	// A compaction repairs failed writes, which may have carried the
	// facts: it always writes them.
	h.facts = nil
	facts := h.newFacts(creation)
	if ev != nil {
		ev.Facts = true
	}
	w := &write{h: h, size: len(snap) + len(facts) + extraSize, compact: true, creation: creation, event: ev, res: res, fn: func(tx store.Txn) error {
		if err := deleteWhere(tx, incPrefix(id), nil); err != nil {
			return err
		}
		if err := tx.Set(snapKey(id), frameRecord(snapKey(id), snap)); err != nil {
			return err
		}
		if facts != nil {
			if err := tx.Set(factsKey(id), facts); err != nil {
				return err
			}
		}
		if extra != nil {
			return extra(tx)
		}
		return nil
	}}
	h.incCount, h.incBytes, h.snapBytes = 0, 0, int32(len(snap))
	h.repo.snapshots.Add(1)
	h.queue(w)
	return w
}

// maxCompactBehind is how many changes a document may be behind its
// change graph (lazy.go) for a compaction to save a copy of it caught up
// (compactionDoc) rather than catch the document itself up.
const maxCompactBehind = 8192

// compactionDoc returns the document a compaction saves, and done, to
// call once it is saved. When the handle's document is behind its graph
// by at most maxCompactBehind changes, that is a copy of it with the
// changes applied, which done frees: the handle's document stays behind
// as it was, because automerge holds a document's whole history in C
// memory (≈ 2.5–3 KB per change) and a relay that only relays a
// document need not hold it; the copy costs what the catch-up would,
// plus a copy of the document as it was, each time. Past that bound, or
// when the copy does not reach the graph's heads, the document itself
// is caught up (current). Caller holds h.mu with the document loaded.
func (h *Handle) compactionDoc() (d *automerge.Doc, done func(), err error) {
	if h.behind > 0 && h.behind <= maxCompactBehind {
		g := h.changes
		if f, err := h.doc.Fork(); err == nil {
			inc, err := g.AppendRaw(nil, g.Len()-int(h.behind))
			if err == nil && f.LoadIncremental(inc) == nil && slices.Equal(f.Heads(), g.Heads()) {
				return f, f.Close, nil
			}
			f.Close()
		}
	}
	d, err = h.current()
	return d, func() {}, err
}

// increment returns the changes the document gained since the last
// persist, encoded as automerge's SaveIncremental encodes them
// (concatenated change chunks, msync.SplitChunks). With the Go sync
// states (the relay) it copies their chunks from the change graph, at a
// cost that follows them and without crossing cgo: SaveIncremental
// walks the document's whole history on every call (≈ 1 ms at 5,000
// changes; docs/BENCHMARKS.md "relay CPU per edit as histories grow"),
// and it is never called there, so automerge's record of what was saved
// matters for nothing. ok is false when the graph does not mirror the
// document (an indexing error), or when a chunk of the graph cannot be
// read back from its spill (msync.ErrSpillRead; the handle is then
// marked broken, as after a failed write, so every persist stores a
// snapshot until one succeeds): the caller stores a snapshot instead.
// Devices (WithGoSync(false)) keep no graph and call SaveIncremental.
// Caller holds h.mu with the document loaded and h.heads current.
func (h *Handle) increment() (inc []byte, ok bool) {
	if !h.repo.opts.goSync {
		return h.doc.SaveIncremental(), true
	}
	if !h.graphMirrors() {
		return nil, false
	}
	inc, err := h.changes.AppendRaw(nil, int(h.graphSaved))
	if err != nil {
		h.repo.opts.logger.Error("repo: read changes to store", "doc", h.id.String(), "err", err)
		h.broken.Store(true)
		return nil, false
	}
	h.graphSaved = int32(h.changes.Len())
	return inc, true
}

// graphMirrors reports whether the change graph holds exactly the
// document's changes (its heads are the document's: the graph adds a
// change only after its dependencies) and its length fits graphSaved.
// Caller holds h.mu with h.heads current.
func (h *Handle) graphMirrors() bool {
	g := h.changes
	return g != nil && g.Len() <= math.MaxInt32 && slices.Equal(g.Heads(), h.heads)
}

// newFacts returns the document's facts record (WithFacts) when it
// differs from the one last queued, nil otherwise or without WithFacts.
// A creation's record is not remembered: a refused creation writes
// nothing and the document becomes an empty placeholder again, so the
// next persist writes the record anew. Caller holds h.mu with the
// document loaded.
func (h *Handle) newFacts(creation bool) []byte {
	fn := h.repo.opts.facts
	if fn == nil {
		return nil
	}
	var f []byte
	d := h.recordDoc()
	if up := h.repo.opts.factsUpdate; up != nil && h.facts != nil && h.factsACLRev == h.aclRev {
		f = up(h.facts, d)
	} else {
		f = fn(d)
	}
	if creation {
		if bytes.Equal(f, h.facts) {
			return nil
		}
		return f
	}
	h.factsACLRev = h.aclRev
	if bytes.Equal(f, h.facts) {
		return nil
	}
	h.facts = f
	return f
}

// queue hands w to the repo's committer. Caller holds h.mu.
func (h *Handle) queue(w *write) {
	if w.stateOnly {
		if c := h.pending.content(); c != nil && !c.finished() {
			w.prior = c
		}
	}
	h.pending = w
	h.repo.enqueue(w)
}

// Compact forces a compaction of the document now and waits until it is
// durable.
func (h *Handle) Compact(ctx context.Context) error {
	h.mu.Lock()
	if err := h.loaded(ctx); err != nil {
		h.mu.Unlock()
		return err
	}
	w := h.queueCompaction(nil, 0, nil, false, nil)
	h.mu.Unlock()
	return w.wait(ctx)
}
