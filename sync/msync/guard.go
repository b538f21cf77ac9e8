package msync

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/sync/docs"
)

// pending is a change Guard admitted that g does not hold yet: one of
// the message being checked, or one automerge queues (Graph.queued).
type pending struct {
	hash  automerge.ChangeHash
	deps  []automerge.ChangeHash
	actor string
	seq   uint64
	// lo and hi are the operation ids it uses: counters lo through hi
	// of actor; hi == 0 for a change without operations.
	lo, hi uint64
	ops    *docs.ChangeOps
	size   int // the chunk's length
	// budget is what its bytes are charged to while it is queued
	// (ApplyCharged; nil: nothing).
	budget *WaitBudget
}

// pendingOf decodes the change c (raw its chunk) into its pending
// record.
func pendingOf(c Change, raw []byte) (pending, error) {
	ops, err := docs.DecodeChangeOps(raw)
	if err != nil {
		return pending{}, fmt.Errorf("%w: change %s: %v", ErrMalformed, c.Hash, err)
	}
	p := pending{hash: c.Hash, deps: c.Deps, actor: string(c.Actor), seq: c.Seq, ops: ops, size: len(raw)}
	if n := uint64(len(ops.Ops)); n > 0 {
		p.lo, p.hi = ops.StartOp, ops.StartOp+n-1
		if p.hi < p.lo {
			return pending{}, fmt.Errorf("%w: change %s: operation ids overflow", ErrMalformed, c.Hash)
		}
	}
	return p, nil
}

// Guard checks, in Go memory and before any automerge document sees
// them, the changes of m that g lacks, and refuses the message (an
// error matching ErrMalformed) when one of them is a change automerge
// 0.5 does not refuse but aborts the whole process on, or applies and is
// left with a document whose saved bytes it cannot load again
// (TestGuardedHazards, FuzzGuard):
//   - a change docs.DecodeChangeOps does not read: one it cannot fully
//     read, actor indices past the change's actors, any column encoded
//     other than as automerge encodes it, values of the wrong type;
//   - operation ids its actor already used: in a change of g, in a change
//     g queues (admitted by an earlier Guard), or in another change of m;
//   - a sequence number that is not one past its actor's changes when
//     automerge would apply it: with the message's changes and those g
//     queues applied in dependency order, as automerge applies them, each
//     must be its actor's next, and no two changes of one actor may be
//     ready at once (their order would be automerge's choice);
//   - an operation that refers to an operation not applied before it:
//     the object it acts on (made by an earlier operation, of the kind
//     its key needs), the element it sets or inserts after (inserted
//     earlier in the same object), the operations it overwrites (in the
//     same object and key or element, earlier); a deletion or increment
//     that overwrites nothing, an insertion that overwrites anything.
//
// With a content check (SetContentCheck), it also refuses a change the
// check refuses, with the check's error (not ErrMalformed).
//
// A change from a correct automerge client passes: its first operation
// id is one past the largest of its history, which holds its actor's
// previous change and every operation it refers to. It returns the
// admitted changes by hash, for ApplyTo to remember those automerge
// queues. Guard brings g's index of operation ids up to date on the way
// (each change g gained since the last call is decoded once).
func (g *Graph) Guard(m *Message) (map[automerge.ChangeHash]pending, error) {
	admitted, _, _, _, err := g.guard(m)
	return admitted, err
}

