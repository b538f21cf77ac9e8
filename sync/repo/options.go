package repo

import (
	crand "crypto/rand"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/msync"
	"github.com/segue-fm/segue/sync/wire"
)

// WriteCheck decides whether peer may change document id: it sees the
// current document (read-only; do not modify it) and the changes the
// peer's sync message would add that the document does not have yet. A
// non-nil error rejects the whole message (ReceiveSyncMessage returns it
// wrapped in ErrRejected) and nothing is applied.
type WriteCheck func(peer PeerID, id docs.DocumentID, current *automerge.Doc, incoming []*automerge.Change) error

// compactShare is how many times the snapshot's size the increments
// must weigh before a count-triggered compaction (see WithCompaction).
// A snapshot stores a change in ≈ 2.6 bytes (automerge's columns,
// compressed) and an increment in ≈ 120 (its chunk), so at 16 the
// increments hold about a third as many changes as the snapshot: the
// snapshot, whose cost follows the document's history, is rewritten
// after a number of edits that grows with it, and its cost per edit
// stays flat (docs/BENCHMARKS.md "relay CPU per edit as histories
// grow"), while loading applies at most that third again on top of the
// snapshot. A snapshot of at most compactFloor bytes (≈ 400 changes,
// saved in ≈ 0.5 ms) compacts at the count alone; past it the share
// counts the bytes above it.
const compactShare = 16

// compactFloor: see compactShare.
const compactFloor = 1 << 10

// Options configure a Repo. Start from DefaultOptions.
type Options struct {
	docs          docs.Options
	rand          io.Reader
	maxIncrements int
	maxIncBytes   int
	bundleFrom    int
	logger        *slog.Logger
	writeCheck    WriteCheck
	maxLoaded     int
	cmemBudget    uint64
	batchWrites   int
	batchBytes    int
	commitLinger  time.Duration
	collectBudget int64
	hold          HoldLimits
	wait          WaitLimits
	goSync        bool
	spill         msync.Spill
	lazy          bool
	content       func(*docs.ChangeOps) error
	entryCheck    bool
	facts         func(d *automerge.Doc) []byte
	factsUpdate   func(prev []byte, d *automerge.Doc) []byte
	stateFlush    time.Duration
	bindActors    bool
	actorPrefix   []byte // WithActorPrefix
	quota         Quota
	maxDocBytes   int
	maxMessage    int
	maxChange     int
	setAside      bool
}

// DefaultOptions returns: docs.DefaultOptions() for the typed views,
// crypto/rand.Reader for document and actor ids, compaction after 64
// increments (once they weigh a quarter of the snapshot) or 1 MiB of
// increments per document, slog.Default(), no write check, at most
// 1,024 documents loaded, group commits of at most 512 writes or 4 MiB
// that linger DefaultCommitLinger under load,
// a Go collection after every 4 MiB of automerge work,
// DefaultHoldLimits for changes waiting for their dependencies,
// DefaultWaitLimits for those automerge queues across documents, and
// sync states of messages without changes written behind within
// DefaultSyncStateFlush, with the Go sync states neutral batches
// kept out of automerge until read (WithLazyApply), and sync messages
// and changes within wire.MaxSyncData and wire.MaxSyncChange
// (WithSyncLimits).
func DefaultOptions() Options {
	return Options{
		docs:          docs.DefaultOptions(),
		rand:          crand.Reader,
		maxIncrements: 64,
		maxIncBytes:   1 << 20,
		bundleFrom:    defaultBundleFrom,
		logger:        slog.Default(),
		maxLoaded:     1024,
		batchWrites:   512,
		batchBytes:    4 << 20,
		commitLinger:  DefaultCommitLinger,
		collectBudget: 4 << 20,
		hold:          DefaultHoldLimits(),
		wait:          DefaultWaitLimits(),
		stateFlush:    DefaultSyncStateFlush,
		goSync:        true,
		lazy:          true,
		maxMessage:    wire.MaxSyncData,
		maxChange:     wire.MaxSyncChange,
	}
}

// WithQuota accounts, with q, the bytes of change history each
// authenticated writer (Incoming.Writer) adds (see Quota): a message of
// a writer that carries changes is refused, its changes only, when q
// does not admit its size; the bytes its changes add are counted in the
// store transaction that stores them. With the Go sync states only (the
// relay), whose change graph knows the bytes. Default nil: no quota.
func (o Options) WithQuota(q Quota) Options { o.quota = q; return o }

