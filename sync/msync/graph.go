package msync

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/sync/docs"
)

// Graph indexes a document's change graph for the sync protocol: every
// change's hash, dependencies, position in the document's history (the
// order automerge applied them) and encoded bytes, the heads, and the
// changes given to the document that it queued because dependencies are
// missing. It mirrors one automerge document: the caller adds each change
// the document applies, in the document's order. A Graph is not safe for
// concurrent use.
//
// A change costs the graph about 55 bytes besides its encoded chunk
// (BenchmarkGraphBytes): the changes are held by value in one slice in
// history order (a node: the hash, the chunk's length, where its
// dependencies start), found by hash through an open-addressing table
// of positions, and their dependencies are positions in one shared
// slice, in history order; the walks' marks are held for the newest
// changes only (marks.go).
// The chunks are copied into a chunkLog; all but the newest 8–16 KiB of
// them are stored without their checksums and dependency hashes, which
// the graph holds, and deflated (strip.go: a playlist edit's ≈ 190 bytes
// to ≈ 40). A graph given a Spill (SpillTo) keeps its frozen slabs there,
// and one slab behind them the nodes and dependencies of their changes
// (coldnodes.go): such a cold change costs ≈ 17 bytes of memory.
type Graph struct {
	// nodes holds the hot changes in history order: the change at
	// position p ≥ hot is nodes[p-hot]. It is appended to, never
	// reordered; cool drops its front as the changes there go cold.
	nodes []node
	// hot is the position of the first change whose node is in nodes;
	// the changes before it are cold (coldnodes.go), their nodes in
	// cold's pages.
	hot  int32
	cold coldNodes
	// chunks holds the changes' encoded chunks (Graph.ref).
	chunks chunkLog
	// index finds a change's position from its hash.
	index hashIndex
	// deps holds the hot changes' dependencies as positions, in history
	// order: those of the change at p are from deps[nodes[p-hot].dep -
	// depBase] up to the next change's (depsOf); depBase counts the cold
	// changes' dependencies, cut from its front.
	deps    []int32
	depBase uint32
	heads   map[automerge.ChangeHash]struct{}
	// sorted caches Heads; nil when heads changed since.
	sorted []automerge.ChangeHash
	queue  map[automerge.ChangeHash][]automerge.ChangeHash
	bytes  int
	// seqs counts each actor's changes in the graph, for CheckSeq
	// (automerge's per-actor states; the actors of a document are few).
	seqs map[string]*uint64
	// epoch numbers the walks of since, changesToSend, markHeld and
	// removeAncestors: a change's marks count only when they hold the
	// current walk's epoch, so no walk clears marks (epochs clears them
	// all when the counter would wrap).
	epoch uint32
	// marks holds the changes' walk marks (marks.go).
	marks marks
	heap  idxHeap
	// memo holds the last few since answers: the followers of a
	// document one change behind all ask the same questions (a Bloom
	// filter since the shared heads, the changes since the peer's last
	// sync), and a follower whose shared heads stay put while changes
	// arrive (a backlog) asks the same question of a longer history. An
	// answer stays valid across Add: a change added later is never an
	// ancestor of one present before, so since(have) only gains the
	// changes added since, provided every hash of have was known.
	memo     [memoSize]sinceMemo
	memoNext int
	// toSend is changesToSend's result, reused by the next call.
	toSend []int32
	// walk is markHeld's stack, reused by the next call.
	walk []int32
	// ops indexes the operation ids of g's changes for Guard and Vouch
	// (opindex.go), built on their first use and brought up to date by
	// each later one.
	ops opIndex
	// queued holds the queued changes that Guard admitted (ApplyTo
	// records them), until the graph adds them.
	queued map[automerge.ChangeHash]pending
	// queueMax and queueMaxBytes, when positive, replace
	// MaxQueuedChanges and MaxQueuedBytes (tests).
	queueMax, queueMaxBytes int
	// content, when set, is the content check of every change Guard
	// admits and Vouch vouches for (SetContentCheck).
	content func(*docs.ChangeOps) error
	// entryCheck, when set, makes Guard and Vouch refuse changes that
	// would take a playlist past docs.MaxEntries (SetEntryCheck);
	// entries counts the entries of g's first entriesN changes.
	entryCheck bool
	entries    docs.EntryCount
	entriesN   int
}