// guard is Guard that also returns how many changes, and bytes of them,
// would wait for missing dependencies once automerge took m: the ones
// it queues now and the ones of m it would queue (0 when m brings no
// change g lacks); fresh is the bytes of the ones of m.
func (g *Graph) guard(m *Message) (admitted map[automerge.ChangeHash]pending, waiting, bytes, fresh int, err error) {
	admitted = map[automerge.ChangeHash]pending{}
	var news []pending
	for i, c := range m.Changes {
		if _, seen := admitted[c.Hash]; seen || g.Has(c.Hash) {
			continue
		}
		if _, queued := g.queued[c.Hash]; queued {
			continue
		}
		p, err := pendingOf(c, m.Raw[i])
		if err != nil {
			return nil, 0, 0, 0, err
		}
		if g.content != nil {
			if err := g.content(p.ops); err != nil {
				return nil, 0, 0, 0, fmt.Errorf("msync: change %s: %w", c.Hash, err)
			}
		}
		g.ops.remember(&p)
		admitted[c.Hash] = p
		news = append(news, p)
	}
	if len(news) == 0 {
		return nil, 0, 0, 0, nil
	}
	if _, err := g.indexOps(); err != nil {
		return nil, 0, 0, 0, err
	}
	all := slices.Clone(news)
	for _, p := range g.queued {
		all = append(all, p)
	}
	if err := g.checkOpIDs(all); err != nil {
		return nil, 0, 0, 0, err
	}
	if waiting, bytes, fresh, err = g.checkOrder(all, len(news)); err != nil {
		return nil, 0, 0, 0, err
	}
	// The queued changes count too, before the message's: they apply
	// with it once their dependencies arrive.
	order := slices.Clone(all[len(news):])
	slices.SortFunc(order, func(a, b pending) int {
		return cmp.Or(cmp.Compare(a.seq, b.seq), cmp.Compare(a.actor, b.actor))
	})
	if err := g.checkEntries(append(order, news...)); err != nil {
		return nil, 0, 0, 0, fmt.Errorf("msync: %w", err)
	}
	return admitted, waiting, bytes, fresh, nil
}

// ErrQueueFull is returned by ApplyTo for a message after
// which more changes than MaxQueuedChanges, or more bytes of them than
// MaxQueuedBytes, would wait in the document for dependencies it lacks.
// automerge keeps such changes in memory, unsaved, until the
// dependencies arrive; without a bound one writer's stream of changes
// whose dependencies never come grew the document's memory without end
// (its store quota counts only stored changes).
var ErrQueueFull = errors.New("msync: too many changes waiting for their dependencies")

// MaxQueuedChanges and MaxQueuedBytes bound, per document, the changes
// ApplyTo lets automerge queue for missing dependencies (as
// sync/repo.DefaultHoldLimits bounds a document's held-back changes). An
// honest peer's changes wait only until its next message answers the
// need for what a Bloom filter false positive skipped.
const (
	MaxQueuedChanges = 1024
	MaxQueuedBytes   = 4 << 20
)

// queueLimits returns the graph's bounds on queued changes: the
// defaults, or smaller ones set by a test.
func (g *Graph) queueLimits() (changes, bytes int) {
	changes, bytes = MaxQueuedChanges, MaxQueuedBytes
	if g.queueMax > 0 {
		changes = g.queueMax
	}
	if g.queueMaxBytes > 0 {
		bytes = g.queueMaxBytes
	}
	return changes, bytes
}

// GuardScratch is Guard for the encoded sync message msg about to be read
// into a new, empty document (a scratch decode: the check of a document's
// creation, or of a checked writer's changes before they are applied).
// automerge applies at once every change of the message that depends on
// nothing the scratch document lacks, and it aborts the process, or
// corrupts the document, on the changes Guard refuses; so whoever hands
// automerge untrusted bytes through a scratch document calls this first.
// It returns an error matching ErrMalformed for a message that does not
// decode or that Guard refuses over an empty graph.
func GuardScratch(msg []byte) error {
	m, err := DecodeMessage(msg)
	if err != nil {
		return err
	}
	_, err = NewGraph().Guard(m)
	return err
}

// checkOpIDs refuses changes among ps whose operation ids their actor
// used in g or in another of ps. g's index is up to date (indexOps).
func (g *Graph) checkOpIDs(ps []pending) error {
	spans := slices.DeleteFunc(slices.Clone(ps), func(p pending) bool { return p.hi == 0 })
	slices.SortFunc(spans, func(a, b pending) int {
		return cmp.Or(cmp.Compare(a.actor, b.actor), cmp.Compare(a.lo, b.lo))
	})
	for i, s := range spans {
		if top := g.ops.max[s.actor]; s.lo <= top {
			return fmt.Errorf("%w: change %s reuses operation ids of its actor (%d ≤ %d)", ErrMalformed, s.hash, s.lo, top)
		}
		if i > 0 && spans[i-1].actor == s.actor && spans[i-1].hi >= s.lo {
			return fmt.Errorf("%w: changes %s and %s share operation ids", ErrMalformed, spans[i-1].hash, s.hash)
		}
	}
	return nil
}