// WithMaxDocBytes caps one document's history at n bytes of change
// chunks (msync.Graph.Bytes, what its increments store before
// compaction): a message of an authenticated writer that carries
// changes is refused, its changes only, when the history plus the
// message would pass n (ErrDocumentFull). The size is the graph's,
// rebuilt from the store on load, so a restart keeps it. With the Go
// sync states only (the relay). n ≤ 0: no cap, the default.
func (o Options) WithMaxDocBytes(n int) Options { o.maxDocBytes = max(n, 0); return o }

// WithSyncLimits returns o generating sync messages of at most message
// bytes and taking no change of more than change bytes. A message leaves
// the changes that do not fit for a later one: they are not recorded as
// sent, so the peer's answer asks for them again and a history of n
// bytes reaches a peer in about n/message round trips; a message that
// cannot fit even so (its heads, needs and Bloom filter alone, or with
// its first change, are over the limit) is not generated and the error
// wraps wire.ErrSyncTooLarge. A received message with a change over
// change bytes is refused (ErrRejected wrapping ErrChangeTooLarge, the
// rest of the message applied as for any refusal), and so is a local
// change over it (Handle.Change undoes it), so that no stored change is
// too big to be sent on. Values < 1 or above the defaults —
// wire.MaxSyncData, the most one frame carries with its envelope, and
// wire.MaxSyncChange — keep the defaults; change is at most message.
func (o Options) WithSyncLimits(message, change int) Options {
	if message > 0 && message <= wire.MaxSyncData {
		o.maxMessage = message
	}
	if change > 0 && change <= wire.MaxSyncChange {
		o.maxChange = change
	}
	o.maxChange = min(o.maxChange, o.maxMessage)
	return o
}

// WithCollectBudget returns o running a Go garbage collection once the
// repo has passed n bytes through automerge (messages received and
// generated, increments, snapshots, sync states, documents loaded) since
// the last collection, the runtime's or its own. The repo frees what it
// uses of automerge explicitly (segue's automerge-go fork: documents, sync
// states, messages, temporary results); what is left to finalizers (values
// of nested objects read through the typed views, changes a caller keeps)
// is freed only after a collection, while the Go collector paces itself on
// the Go heap alone — this is the backstop for that. A smaller n bounds it
// tighter at the cost of more collections. Values < 1 keep the default,
// 4 MiB.
func (o Options) WithCollectBudget(n int64) Options {
	if n > 0 {
		o.collectBudget = n
	}
	return o
}

// WithLoadedDocs returns o keeping at most n documents loaded in memory
// (an automerge document costs C memory the Go collector does not see):
// past n, the least recently used idle documents are unloaded and reload
// from the store on next use, and their in-memory sync states are
// dropped (sessions resume from the persisted ones). Documents busy at
// that moment stay loaded until a later use. Values < 1 keep the
// default, 1,024.
func (o Options) WithLoadedDocs(n int) Options {
	if n > 0 {
		o.maxLoaded = n
	}
	return o
}

// WithFacts returns o storing, next to every document, fn's small record
// of it (for the relay, docs.EncodeFacts: kind, playlist name and public
// flag), written in the same transaction as each change that alters it,
// so that Repo.Facts reads it without loading the document. fn must be
// cheap (it runs on every persist, under the document's lock) and must
// not return nil. Default: no record.
func (o Options) WithFacts(fn func(d *automerge.Doc) []byte) Options {
	o.facts = fn
	return o
}

// WithFactsUpdate returns o computing the facts record (WithFacts) with
// fn(prev, d) instead, where prev is the record last computed, when no
// change since then could have altered docs.ACLFields (the document's ACL
// revision stayed: only changes that passed the collaborators' ACL check,
// Incoming.CheckACL). For the relay, docs.UpdateFacts: a collaborator's
// edit then reads only the playlist's name. fn must return what the
// WithFacts function would. Default: none (the WithFacts function always).
func (o Options) WithFactsUpdate(fn func(prev []byte, d *automerge.Doc) []byte) Options {
	o.factsUpdate = fn
	return o
}

// WithCMemBudget returns o keeping the process's C heap in use (glibc's
// count, internal/cmem: in a relay, automerge's documents and sync
// states) under n bytes: every 32nd use of a document the repo
// reads it and, while it is above n, unloads the least recently used
// idle documents (as WithLoadedDocs does past its count) — an automerge
// document holds its whole history in memory (≈1.3 KB per change), so
// a count alone does not bound it. Past 1.5 × n, documents in a sync
// exchange unload too (their sessions resume from the persisted shared
// heads); only a pending write keeps a document loaded then. 0 (the
// default) turns it off; it is off where glibc's counters are
// unavailable.
func (o Options) WithCMemBudget(n uint64) Options {
	o.cmemBudget = n
	return o
}