// SetContentCheck makes check (docs.CheckContent, say) part of Guard and
// Vouch: a change g lacks whose operations check refuses is refused by
// Guard, with check's error, and never vouched for by Vouch. nil: no
// content check (the default). The changes g holds are not checked
// again.
func (g *Graph) SetContentCheck(check func(*docs.ChangeOps) error) { g.content = check }

// SetEntryCheck makes Guard and Vouch refuse, when on, a message whose
// changes would take the document's playlist entries past
// docs.MaxEntries (docs.EntryCount.CheckEntries, an error wrapping
// docs.ErrBadContent; Vouch does not vouch for it): a content rule no
// single change shows. Counting reads every change of g once (its
// operations on a root entries map), then each change g gains. Default:
// off.
func (g *Graph) SetEntryCheck(on bool) { g.entryCheck = on }

// checkEntries returns the error of docs.EntryCount.CheckEntries for ps,
// changes g lacks (in the order given), after bringing g's count up to
// date with its changes; nil when the entry check is off.
func (g *Graph) checkEntries(ps []pending) error {
	if !g.entryCheck {
		return nil
	}
	for ; g.entriesN < g.Len(); g.entriesN++ {
		raw, err := g.RawAt(g.entriesN)
		if err != nil {
			return err
		}
		// A change that does not decode was admitted before any check
		// read it: it counts nothing (as in the operation index).
		if ops, err := docs.DecodeChangeOps(raw); err == nil {
			g.entries.Apply(ops)
		}
	}
	ops := make([]*docs.ChangeOps, len(ps))
	for i, p := range ps {
		ops[i] = p.ops
	}
	return g.entries.CheckEntries(ops...)
}

// memoSize bounds Graph.memo (a document's active followers, each at
// its own shared heads under a backlog).
const memoSize = 32

type sinceMemo struct {
	have []automerge.ChangeHash
	// key is haveKey(have): memoFor compares it before have.
	key uint64
	out []int32
	ok  bool
	// n is the graph's length when out was last brought up to date.
	n int
	// bloom is the filter of out once haveSince built it.
	bloom    Bloom
	hasBloom bool
}

// node is one change of a Graph: 40 bytes. n is its encoded chunk's
// length in Graph.chunks, with the stripped bit (chunkRef.n); the
// chunk follows the one of the change before it in the same slab, or
// starts a slab (Graph.ref). Its dependencies start at Graph.deps[dep]
// (depsOf). Its walk marks are in Graph.marks.
type node struct {
	hash automerge.ChangeHash
	n    uint32
	dep  uint32
}

// NewGraph returns an empty graph (the index of an empty document).
func NewGraph() *Graph {
	return &Graph{
		index: newHashIndex(),
		heads: map[automerge.ChangeHash]struct{}{},
		queue: map[automerge.ChangeHash][]automerge.ChangeHash{},
		seqs:  map[string]*uint64{},
	}
}

// ErrDuplicateSeq is returned by CheckSeq and AddChunks for a change
// automerge refuses with DuplicateSeqNumber.
var ErrDuplicateSeq = errors.New("msync: duplicate sequence number")

// ErrMissingDeps is returned by AddChunks for a change whose
// dependencies the graph lacks.
var ErrMissingDeps = errors.New("msync: missing dependencies")

// CheckSeq applies automerge 0.5's DuplicateSeqNumber rule to c, a
// change about to be given to the document g mirrors: a change the
// graph lacks is refused (ErrDuplicateSeq) when its actor already has at
// least c.Seq changes in the graph — a second change with the sequence
// number of one already applied (a forked actor id), or any number at or
// below them. The rule counts applied changes only, as automerge's
// apply_changes does when a change arrives; a change the graph has
// passes.
func (g *Graph) CheckSeq(c Change) error {
	if g.Has(c.Hash) {
		return nil
	}
	if n := g.seqs[string(c.Actor)]; n != nil && *n >= c.Seq {
		return fmt.Errorf("%w: %x seq %d, %d of its changes applied", ErrDuplicateSeq, c.Actor, c.Seq, *n)
	}
	return nil
}