// checkOrder applies ps to g's per-actor counts in dependency order
// (Kahn: a change is ready once g or an applied one of ps holds each of
// its dependencies; one with a dependency in neither stays queued, as in
// automerge) and refuses a ready change whose sequence number is not its
// actor's next, or whose operations refer to operations not applied
// before them (checkRefs), or two of one actor ready at once. g's index
// is up to date (indexOps). It returns how many of ps stay queued, their
// bytes, and the bytes of those among the first fresh of ps.
func (g *Graph) checkOrder(ps []pending, fresh int) (waitingN, waitingBytes, freshBytes int, err error) {
	at := make(map[automerge.ChangeHash]int, len(ps))
	for i, p := range ps {
		at[p.hash] = i
	}
	waiting := make([]int, len(ps))
	dependents := map[int][]int{}
	var ready []int
	readyBy := map[string]automerge.ChangeHash{}
	push := func(i int) error {
		p := ps[i]
		if other, ok := readyBy[p.actor]; ok {
			return fmt.Errorf("%w: changes %s and %s of one actor are ready at once", ErrMalformed, other, p.hash)
		}
		readyBy[p.actor] = p.hash
		ready = append(ready, i)
		return nil
	}
	for i, p := range ps {
		for _, d := range p.deps {
			switch j, ok := at[d]; {
			case ok:
				waiting[i]++
				dependents[j] = append(dependents[j], i)
			case !g.Has(d):
				// Never ready in this call: automerge keeps it queued.
				waiting[i] = -len(ps) - 1
			}
		}
		if waiting[i] == 0 {
			if err := push(i); err != nil {
				return 0, 0, 0, err
			}
		}
	}
	waitingN = len(ps)
	for _, p := range ps {
		waitingBytes += p.size
	}
	counts := map[string]uint64{}
	applied := appliedOps{}
	for len(ready) > 0 {
		i := ready[len(ready)-1]
		ready = ready[:len(ready)-1]
		p := ps[i]
		delete(readyBy, p.actor)
		n, ok := counts[p.actor]
		if !ok {
			if c := g.seqs[p.actor]; c != nil {
				n = *c
			}
		}
		if p.seq != n+1 {
			return 0, 0, 0, fmt.Errorf("%w: change %s has sequence number %d, its actor's next is %d", ErrMalformed, p.hash, p.seq, n+1)
		}
		counts[p.actor] = n + 1
		if err := g.checkRefs(p, applied); err != nil {
			return 0, 0, 0, fmt.Errorf("%w: change %s: %v", ErrMalformed, p.hash, err)
		}
		applied.add(p)
		waitingN--
		waitingBytes -= p.size
		for _, j := range dependents[i] {
			if waiting[j]--; waiting[j] == 0 {
				if err := push(j); err != nil {
					return 0, 0, 0, err
				}
			}
		}
	}
	for i, w := range waiting[:fresh] {
		if w != 0 {
			freshBytes += ps[i].size
		}
	}
	return waitingN, waitingBytes, freshBytes, nil
}

// appliedOps are the changes checkOrder applied so far, by actor, in
// order of their first operation id.
type appliedOps map[string][]pending

func (a appliedOps) add(p pending) {
	if p.hi == 0 {
		return
	}
	ps := a[p.actor]
	at := sort.Search(len(ps), func(i int) bool { return ps[i].lo > p.lo })
	a[p.actor] = slices.Insert(ps, at, p)
}

// opRef is an operation found by id: the change holding it and its
// position there.
type opRef struct {
	c *docs.ChangeOps
	i int
}

func (r opRef) op() docs.ChangeOp { return r.c.Ops[r.i] }

// id returns the operation's counter and actor.
func (r opRef) id() (uint64, string) {
	return r.c.StartOp + uint64(r.i), string(r.c.Actors[0])
}

// obj returns the id of the object the operation acts on ("" and 0 for
// the root map).
func (r opRef) obj() (uint64, string) {
	op := r.op()
	if op.Root() {
		return 0, ""
	}
	return op.ObjCounter, string(r.c.Actors[op.ObjActor])
}

// elem returns the element of a sequence the operation inserts (its own
// id) or acts on.
func (r opRef) elem() (uint64, string) {
	op := r.op()
	if op.Insert {
		return r.id()
	}
	return op.ElemCounter, string(r.c.Actors[op.ElemActor])
}