// WithGroupCommit returns o committing at most maxWrites queued writes
// (document increments with their sync states, compactions) or about
// maxBytes of them in one store Update; a single larger write is
// committed alone. Values < 1 keep the defaults, 512 writes and 4 MiB.
func (o Options) WithGroupCommit(maxWrites, maxBytes int) Options {
	if maxWrites > 0 {
		o.batchWrites = maxWrites
	}
	if maxBytes > 0 {
		o.batchBytes = maxBytes
	}
	return o
}

// DefaultCommitLinger is how long, by default, a group commit under load
// waits after its first write was queued for more writes to join it
// (WithCommitLinger).
const DefaultCommitLinger = 2 * time.Millisecond

// WithCommitLinger returns o letting a group commit under load — the
// previous commit held more than one write, and this one's first write
// was queued less than d after it ended — wait
// until d after that write was queued for more writes to join (up to the
// WithGroupCommit bounds), so that one store Update and its fsync cover
// more of them: each write's acknowledgement waits up to d longer, and
// the store makes fewer, larger commits (on a relay at 2,000 edits/s,
// ≈ 1,400 fsyncs a second of 1.5 writes each without it;
// docs/BENCHMARKS.md). A lone writer (each write waiting for the one
// before it) and a write arriving after the committer was idle for d or
// longer commit at once. 0 turns it
// off; negative values keep the default, DefaultCommitLinger (2 ms).
func (o Options) WithCommitLinger(d time.Duration) Options {
	if d >= 0 {
		o.commitLinger = d
	}
	return o
}

// WithDocOptions returns o with the options passed to the typed views
// (clock and randomness for entries). Default: docs.DefaultOptions().
func (o Options) WithDocOptions(d docs.Options) Options { o.docs = d; return o }

// WithRand returns o drawing document ids and per-load actor ids from r.
// The repo serialises its reads from r. Default: crypto/rand.Reader.
func (o Options) WithRand(r io.Reader) Options { o.rand = r; return o }

// WithCompaction returns o compacting a document (one snapshot replacing
// its increments, in one store Update) once it has more than maxBytes
// bytes of increments, or more than maxIncrements increments that
// together weigh at least compactShare (16) times its stored snapshot
// (past its first KiB, compactFloor): a
// snapshot costs time in proportion to the document's history (≈250 ms
// for a 10,000-entry playlist, ≈130 ms for 50,000 one-entry changes),
// so a bigger document is rewritten after proportionally more edits and
// the rewrite's cost per edit does not grow with it. Past a snapshot of
// compactFloor bytes, or at the byte bound, the snapshot is built off
// the document's lock (Handle.compactLater). Values < 1 keep
// the default (64 increments, 1 MiB); maxBytes is capped at
// maxIncBytesCap (a Handle counts increment bytes in 32 bits).
func (o Options) WithCompaction(maxIncrements, maxBytes int) Options {
	if maxIncrements > 0 {
		o.maxIncrements = maxIncrements
	}
	if maxBytes > 0 {
		o.maxIncBytes = min(maxBytes, maxIncBytesCap)
	}
	return o
}

// defaultBundleFrom is the history, in changes, past which a document
// behind its change graph (lazy.go) is compacted at the byte bound into
// a bundle of its increments (compact.go) rather than a snapshot: a
// snapshot is built in automerge 0.5, which holds every change of the
// document it loads, ≈ 4 KiB each (≈ 20 MiB at 5,000 changes,
// BenchmarkCompactionCPeak), so past it a build's peak would grow with
// the history while a bundle's does not.
const defaultBundleFrom = 4096

// maxIncBytesCap bounds WithCompaction's byte bound: with one increment
// (at most a sync frame) on top, a document's increment bytes stay far
// below 2³¹.
const maxIncBytesCap = 1 << 30

// WithGoSync returns o keeping sync states in Go (sync/msync, the
// default: generating and answering a message costs no cgo call, only
// applying new changes does) or, with on false, in automerge (each
// generate and receive a cgo call walking the change graph). Both speak
// the same protocol byte for byte and persist the same sync state
// format. The Go states index each loaded document's changes (their
// hashes, dependencies and bytes) in memory, built with one cgo call
// per change when a document is first synced after loading; a device
// holding few peers per document but big documents may prefer false.
func (o Options) WithGoSync(on bool) Options { o.goSync = on; return o }

// WithSpill returns o keeping, with the Go sync states (WithGoSync), the
// older chunks of each loaded document's change graph in s instead of
// memory (msync.Graph.SpillTo; the relay's is a file, package
// filespill): a graph then holds in memory only its newest two slabs of
// chunks, about 8–16 KiB, besides its index, and reads older chunks back
// for a peer far behind, a catch-up or the guard's check of an edit to
// an old entry. A read that fails fails that call (msync.ErrSpillRead);
// nothing is lost, as the store holds every change. Default nil: chunks
// stay in memory (deflated).
func (o Options) WithSpill(s msync.Spill) Options { o.spill = s; return o }