// HasActor reports whether the graph holds a change under actor (the
// actor id's bytes).
func (g *Graph) HasActor(actor string) bool { return g.seqs[actor] != nil }

// AddChunks adds the changes of inc — concatenated change chunks as
// SaveIncremental writes them and the repo stores them (SplitChunks) —
// in order, and returns how many it added. A change already in g is
// skipped (a store may repeat one); a change whose dependencies g lacks
// (ErrMissingDeps) or that CheckSeq refuses fails the call, the changes
// before it added. g keeps copies of the chunks, not inc.
func (g *Graph) AddChunks(inc []byte) (int, error) {
	cs, raws, err := SplitChunks(inc)
	if err != nil {
		return 0, err
	}
	added := 0
	for i, c := range cs {
		if g.Has(c.Hash) {
			continue
		}
		for _, d := range c.Deps {
			if !g.Has(d) {
				return added, fmt.Errorf("%w: change %s needs %s", ErrMissingDeps, c.Hash, d)
			}
		}
		if err := g.CheckSeq(c); err != nil {
			return added, err
		}
		g.Add(c, raws[i])
		added++
	}
	return added, nil
}

// Add records a change the document applied, after every change it
// depends on (the document's history order); raw is its encoded chunk,
// which g copies (to send it to peers) and does not keep. A change already present is
// ignored. It is removed from the queue if it was there, and counted
// among its actor's changes (CheckSeq). c.Deps is not kept: the graph
// records each dependency as a position, and a dependency it does not
// hold (which the history order rules out) is not recorded, as no walk
// of the graph could follow it. A graph holds at most math.MaxInt32
// changes; Add ignores a change past that.
func (g *Graph) Add(c Change, raw []byte) {
	if g.Has(c.Hash) || g.Len() >= math.MaxInt32 {
		return
	}
	ref, closed := g.chunks.add(raw, int32(g.Len()))
	n := node{hash: c.Hash, n: ref.n, dep: g.depBase + uint32(len(g.deps))}
	for _, d := range c.Deps {
		if p := g.pos(&d); p >= 0 {
			g.deps = appendGrown(g.deps, p)
		}
	}
	g.nodes = appendGrown(g.nodes, n)
	g.index.insert(g, int32(g.Len()-1))
	if closed >= 0 {
		g.freeze(closed)
	}
	seq := g.seqs[string(c.Actor)]
	if seq == nil {
		seq = new(uint64)
		g.seqs[string(c.Actor)] = seq
	}
	*seq++
	for _, d := range c.Deps {
		delete(g.heads, d)
	}
	g.heads[c.Hash] = struct{}{}
	g.sorted = nil
	g.bytes += len(raw)
	delete(g.queue, c.Hash)
	if len(g.queued) > 0 {
		if p, ok := g.queued[c.Hash]; ok {
			p.budget.release(int64(p.size), 1)
			delete(g.queued, c.Hash)
		}
	}
}

// appendGrown appends x to s, growing a full s by an eighth (at least
// 16 elements) where append would double it or add a quarter: a graph
// only grows, one change at a time, and a relay holds hundreds of
// graphs of a few hundred changes, whose doubled slices would leave a
// third of their nodes' memory unused on average (an eighth costs about
// eight copies of a node over its life, ≈ 40 ns a change).
func appendGrown[E any](s []E, x E) []E {
	if len(s) == cap(s) {
		t := make([]E, len(s), len(s)+max(16, len(s)/8))
		copy(t, s)
		s = t
	}
	return append(s, x)
}

// Queue records a change given to the document that it did not apply
// because a dependency is missing (automerge keeps it in its queue).
func (g *Graph) Queue(c Change) {
	if !g.Has(c.Hash) {
		g.queue[c.Hash] = c.Deps
	}
}

