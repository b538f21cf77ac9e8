package repo

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/cmem"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/msync"
)

// Errors returned by the repo.
var (
	// ErrNotFound is returned by Get for a document the repo has neither
	// in memory nor in the store.
	ErrNotFound = errors.New("repo: document not found")
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("repo: closed")
	// ErrCorrupt is returned when stored document bytes do not load.
	ErrCorrupt = errors.New("repo: corrupt stored document")
	// ErrBadMessage is returned for a sync message that does not decode
	// or apply.
	ErrBadMessage = errors.New("repo: bad sync message")
	// ErrRejected is returned when the write check refuses a message.
	ErrRejected = errors.New("repo: sync message rejected")
	// ErrBadPeer is returned for an empty peer id or one containing '/'.
	ErrBadPeer = errors.New("repo: bad peer id")
	// ErrNoFacts is returned by Facts for a repo opened without
	// WithFacts.
	ErrNoFacts = errors.New("repo: no facts function (WithFacts)")
	// ErrACLMoved is returned by GenerateSyncMessageAt, and by
	// ReceiveSyncMessageWith with Incoming.ACLRev, when the document's
	// ACL revision is no longer the one given.
	ErrACLMoved = errors.New("repo: document's ACL revision moved")
	// ErrChangeTooLarge is returned for a change over the repo's change
	// limit (WithSyncLimits): received, wrapped in ErrRejected; made
	// locally, by Handle.Change, which undoes it.
	ErrChangeTooLarge = errors.New("repo: change too large to sync")
)

// PeerID names the other side of a sync session: for persistent peers it
// is their automerge-repo storage id, so the sync state survives
// reconnects and restarts. It must be non-empty and contain no '/'.
type PeerID string

func (p PeerID) check() error {
	if p == "" || bytes.IndexByte([]byte(p), '/') >= 0 {
		return fmt.Errorf("%w: %q", ErrBadPeer, p)
	}
	return nil
}

// Key schema (docs/ARCHITECTURE.md §5).
func docPrefix(id docs.DocumentID) []byte { return store.Prefix("doc", id.String()) }
func snapKey(id docs.DocumentID) []byte   { return store.Key("doc", id.String(), "snap") }
func incPrefix(id docs.DocumentID) []byte { return store.Prefix("doc", id.String(), "inc") }
func factsKey(id docs.DocumentID) []byte  { return store.Key("doc", id.String(), "facts") }
func incKey(id docs.DocumentID, seq uint64) []byte {
	return store.Key("doc", id.String(), "inc", store.U64(seq))
}
func syncKey(peer PeerID, id docs.DocumentID) []byte {
	return store.Key("sync", string(peer), id.String())
}