// WithLazyApply returns o adding, with the Go sync states (WithGoSync),
// a neutral batch of changes from a writer no check applies to, or from
// a collaborator whose only check is Incoming.CheckACL (docs.Neutral
// under the document's ACL record, which the ACL check would pass, and
// changes automerge applies without fail: msync.Graph.Fresh and Vouch),
// to the change graph and the store only, and applying it to the
// automerge document when something reads or changes the document
// (Handle.Read, Change, a checked writer's other messages, a
// non-neutral batch); a compaction saves a caught-up copy instead
// (Handle.compactionDoc), or what the store holds in the background
// (Handle.compactLater). Edits to a document nobody reads then cost no
// automerge memory. Off, automerge applies every change as it arrives.
func (o Options) WithLazyApply(on bool) Options { o.lazy = on; return o }

// WithActorBinding returns o binding each actor id of a document to the
// user who first delivered a change under it (Incoming.Writer), stored
// with the document: a change under an actor bound to another user is
// held back (within HoldLimits, like a change whose dependencies are
// missing) until that user delivers it, so no writer can take another's
// next sequence number, which would make automerge refuse the real
// change and stop its author's device from syncing the document. The
// document's owner (Incoming.Owner) is taken under any actor and binds
// it. With Incoming.Guard (a device's LAN peers) an actor the document
// holds changes of that no binding names is another user's too: the
// changes a device's relay delivers, and its own, bind nothing. Default:
// off; the relay and devices (core) turn it on.
func (o Options) WithActorBinding(on bool) Options { o.bindActors = on; return o }

// WithContentCheck returns o refusing every change a peer sends whose
// operations check (docs.CheckContent) refuses: the message is refused
// with check's error, nothing of it applied or stored. The check runs
// on the changes a document's change graph admits (msync's
// Graph.SetContentCheck: the Go sync states, and a device's guarded
// peers), once per change, before any check that applies it; changes
// the document already holds are never checked again, so a document
// stored before a limit existed still loads and syncs. Default: none;
// the relay sets docs.CheckContent.
func (o Options) WithContentCheck(check func(*docs.ChangeOps) error) Options {
	o.content = check
	return o
}

// WithEntryCheck returns o refusing, when on, a message from a peer whose
// changes would take a playlist past docs.MaxEntries entries (msync's
// Graph.SetEntryCheck), with an error wrapping docs.ErrBadContent, as
// WithContentCheck refuses a change: a device that bypasses Playlist.Add
// cannot grow a playlist past the limit on the relay. Default: off; the
// relay turns it on.
func (o Options) WithEntryCheck(on bool) Options { o.entryCheck = on; return o }

// WithActorPrefix makes every actor id the repository writes under start
// with p (ActorPrefix of the device, at most 8 bytes; the other bytes of
// the 16 stay random), so the device's LAN peers tell its actors from
// others' (Incoming.ActorPrefix). Default none: all 16 bytes random.
func (o Options) WithActorPrefix(p []byte) Options {
	o.actorPrefix = p[:min(len(p), 8):min(len(p), 8)]
	return o
}

// WithSyncStateFlush returns o writing the sync state of a message that
// adds no change at most d after it (default DefaultSyncStateFlush),
// coalesced per peer and document, and when the peer disconnects, its
// state is read, the document unloads or the repo closes; with d ≤ 0 it
// is queued for the group commit with its message. A message with
// changes always writes them and its state before it is answered.
func (o Options) WithSyncStateFlush(d time.Duration) Options { o.stateFlush = d; return o }

// WithLogger returns o logging to l. Default: slog.Default().
func (o Options) WithLogger(l *slog.Logger) Options { o.logger = l; return o }

// WithSetAside makes a document whose stored bytes do not load
// (ErrCorrupt) be set aside instead of failing every use of it: its keys
// are moved under AsidePrefix (docbad/<id>/, kept, never read again) and
// every peer's sync state of it deleted, in one store Update, and the
// document is then unknown (ErrNotFound; Ensure gives an empty
// placeholder), so the next sync receives it again whole from a peer
// that has it. For a device, whose documents the relay holds; a relay,
// the authority, keeps the default (off: ErrCorrupt).
func (o Options) WithSetAside(on bool) Options { o.setAside = on; return o }

// WithWriteCheck returns o with a check run on every incoming sync
// message that carries new changes (the relay's authorisation); changes
// whose dependencies are missing are held back and checked once they
// arrive, as for Incoming.Check. Default: none, every change is
// accepted.
func (o Options) WithWriteCheck(c WriteCheck) Options { o.writeCheck = c; return o }

type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}