// Release forgets g's queued changes and returns their bytes to the
// budgets they were charged to (ApplyCharged), for a graph dropped with
// its document (unloaded, reset, replaced, or indexed anew) or whose
// document was replaced by a copy without them (automerge does not copy
// a document's queue). Without it the budgets would keep the bytes of
// changes nothing holds any more.
func (g *Graph) Release() {
	for _, p := range g.queued {
		p.budget.release(int64(p.size), 1)
	}
	g.queued = nil
	clear(g.queue)
}

// Len returns the number of changes in the graph.
func (g *Graph) Len() int { return int(g.hot) + len(g.nodes) }

// Bytes returns the total size of the changes' encoded chunks.
func (g *Graph) Bytes() int { return g.bytes }

// Has reports whether the document holds change hash.
func (g *Graph) Has(hash automerge.ChangeHash) bool { return g.pos(&hash) >= 0 }

// pos returns the position of change hash in g's history, or -1 when g
// does not hold it.
func (g *Graph) pos(hash *automerge.ChangeHash) int32 { return g.index.find(g, hash) }

// depsOf returns the dependencies of the hot change at p (p ≥ g.hot) as
// positions; the slice is g's. depsAt serves any change.
func (g *Graph) depsOf(p int32) []int32 { return depsIn(g.nodes, g.deps, p-g.hot, g.depBase) }

// depsIn returns the dependencies of nodes[i] in deps, whose first entry
// is the depBase'th of the graph's (node.dep counts from the graph's
// first change): they run to the next node's or to the end of deps.
func depsIn(nodes []node, deps []int32, i int32, depBase uint32) []int32 {
	end := uint32(len(deps))
	if int(i)+1 < len(nodes) {
		end = nodes[i+1].dep - depBase
	}
	return deps[nodes[i].dep-depBase : end : end]
}

// epochs returns the first of k fresh walk epochs (Graph.epoch); when
// the counter would wrap, it first clears every mark. Every sweepEvery
// epochs the marks of all but the newest changes are dropped on the way
// (marks.begin).
func (g *Graph) epochs(k uint32) uint32 {
	if g.epoch > math.MaxUint32-k {
		g.marks.clear()
		g.epoch = 0
	}
	first := g.epoch + 1
	g.epoch += k
	g.marks.begin(first, g.Len())
	return first
}

// Raw returns the encoded chunk of change hash (nil when unknown). It
// must not be modified; g never modifies it either, so it stays valid.
// It fails only when the chunk lies in a slab g spilled and cannot read
// back (ErrSpillRead).
func (g *Graph) Raw(hash automerge.ChangeHash) ([]byte, error) {
	if p := g.pos(&hash); p >= 0 {
		return g.chunk(p)
	}
	return nil, nil
}

// RawAt returns the encoded chunk of the change at history position i
// (0 ≤ i < Len()); it must not be modified; g never modifies it either.
// It panics when i is out of range, and fails as Raw does.
func (g *Graph) RawAt(i int) ([]byte, error) {
	if i < 0 || i >= g.Len() {
		panic(fmt.Sprintf("msync: RawAt(%d) of %d changes", i, g.Len()))
	}
	return g.chunk(int32(i))
}

// AppendRaw appends to dst the encoded chunks of the changes at history
// positions from through Len()-1, in history order, and returns the
// extended slice: what automerge's SaveIncremental returns for those
// changes, at a cost that follows them rather than the history. It
// panics when from is outside [0, Len()], and fails as Raw does (dst's
// contents past its length are then unspecified).
func (g *Graph) AppendRaw(dst []byte, from int) ([]byte, error) {
	n := g.Len()
	if from < 0 || from > n {
		panic(fmt.Sprintf("msync: AppendRaw from %d of %d changes", from, n))
	}
	if from == n {
		return dst, nil
	}
	// One slab search; then each chunk follows the one before it.
	ref, err := g.ref(int32(from))
	if err != nil {
		return dst, fmt.Errorf("change %d: %w", from, err)
	}
	nodes, err := g.slabNodes(int(ref.s))
	if err != nil {
		return dst, fmt.Errorf("change %d: %w", from, err)
	}
	first := g.chunks.slabs[ref.s].first
	for p := int32(from); p < int32(n); p++ {
		if s := int(ref.s) + 1; s < len(g.chunks.slabs) && g.chunks.slabs[s].first == p {
			if nodes, err = g.slabNodes(s); err != nil {
				return dst, fmt.Errorf("change %d: %w", p, err)
			}
			ref.s, ref.off, first = uint32(s), 0, p
		}
		ref.n = nodes[p-first].n
		if dst, err = g.appendChunk(dst, p, ref); err != nil {
			return dst, err
		}
		ref.off += ref.len()
	}
	return dst, nil
}