// Repo is the device's (or relay's) local document repository: it loads
// documents from a store.Store, persists every change incrementally
// (snapshot + increments, compacted), keeps per-peer sync states and
// notifies subscribers after local and remote changes. It is safe for
// concurrent use; each document is serialised by its Handle's lock.
// The Repo does not own the store: Close leaves it open.
type Repo struct {
	st   store.Store
	opts Options
	rand io.Reader

	mu      sync.Mutex
	handles map[docs.DocumentID]*Handle
	closed  bool

	subs *hub

	// The group commit (commit.go).
	qmu           sync.RWMutex
	qclosed       bool
	queue         chan *write
	committerDone chan struct{}
	batches       atomic.Uint64
	commitWrites  atomic.Uint64 // CommitStats
	commitWait    atomic.Int64  // nanoseconds, CommitStats
	commitBusy    atomic.Int64  // nanoseconds, CommitStats

	quietSkips atomic.Uint64 // sync message generations skipped (QuietSkips)
	// neutralBatches counts the batches of changes judged neutral
	// (neutral.go): ACL revision, record and facts kept (tests).
	neutralBatches atomic.Uint64

	// The document budget (budget.go): loaded handles, most recent first.
	lruMu   sync.Mutex
	lru     *list.List
	loading int // loads past the room check, not yet in lru; guarded by lruMu
	unloads atomic.Uint64
	// roomMu guards room, closed and replaced whenever loaded documents
	// may have become unloadable (a batch committed): loads waiting for
	// room (waitForRoom) watch it.
	roomMu    sync.Mutex
	room      chan struct{}
	roomWaits atomic.Uint64
	touches   atomic.Uint64 // for WithCMemBudget's sampling
	// cmemUnloads counts the unloads of WithCMemBudget (CMemUnloads).
	cmemUnloads atomic.Uint64
	// snapshots and bundles count the compactions queued (Compactions).
	snapshots, bundles atomic.Uint64
	cstats             func() cmem.Heap

	gc *collector // runs the Go collector for automerge's C memory (collect.go)

	hold holdBook // changes held back for their dependencies (holdback.go)
	// wait holds the budgets of changes automerge queues for their
	// dependencies (waiting.go).
	wait *waitBook

	flusher *stateFlusher // sync states written behind (stateflush.go)

	peers peerIndex // the handles each peer has state on (peerindex.go)

	// The compactions run in the background (compact.go): bgMu guards
	// bgClosed and bgJobs (the running one of each handle; bgCompaction.stale
	// is guarded by its handle's lock), bgWG counts them and Close
	// cancels bgCtx and waits. One builds at a time (bgSlots has room for
	// one): a snapshot's build holds a whole automerge document in C
	// memory, a few KiB per change of its history (20 MiB at its peak for
	// 5,000 changes: BenchmarkCompactionCPeak; a bundle job holds none,
	// buildBundles), and documents edited at one pace cross their bounds
	// together.
	bgMu     sync.Mutex
	bgClosed bool
	bgJobs   map[*Handle]*bgCompaction
	bgWG     sync.WaitGroup
	bgCtx    context.Context
	bgCancel context.CancelFunc
	bgSlots  chan struct{}
	// bgHook, set by tests before any edit, runs in each background
	// compaction twice: once the increments it covers are committed,
	// before it reads them (built false), and once its snapshot is
	// built, before it takes the document's lock to queue it.
	bgHook func(ctx context.Context, built bool)
}

// Open returns a repo over st. Documents load lazily on first use.
func Open(ctx context.Context, st store.Store, opts Options) (*Repo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.logger == nil || opts.rand == nil || opts.maxIncrements < 1 || opts.maxLoaded < 1 ||
		opts.batchWrites < 1 || opts.batchBytes < 1 || opts.collectBudget < 1 ||
		opts.hold.PeerChanges < 1 || opts.hold.PeerBytes < 1 || opts.hold.DocChanges < 1 || opts.hold.DocBytes < 1 || opts.hold.TotalBytes < 1 {
		return nil, errors.New("repo: options not from DefaultOptions")
	}
	r := &Repo{
		st:            st,
		opts:          opts,
		rand:          &lockedReader{r: opts.rand},
		handles:       make(map[docs.DocumentID]*Handle),
		subs:          newHub(),
		queue:         make(chan *write, opts.batchWrites),
		committerDone: make(chan struct{}),
		lru:           list.New(),
		room:          make(chan struct{}),
		cstats:        cmem.Stats,
		gc:            newCollector(opts.collectBudget),
		hold:          holdBook{limits: opts.hold},
		wait:          newWaitBook(opts.wait),
		bgJobs:        make(map[*Handle]*bgCompaction),
		bgSlots:       make(chan struct{}, 1),
	}
	r.bgCtx, r.bgCancel = context.WithCancel(context.Background())
	if !cmem.Supported() {
		r.opts.cmemBudget = 0
	}
	r.flusher = newStateFlusher(opts.stateFlush)
	go r.committer()
	go r.flushLoop()
	return r, nil
}

// Close cancels the compactions running in the background and waits for
// them, commits the writes already queued and the sync states kept
// behind (WithSyncStateFlush), stops every subscription
// (their channels are closed) and makes further calls fail with
// ErrClosed. It does not close the store.
func (r *Repo) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.stopCompactions()
	r.stopFlusher()
	r.stopCommitter()
	r.subs.closeAll()
	r.gc.stop()
	return nil
}

// Collections returns how many Go collections the repo ran because its
// automerge work passed the budget of WithCollectBudget.
func (r *Repo) Collections() uint64 { return r.gc.forced.Load() }