// checkRefs checks that every operation of p refers only to operations
// before it: in p, in a change applied before p (applied), or in g.
func (g *Graph) checkRefs(p pending, applied appliedOps) error {
	find := func(self int, ctr uint64, actor string) (opRef, error) {
		id := p.lo + uint64(self)
		switch {
		case ctr >= id:
			return opRef{}, fmt.Errorf("op %d refers to a later operation %d@%x", self, ctr, actor)
		case actor == p.actor && ctr >= p.lo:
			return opRef{p.ops, int(ctr - p.lo)}, nil
		}
		ps := applied[actor]
		if at := sort.Search(len(ps), func(i int) bool { return ps[i].lo > ctr }) - 1; at >= 0 && ps[at].hi >= ctr {
			return opRef{ps[at].ops, int(ctr - ps[at].lo)}, nil
		}
		c, i, ok, err := g.opAt(actor, ctr)
		if err != nil {
			return opRef{}, fmt.Errorf("op %d: %w", self, err)
		}
		if ok {
			return opRef{c, i}, nil
		}
		return opRef{}, fmt.Errorf("op %d refers to operation %d@%x, which no change holds", self, ctr, actor)
	}
	for j, op := range p.ops.Ops {
		me := opRef{p.ops, j}
		objCtr, objActor := me.obj()
		seq := false
		if objCtr > 0 {
			made, err := find(j, objCtr, objActor)
			if err != nil {
				return err
			}
			mk := made.op()
			if !mk.Makes() {
				return fmt.Errorf("op %d acts on %d@%x, which made no object", j, objCtr, objActor)
			}
			seq = mk.MakesSequence()
		}
		if g.content != nil && op.Makes() {
			if err := checkDepth(j, objCtr, objActor, find); err != nil {
				return err
			}
		}
		if op.MapKey == seq {
			return fmt.Errorf("op %d: a key of the wrong kind for its object", j)
		}
		if !op.MapKey && op.ElemCounter == 0 && !op.Insert {
			return fmt.Errorf("op %d sets the head of a sequence", j)
		}
		if !op.MapKey && op.ElemCounter > 0 {
			ec, ea := op.ElemCounter, string(p.ops.Actors[op.ElemActor])
			el, err := find(j, ec, ea)
			if err != nil {
				return err
			}
			if oc, oa := el.obj(); !el.op().Insert || oc != objCtr || oa != objActor {
				return fmt.Errorf("op %d: element %d@%x is no element of its object", j, ec, ea)
			}
		}
		switch {
		case op.Insert && len(op.Preds) > 0:
			return fmt.Errorf("op %d inserts and overwrites", j)
		case op.ActsOnPreds() && len(op.Preds) == 0:
			return fmt.Errorf("op %d deletes or increments nothing", j)
		}
		for _, pr := range op.Preds {
			prev, err := find(j, pr.Counter, string(p.ops.Actors[pr.Actor]))
			if err != nil {
				return err
			}
			pop := prev.op()
			oc, oa := prev.obj()
			same := oc == objCtr && oa == objActor && pop.MapKey == op.MapKey
			if same && op.MapKey {
				same = pop.Key == op.Key
			} else if same {
				c, a := prev.elem()
				same = c == op.ElemCounter && a == string(p.ops.Actors[op.ElemActor])
			}
			if !same {
				return fmt.Errorf("op %d overwrites %d@%x, which is not at its key", j, pr.Counter, p.ops.Actors[pr.Actor])
			}
		}
	}
	return nil
}

// checkDepth refuses operation self, which makes an object inside the
// object ctr@actor (0: the root map), when the new object would nest
// deeper than docs.MaxObjectDepth: it follows the makers of the objects
// above it (find, as checkRefs finds operations) up to the root, at
// most docs.MaxObjectDepth of them. Part of the content check
// (Graph.SetContentCheck), which docs.CheckContent cannot make alone:
// the objects above may be older than the change.
func checkDepth(self int, ctr uint64, actor string, find func(self int, ctr uint64, actor string) (opRef, error)) error {
	for depth := 1; ctr > 0; {
		if depth++; depth > docs.MaxObjectDepth {
			return fmt.Errorf("%w: op %d makes an object nested deeper than %d", docs.ErrBadContent, self, docs.MaxObjectDepth)
		}
		made, err := find(self, ctr, actor)
		if err != nil {
			return err
		}
		ctr, actor = made.obj()
	}
	return nil
}