// Heads returns the document's heads in ascending byte order, as
// automerge's get_heads. The slice is shared and must not be modified;
// g never modifies it either (Add replaces it), so it stays valid after
// later Adds, as the heads of the time (State keeps it).
func (g *Graph) Heads() []automerge.ChangeHash {
	if g.sorted == nil {
		g.sorted = make([]automerge.ChangeHash, 0, len(g.heads))
		for h := range g.heads {
			g.sorted = append(g.sorted, h)
		}
		sortHashes(g.sorted)
	}
	return g.sorted
}

// missingDeps is automerge's get_missing_deps: the dependencies of
// queued changes and the hashes of heads that the document does not
// hold and that are not queued themselves, sorted.
func (g *Graph) missingDeps(heads []automerge.ChangeHash) []automerge.ChangeHash {
	var missing []automerge.ChangeHash
	add := func(h automerge.ChangeHash) {
		if g.Has(h) {
			return
		}
		if _, ok := g.queue[h]; ok {
			return
		}
		if !slices.Contains(missing, h) {
			missing = append(missing, h)
		}
	}
	for _, deps := range g.queue {
		for _, d := range deps {
			add(d)
		}
	}
	for _, h := range heads {
		add(h)
	}
	sortHashes(missing)
	return missing
}

// since is automerge's get_changes(have): the positions of the changes
// that are not have or an ancestor of a change in have (unknown hashes in
// have are ignored), in history order. It walks back from the heads and
// from have together in descending history order and stops as soon as
// every change still to visit is an ancestor of have, so a peer one
// change behind costs a few steps whatever the document's size. The
// result must not be modified.
func (g *Graph) since(have []automerge.ChangeHash) ([]int32, error) {
	if len(have) == 0 {
		all := make([]int32, g.Len())
		for i := range all {
			all[i] = int32(i)
		}
		return all, nil
	}
	if slices.Equal(have, g.Heads()) {
		return nil, nil
	}
	if m := g.memoFor(have); m != nil {
		return m.out, nil
	}
	const fromHeads, fromHave = 1, 2
	ep := g.epochs(1)
	q := g.heap[:0]
	onlyHeads := 0
	mark := func(p int32, f uint8) {
		mk := g.marks.at(p)
		if mk.epoch != ep {
			mk.epoch, mk.flags = ep, f
			q.push(p)
			if f == fromHeads {
				onlyHeads++
			}
			return
		}
		old := mk.flags
		if mk.flags |= f; old == fromHeads && mk.flags != fromHeads {
			onlyHeads--
		}
	}
	for h := range g.heads {
		mark(g.pos(&h), fromHeads)
	}
	for _, h := range have {
		if p := g.pos(&h); p >= 0 {
			mark(p, fromHave)
		}
	}
	var out []int32
	for onlyHeads > 0 {
		p := q.pop()
		f := g.marks.at(p).flags
		if f == fromHeads {
			onlyHeads--
			out = append(out, p)
		}
		deps, err := g.depsAt(p)
		if err != nil {
			g.heap = q[:0]
			return nil, fmt.Errorf("walk since the peer's heads: %w", err)
		}
		for _, d := range deps {
			mark(d, f)
		}
	}
	g.heap = q[:0]
	slices.Reverse(out)
	for _, h := range have {
		if !g.Has(h) {
			// An unknown hash may become known and then hide its
			// ancestors: such an answer is not kept.
			return out, nil
		}
	}
	m := &g.memo[g.memoNext]
	g.memoNext = (g.memoNext + 1) % memoSize
	m.have, m.out, m.ok, m.n, m.bloom, m.hasBloom = append(m.have[:0], have...), out, true, g.Len(), Bloom{}, false
	m.key = haveKey(have)
	return out, nil
}