// QuietSkips returns how many GenerateSyncMessage calls answered
// "nothing to send" without asking automerge, because the peer's sync
// state had generated nothing at the same document revision.
func (r *Repo) QuietSkips() uint64 { return r.quietSkips.Load() }

// Batches returns how many group commits (store Updates of queued
// writes) the repo has made: with n writes persisted it is at most n, and
// fewer the more writes arrived together.
func (r *Repo) Batches() uint64 { return r.batches.Load() }

func (r *Repo) newActor() (string, error) {
	var b [16]byte
	n := copy(b[:], r.opts.actorPrefix)
	if _, err := io.ReadFull(r.rand, b[n:]); err != nil {
		return "", fmt.Errorf("repo: read actor id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// ActorPrefix is the prefix of the actor ids device writes under
// (WithActorPrefix): the first 8 bytes of SHA-256 over a domain string
// and the device id. A LAN peer's certificate names its device, so its
// own actors are known by this prefix (Incoming.ActorPrefix).
func ActorPrefix(device model.DeviceID) []byte {
	sum := sha256.Sum256([]byte("segue-actor-prefix-v1\x00" + string(device)))
	return sum[:8]
}

// Create makes a new document with a random id, runs init on it (init
// must commit, e.g. through docs.CreatePlaylist), persists its snapshot
// and returns its handle.
func (r *Repo) Create(ctx context.Context, init func(d *automerge.Doc) error) (*Handle, error) {
	id, err := docs.NewDocumentID(r.rand)
	if err != nil {
		return nil, err
	}
	return r.createWithID(ctx, id, init)
}

func (r *Repo) createWithID(ctx context.Context, id docs.DocumentID, init func(d *automerge.Doc) error) (*Handle, error) {
	actor, err := r.newActor()
	if err != nil {
		return nil, err
	}
	doc := automerge.New()
	if err := doc.SetActorID(actor); err != nil {
		return nil, fmt.Errorf("repo: set actor: %w", err)
	}
	if err := init(doc); err != nil {
		return nil, err
	}
	snap := doc.Save()
	h := &Handle{repo: r, id: id, doc: doc, nextSeq: 1, snapBytes: int32(len(snap))}
	if err := r.st.Update(ctx, func(tx store.Txn) error { return tx.Set(snapKey(id), frameRecord(snapKey(id), snap)) }); err != nil {
		return nil, fmt.Errorf("repo: persist new document %s: %w", id, err)
	}
	heads := doc.Heads()
	h.setContent(slices.Clone(heads))
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	r.handles[id] = h
	r.subs.publish(Event{Doc: id, Heads: heads, Facts: true})
	r.mu.Unlock()
	h.mu.Lock()
	r.touch(h)
	h.mu.Unlock()
	return h, nil
}

// CreatePlaylist creates a playlist document owned by owner (one commit,
// "create playlist").
func (r *Repo) CreatePlaylist(ctx context.Context, owner model.UserID, name string) (*Handle, error) {
	return r.Create(ctx, func(d *automerge.Doc) error {
		_, err := docs.CreatePlaylist(d, owner, name, r.opts.docs)
		return err
	})
}

// Library returns owner's library document at the id derived from the
// owner's name (docs.LibraryID): OpenLibrary(ctx, docs.LibraryID(owner),
// owner). Relays assign library ids; devices learn theirs at
// registration and use OpenLibrary.
func (r *Repo) Library(ctx context.Context, owner model.UserID) (*Handle, error) {
	return r.OpenLibrary(ctx, docs.LibraryID(owner), owner)
}

// OpenLibrary returns owner's library document id, creating it with the
// deterministic genesis change when the repo has none or has only an
// empty placeholder; devices that do this offline still converge (see
// docs.CreateLibrary). The genesis is written inside the handle's Change,
// so a copy that sync delivers at the same moment is never overwritten:
// a document that already has changes is left as it is.
func (r *Repo) OpenLibrary(ctx context.Context, id docs.DocumentID, owner model.UserID) (*Handle, error) {
	h, err := r.Ensure(ctx, id)
	if err != nil {
		return nil, err
	}
	if h.Empty() {
		err := h.Change(ctx, func(d *automerge.Doc) error {
			_, err := docs.CreateLibrary(d, owner, r.opts.docs)
			return err
		})
		if err != nil && !errors.Is(err, docs.ErrNotEmpty) {
			return nil, err
		}
	}
	return h, nil
}

// Delete removes document id from the repo and the store (snapshot,
// increments and every peer's sync state), in one store Update. Handles
// obtained before stay usable in memory but are no longer persisted;
// the next Get loads nothing (ErrNotFound). Deleting an unknown document
// is not an error.
func (r *Repo) Delete(ctx context.Context, id docs.DocumentID) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	h := r.handles[id]
	delete(r.handles, id)
	r.mu.Unlock()
	if h != nil {
		// Writes of the document already queued commit (or fail) first,
		// so none lands after the delete; a compaction running in the
		// background queues none.
		h.mu.Lock()
		h.staleCompaction()
		pending := h.pending
		h.mu.Unlock()
		if err := pending.wait(ctx); err != nil && ctx.Err() != nil {
			return fmt.Errorf("repo: delete %s: %w", id, err)
		}
	}
	suffix := []byte("/" + id.String())
	err := r.st.Update(ctx, func(tx store.Txn) error {
		if err := deleteWhere(tx, docPrefix(id), nil); err != nil {
			return err
		}
		return deleteWhere(tx, store.Prefix("sync"), func(k, _ []byte) bool { return bytes.HasSuffix(k, suffix) })
	})
	if err != nil {
		return fmt.Errorf("repo: delete %s: %w", id, err)
	}
	return nil
}

// AsidePrefix is the key prefix a document set aside (WithSetAside) is
// kept under: docbad/<id>/ followed by the rest of each of its doc/<id>/
// keys.
const AsidePrefix = "docbad/"

// asideRecord is the name, after AsidePrefix and the document id, of
// the record saying why a document was set aside: JSON asideWhy. No
// doc/<id>/ key has this name, so it never overwrites one moved aside.
const asideRecord = "aside"

// asideWhy is the asideRecord of a document set aside.
type asideWhy struct {
	Cause  string `json:"cause"`
	Synced bool   `json:"synced"`
}

// setAside moves the stored keys of document id, which failed to load
// with cause, under AsidePrefix with an asideRecord saying why, and
// deletes every peer's sync state of it, in one store Update
// (WithSetAside). It runs under r.mu, so no handle of id is loaded
// meanwhile: when another loader registered one first, that handle is
// returned and nothing is moved.
func (r *Repo) setAside(ctx context.Context, id docs.DocumentID, cause error) (*Handle, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	if h, ok := r.handles[id]; ok {
		return h, nil
	}
	prefix := docPrefix(id)
	suffix := []byte("/" + id.String())
	synced := false
	err := r.st.Update(ctx, func(tx store.Txn) error {
		var keys, vals [][]byte
		if err := tx.Iterate(prefix, false, func(k, v []byte) error {
			keys, vals = append(keys, bytes.Clone(k)), append(vals, bytes.Clone(v))
			return nil
		}); err != nil {
			return err
		}
		for i, k := range keys {
			aside := append([]byte(AsidePrefix+id.String()+"/"), k[len(prefix):]...)
			if err := tx.Set(aside, vals[i]); err != nil {
				return err
			}
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		err := deleteWhere(tx, store.Prefix("sync"), func(k, _ []byte) bool {
			if bytes.HasSuffix(k, suffix) {
				synced = true
				return true
			}
			return false
		})
		if err != nil {
			return err
		}
		why, err := json.Marshal(asideWhy{Cause: cause.Error(), Synced: synced})
		if err != nil {
			return err
		}
		return tx.Set([]byte(AsidePrefix+id.String()+"/"+asideRecord), why)
	})
	if err != nil {
		return nil, fmt.Errorf("%w (setting it aside: %v)", cause, err)
	}
	if synced {
		r.opts.logger.Warn("repo: stored document does not load; set aside, to be received again by the next sync (changes not sent before are only in the records set aside)", "doc", id.String(), "key", string(prefix), "aside", AsidePrefix+id.String()+"/", "err", cause)
	} else {
		r.opts.logger.Warn("repo: stored document does not load; set aside, and it was never synced: its changes are only in the records set aside", "doc", id.String(), "key", string(prefix), "aside", AsidePrefix+id.String()+"/", "err", cause)
	}
	return nil, nil
}

// Aside describes a document set aside (WithSetAside) whose records are
// kept under AsidePrefix.
type Aside struct {
	ID docs.DocumentID
	// Keys and Bytes count the records kept aside and their value bytes.
	Keys, Bytes int
	// Cause says why the document did not load; empty for one set aside
	// by a build that did not record it.
	Cause string
	// Synced reports whether the document had a sync state with any
	// peer when it was set aside. One never synced cannot be received
	// again: its changes are only in the records set aside.
	Synced bool
	// Back reports whether the document is stored again (received by a
	// sync since): only changes not sent before it was set aside are
	// lost, and they are in the records set aside.
	Back bool
}

// Asides lists the documents set aside (WithSetAside), in id order. Their
// records are never read again by the repo; Asides is how a device tells
// its user.
func (r *Repo) Asides(ctx context.Context) ([]Aside, error) {
	var out []Aside
	prefix := []byte(AsidePrefix)
	err := r.st.Iterate(ctx, prefix, false, func(k, v []byte) error {
		rest := k[len(prefix):]
		i := bytes.IndexByte(rest, '/')
		if i <= 0 {
			return nil
		}
		id, err := docs.ParseDocumentID(string(rest[:i]))
		if err != nil {
			return nil
		}
		if len(out) == 0 || out[len(out)-1].ID != id {
			out = append(out, Aside{ID: id})
		}
		a := &out[len(out)-1]
		if string(rest[i+1:]) == asideRecord {
			var why asideWhy
			if json.Unmarshal(v, &why) == nil {
				a.Cause, a.Synced = why.Cause, why.Synced
			}
			return nil
		}
		a.Keys++
		a.Bytes += len(v)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("repo: list documents set aside: %w", err)
	}
	for i := range out {
		back, err := r.hasRecords(ctx, out[i].ID)
		if err != nil {
			return nil, fmt.Errorf("repo: list documents set aside: %w", err)
		}
		out[i].Back = back
	}
	return out, nil
}

// DiscardAside deletes the records document id was set aside under
// (AsidePrefix, its asideRecord included), so Asides no longer lists it;
// ErrNotFound when none are kept. Changes of the document that were
// only in those records are lost. It leaves the document's own records
// (doc/<id>/, received again since) as they are.
func (r *Repo) DiscardAside(ctx context.Context, id docs.DocumentID) error {
	found := false
	err := r.st.Update(ctx, func(tx store.Txn) error {
		return deleteWhere(tx, []byte(AsidePrefix+id.String()+"/"), func(_, _ []byte) bool {
			found = true
			return true
		})
	})
	if err != nil {
		return fmt.Errorf("repo: discard %s set aside: %w", id, err)
	}
	if !found {
		return fmt.Errorf("repo: discard %s: %w: nothing set aside", id, ErrNotFound)
	}
	return nil
}

// hasRecords reports whether the store holds any record of document id.
func (r *Repo) hasRecords(ctx context.Context, id docs.DocumentID) (bool, error) {
	found := false
	err := r.st.Iterate(ctx, docPrefix(id), false, func(_, _ []byte) error {
		found = true
		return store.ErrStop
	})
	return found, err
}

// deleteWhere deletes, inside tx, every key under prefix for which
// match (nil: every key) holds. The keys are collected first and deleted
// after the iteration, which a store transaction does not allow to
// change what it iterates.
func deleteWhere(tx store.Txn, prefix []byte, match func(k, v []byte) bool) error {
	var keys [][]byte
	if err := tx.Iterate(prefix, false, func(k, v []byte) error {
		if match == nil || match(k, v) {
			keys = append(keys, bytes.Clone(k))
		}
		return nil
	}); err != nil {
		return err
	}
	for _, k := range keys {
		if err := tx.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// Get returns the handle of document id, loading it from the store on
// first use; ErrNotFound when the repo does not know it.
func (r *Repo) Get(ctx context.Context, id docs.DocumentID) (*Handle, error) {
	return r.get(ctx, id, false)
}

// Ensure is Get, except that an unknown document gets an empty in-memory
// placeholder (no changes, nothing stored) to be filled by sync — what a
// device does when asked to sync or request a document it lacks.
func (r *Repo) Ensure(ctx context.Context, id docs.DocumentID) (*Handle, error) {
	return r.get(ctx, id, true)
}

func (r *Repo) get(ctx context.Context, id docs.DocumentID, create bool) (*Handle, error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	h, ok := r.handles[id]
	r.mu.Unlock()
	if ok {
		return h, nil
	}
	if err := r.waitForRoom(ctx); err != nil {
		return nil, err
	}
	l, err := r.read(ctx, id)
	if errors.Is(err, ErrCorrupt) && r.opts.setAside {
		if h, err2 := r.setAside(ctx, id, err); h != nil || err2 != nil {
			r.loadDone()
			return h, err2
		}
		err = fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if errors.Is(err, ErrNotFound) && create {
		l, err = r.empty()
	}
	if err != nil {
		r.loadDone()
		return nil, err
	}
	h = &Handle{repo: r, id: id, doc: l.doc, nextSeq: l.nextSeq, incCount: l.incCount, incBytes: l.incBytes, snapBytes: l.snapBytes, facts: l.facts}
	h.setActors(l.actors)
	h.setContent(l.doc.Heads())
	h.setGraph(l.changes)
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		r.loadDone()
		l.doc.Close()
		return nil, ErrClosed
	}
	if prev, ok := r.handles[id]; ok {
		r.mu.Unlock()
		r.loadDone()
		l.doc.Close()
		return prev, nil // lost a race with another loader
	}
	r.handles[id] = h
	r.mu.Unlock()
	h.mu.Lock()
	r.touch(h)
	r.loadDone()
	h.mu.Unlock()
	return h, nil
}

// loadedDoc is a document read from the store: the automerge document
// (with a fresh actor id) and its increment bookkeeping.
type loadedDoc struct {
	doc                           *automerge.Doc
	nextSeq                       uint64
	incCount, incBytes, snapBytes int32                   // see Handle
	facts                         []byte                  // the stored facts record (WithFacts), nil if none
	actors                        map[string]model.UserID // the stored actor bindings (actors.go), nil if none
	// changes is the document's change graph read from its increments
	// (storedGraph), nil when not built.
	changes *msync.Graph
}

// empty returns a new empty document with a fresh actor id (a
// placeholder to be filled by sync).
func (r *Repo) empty() (loadedDoc, error) {
	actor, err := r.newActor()
	if err != nil {
		return loadedDoc{}, err
	}
	doc := automerge.New()
	if err := doc.SetActorID(actor); err != nil {
		return loadedDoc{}, fmt.Errorf("repo: set actor: %w", err)
	}
	return loadedDoc{doc: doc, nextSeq: 1}, nil
}

// stored is a document as the store holds it (payloads of its framed
// records, openRecord): its snapshot (nil if
// none), increments (their change chunks) in sequence
// order with their sequence numbers and
// the number and total size of those not sealed (Repo.sealed), facts
// record (WithFacts, nil if none) and actor bindings (nil if none). Its
// slices are copies, the caller's.
type stored struct {
	snap     []byte
	incs     [][]byte
	seqs     []uint64
	incCount int
	incBytes int
	facts    []byte
	actors   map[string]model.UserID
}

// readStored reads what the store holds of id, with the increments whose
// sequence number is below below only.
func (r *Repo) readStored(ctx context.Context, id docs.DocumentID, below uint64) (stored, error) {
	var s stored
	ip, ap, sk, fk := incPrefix(id), actorPrefix(id), snapKey(id), factsKey(id)
	err := r.st.Iterate(ctx, docPrefix(id), false, func(k, v []byte) error {
		switch {
		case bytes.HasPrefix(k, ap):
			a, err := parseActor(ap, k)
			if err != nil {
				return err
			}
			if s.actors == nil {
				s.actors = map[string]model.UserID{}
			}
			s.actors[a] = model.UserID(v)
		case bytes.Equal(k, sk):
			snap, err := openRecord(k, v)
			if err != nil {
				return fmt.Errorf("%w: snapshot: %v", ErrCorrupt, err)
			}
			s.snap = bytes.Clone(snap)
		case bytes.Equal(k, fk):
			s.facts = bytes.Clone(v)
		case bytes.HasPrefix(k, ip):
			seq, err := store.Uint64(k[len(ip):])
			if err != nil {
				return fmt.Errorf("%w: increment key %q: %v", ErrCorrupt, k, err)
			}
			if seq < below {
				chunks, err := openRecord(k, v)
				if err != nil {
					return fmt.Errorf("%w: increment seq %d: %v", ErrCorrupt, seq, err)
				}
				s.seqs = append(s.seqs, seq)
				s.incs = append(s.incs, bytes.Clone(chunks))
				if !r.sealed(len(chunks)) {
					s.incCount++
					s.incBytes += len(chunks)
				}
			}
		}
		return nil
	})
	return s, err
}

// sealed reports whether an increment of n bytes is sealed: at least
// sealBytes, so a bundle (compact.go) or one big edit, which a bundle
// would not make fewer. Sealed increments are not counted towards the
// bounds and are never bundled again.
func (r *Repo) sealed(n int) bool { return n >= r.sealBytes() }

// sealBytes is half the compaction's byte bound (at least 1): a bundle,
// cut once it reaches it, stays below the bound, which at the default
// (1 MiB) keeps it under Badger's value threshold (1 MiB: larger values
// go to its value log, whose written pages stay mapped in the process's
// RSS, and which nothing shrinks while the values live).
func (r *Repo) sealBytes() int { return max(r.opts.maxIncBytes/2, 1) }

// load returns the automerge document s loads to (the snapshot, then
// each increment in order), which the caller closes.
func (s stored) load() (*automerge.Doc, error) {
	if s.snap == nil {
		doc := automerge.New()
		return doc, s.loadIncs(doc)
	}
	doc, err := automerge.Load(s.snap)
	if err != nil {
		return nil, fmt.Errorf("%w: snapshot: %v", ErrCorrupt, err)
	}
	return doc, s.loadIncs(doc)
}

// loadIncs applies s's increments to doc, closing it on a failure. An
// increment is checked whole first (msync.CheckChunks): LoadIncremental
// takes the whole chunks before a cut or damaged one without an error,
// which would lose the changes after it without a word.
func (s stored) loadIncs(doc *automerge.Doc) error {
	for i, inc := range s.incs {
		if err := msync.CheckChunks(inc); err != nil {
			doc.Close()
			return fmt.Errorf("%w: increment %d (seq %d): %v", ErrCorrupt, i, s.seqs[i], err)
		}
		if err := doc.LoadIncremental(inc); err != nil {
			doc.Close()
			return fmt.Errorf("%w: increment %d: %v", ErrCorrupt, i, err)
		}
	}
	return nil
}

// read reads snapshot + increments (in sequence order) of id.
func (r *Repo) read(ctx context.Context, id docs.DocumentID) (loadedDoc, error) {
	s, err := r.readStored(ctx, id, math.MaxUint64)
	if err != nil {
		return loadedDoc{}, fmt.Errorf("repo: load %s: %w", id, err)
	}
	snap, incs := s.snap, s.incs
	if snap == nil && len(incs) == 0 {
		return loadedDoc{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	doc, err := s.load()
	if err != nil {
		return loadedDoc{}, fmt.Errorf("repo: load %s: %w", id, err)
	}
	var lastSeq uint64
	if len(s.seqs) > 0 {
		lastSeq = s.seqs[len(s.seqs)-1]
	}
	loaded := len(snap)
	for _, inc := range incs {
		loaded += len(inc) // sealed ones too: a load reads them all
	}
	r.gc.add(loaded)
	var changes *msync.Graph
	if r.opts.goSync {
		if snap == nil {
			changes = storedGraph(incs, doc.Heads())
		}
	} else {
		// What we loaded is stored: move the baseline of the next
		// SaveIncremental past it (the Go sync states never call it,
		// Handle.increment).
		doc.SaveIncremental()
	}
	actor, err := r.newActor()
	if err != nil {
		return loadedDoc{}, err
	}
	if err := doc.SetActorID(actor); err != nil {
		return loadedDoc{}, fmt.Errorf("repo: set actor: %w", err)
	}
	return loadedDoc{doc: doc, nextSeq: lastSeq + 1, incCount: int32(s.incCount), incBytes: int32(s.incBytes), snapBytes: int32(len(snap)), facts: s.facts, actors: s.actors, changes: changes}, nil
}

// storedGraph returns the change graph of a document stored as
// increments alone (no snapshot), read from their chunks without cgo
// (msync.Graph.AddChunks): the same changes in the same order as
// msync.Index of the document loaded from them, since an increment holds
// changes in history order and loading applies them in that order. It
// returns nil, and the graph is then indexed from the document on first
// use, when the increments do not read as such a graph or its heads are
// not the loaded document's: a graph returned mirrors the document.
func storedGraph(incs [][]byte, heads []automerge.ChangeHash) *msync.Graph {
	g := msync.NewGraph()
	for _, inc := range incs {
		if _, err := g.AddChunks(inc); err != nil {
			return nil
		}
	}
	if !slices.Equal(g.Heads(), heads) || g.Len() > math.MaxInt32 {
		return nil
	}
	return g
}

// Facts returns the facts record (WithFacts) of document id without
// loading it: the record stored with its last change. A document stored
// without one (by a repo without WithFacts, or before it existed) gets
// it now, read from the loaded document or else loaded from the store,
// read and closed at once (no Handle is kept: a scan of every document
// holds one at a time), and stored unless a change stored one
// meanwhile. ErrNotFound for a document the store lacks; ErrNoFacts
// without WithFacts.
func (r *Repo) Facts(ctx context.Context, id docs.DocumentID) ([]byte, error) {
	fn := r.opts.facts
	if fn == nil {
		return nil, ErrNoFacts
	}
	r.mu.Lock()
	closed, h := r.closed, r.handles[id]
	r.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	key := factsKey(id)
	f, err := r.st.Get(ctx, key)
	if err == nil {
		return f, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("repo: read facts of %s: %w", id, err)
	}
	f = nil
	if h != nil {
		h.mu.Lock()
		if h.doc != nil && len(h.heads) > 0 {
			f = fn(h.recordDoc())
		}
		h.mu.Unlock()
	}
	if f == nil {
		l, err := r.read(ctx, id)
		if err != nil {
			return nil, err
		}
		f = fn(l.doc)
		l.doc.Close()
	}
	err = r.st.Update(ctx, func(tx store.Txn) error {
		cur, err := tx.Get(key)
		switch {
		case err == nil:
			f = cur
			return nil
		case errors.Is(err, store.ErrNotFound):
			return tx.Set(key, f)
		default:
			return err
		}
	})
	if err != nil {
		return nil, fmt.Errorf("repo: store facts of %s: %w", id, err)
	}
	return f, nil
}

// List returns the ids of every document in the store, sorted by their
// string form.
func (r *Repo) List(ctx context.Context) ([]docs.DocumentID, error) {
	seen := map[docs.DocumentID]bool{}
	prefix := store.Prefix("doc")
	err := r.st.Iterate(ctx, prefix, false, func(k, _ []byte) error {
		rest := k[len(prefix):]
		if i := bytes.IndexByte(rest, '/'); i > 0 {
			if id, err := docs.ParseDocumentID(string(rest[:i])); err == nil {
				seen[id] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("repo: list: %w", err)
	}
	out := make([]docs.DocumentID, 0, len(seen))
	for id := range seen {
		out = append(out, id)
	}
	slices.SortFunc(out, func(a, b docs.DocumentID) int { return bytes.Compare([]byte(a.String()), []byte(b.String())) })
	return out, nil
}

// Subscribe returns a channel of events for document id (the zero id:
// every document) and a cancel function that stops delivery and closes
// the channel. Events fire after a change is persisted, for local and
// remote changes. Delivery never blocks the repo: pending events coalesce
// per document (the newest wins), so a slow reader sees the latest heads
// of every document it missed, not every intermediate step.
func (r *Repo) Subscribe(id docs.DocumentID) (<-chan Event, func()) {
	return r.subs.subscribe(id)
}