// haveKey is a fingerprint of a set of heads for memoFor: the number
// of heads and the first eight bytes of each. Equal sets have equal
// keys; the hashes are SHA-256, so unequal sets nearly never do.
func haveKey(have []automerge.ChangeHash) uint64 {
	k := uint64(len(have))
	for i := range have {
		k = k*0x100000001b3 ^ binary.LittleEndian.Uint64(have[i][:8])
	}
	return k
}

// memoFor returns the memo entry answering since(have), brought up to
// date with the changes added since it was computed, or nil.
func (g *Graph) memoFor(have []automerge.ChangeHash) *sinceMemo {
	key := haveKey(have)
	for i := range g.memo {
		m := &g.memo[i]
		if !m.ok || m.key != key || !slices.Equal(have, m.have) {
			continue
		}
		if n := g.Len(); m.n < n {
			// Appending never changes the part of out that earlier
			// callers hold.
			for p := m.n; p < n; p++ {
				m.out = append(m.out, int32(p))
			}
			m.n = n
			m.bloom, m.hasBloom = Bloom{}, false
		}
		return m
	}
	return nil
}

// removeAncestors is automerge's filter_changes: it deletes from set
// every hash that is one of heads (those the document holds) or an
// ancestor of one. Only changes at or after the earliest change of set
// are visited. It fails only when a change to visit is cold and cannot
// be read back (ErrSpillRead); set then lacks some of what it should.
func (g *Graph) removeAncestors(set map[automerge.ChangeHash]struct{}, heads []automerge.ChangeHash) error {
	if len(set) == 0 {
		return nil
	}
	floor := int32(g.Len())
	for h := range set {
		if p := g.pos(&h); p >= 0 && p < floor {
			floor = p
		}
	}
	seen := g.epochs(1)
	var stack []int32
	for _, h := range heads {
		if p := g.pos(&h); p >= floor && g.marks.at(p).seen != seen {
			g.marks.at(p).seen = seen
			stack = append(stack, p)
		}
	}
	for len(stack) > 0 && len(set) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		n, err := g.nodeAt(p)
		if err != nil {
			return fmt.Errorf("walk below the peer's heads: %w", err)
		}
		delete(set, n.hash)
		deps, err := g.depsAt(p)
		if err != nil {
			return fmt.Errorf("walk below the peer's heads: %w", err)
		}
		for _, d := range deps {
			if d >= floor && g.marks.at(d).seen != seen {
				g.marks.at(d).seen = seen
				stack = append(stack, d)
			}
		}
	}
	return nil
}

// idxHeap is a max-heap of history positions.
type idxHeap []int32

func (h *idxHeap) push(x int32) {
	*h = append(*h, x)
	q := *h
	for i := len(q) - 1; i > 0; {
		p := (i - 1) / 2
		if q[p] >= q[i] {
			break
		}
		q[p], q[i] = q[i], q[p]
		i = p
	}
}

func (h *idxHeap) pop() int32 {
	q := *h
	top := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q = q[:last]
	for i := 0; ; {
		l, r, big := 2*i+1, 2*i+2, i
		if l < len(q) && q[l] > q[big] {
			big = l
		}
		if r < len(q) && q[r] > q[big] {
			big = r
		}
		if big == i {
			break
		}
		q[i], q[big] = q[big], q[i]
		i = big
	}
	*h = q
	return top
}

func sortHashes(hs []automerge.ChangeHash) {
	slices.SortFunc(hs, func(a, b automerge.ChangeHash) int { return bytes.Compare(a[:], b[:]) })
}
