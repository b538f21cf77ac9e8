package msync

import (
	"fmt"
	"slices"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/sync/docs"
)

// Fresh returns the positions in m of the changes g lacks, in message
// order (a change repeated in m once), when automerge 0.5's
// apply_changes would apply every one of them at once, given that it
// parses them (CheckParse): g queues no change (automerge applies no
// queued change along with them), each one's dependencies are in g or
// earlier among them (none would be queued), and each is its actor's
// next change, the earlier ones counted: CheckSeq passes (no
// DuplicateSeqNumber), and no sequence number skips one (automerge
// applies such a change, then saves a document it cannot load: Guard).
// Parsed changes pass
// nothing else in apply_changes that can fail: an operation on an
// object the document lacks is skipped with a warning, not refused
// (docs/ARCHITECTURE.md §6 "Neutral changes skip automerge"). ok is
// false otherwise; fresh is empty when g has them all. It reads only
// Go memory.
func (g *Graph) Fresh(m *Message) (fresh []int, ok bool) {
	if len(g.queue) > 0 {
		return nil, false
	}
	var seen map[automerge.ChangeHash]struct{}
	var counted map[string]uint64
	for i, c := range m.Changes {
		if g.Has(c.Hash) {
			continue
		}
		if _, dup := seen[c.Hash]; dup {
			continue
		}
		for _, d := range c.Deps {
			if _, earlier := seen[d]; !earlier && !g.Has(d) {
				return nil, false
			}
		}
		n := counted[string(c.Actor)]
		if p := g.seqs[string(c.Actor)]; p != nil {
			n += *p
		}
		if c.Seq != n+1 {
			return nil, false
		}
		if seen == nil {
			seen = map[automerge.ChangeHash]struct{}{}
			counted = map[string]uint64{}
		}
		seen[c.Hash] = struct{}{}
		counted[string(c.Actor)]++
		fresh = append(fresh, i)
	}
	return fresh, true
}

// CheckParse decodes the encoded sync message msg with automerge, which
// parses every change it carries (columns, actors, operations) as its
// receive does before applying them, and frees the decoded message at
// once. It returns ErrMalformed when automerge refuses it.
func CheckParse(msg []byte) error {
	sm, err := automerge.LoadSyncMessage(msg)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	sm.Close()
	return nil
}

// AddFresh adds to g the changes of m at the positions fresh (Fresh's
// answer, in order), with copies of their chunks: the message's buffer
// is not kept.
func (g *Graph) AddFresh(m *Message, fresh []int) {
	for _, i := range fresh {
		g.Add(m.Changes[i], m.Raw[i])
	}
}

// ApplyStored returns the apply function of Receive for a message whose
// changes Fresh accepted at positions fresh and CheckParse parsed: it
// adds them to g without any document applying them, and reports g's
// new heads through *heads. The caller keeps the document that g
// mirrors behind by those changes until it applies them (Graph.RawAt
// from the old length on).
func ApplyStored(g *Graph, fresh []int, heads *[]automerge.ChangeHash) func(m *Message) error {
	return func(m *Message) error {
		g.AddFresh(m, fresh)
		*heads = slices.Clone(g.Heads())
		return nil
	}
}

// Vouch reads the operations of the changes of m at the positions fresh
// (Fresh's answer) and returns them, in the same order, when automerge
// 0.5 applies them without failing a check it never makes: Guard's
// checks pass (operations it reads, written as automerge writes them,
// fresh operation ids, each change its actor's next, objects, elements
// and predecessors that exist where the operations say), every change
// has operations, and each acts on a map key (no list or text element).
// A change automerge would apply all the same but Vouch does not vouch
// for (a text edit, a change the content check refuses) makes ok false:
// the document applies it, behind Guard. Go memory only; g's index of operation ids is brought up to
// date on the way (every change g gained since the last call is decoded
// once).
func (g *Graph) Vouch(m *Message, fresh []int) (ops []*docs.ChangeOps, ok bool) {
	if complete, err := g.indexOps(); err != nil || !complete {
		return nil, false
	}
	ps := make([]pending, 0, len(fresh))
	for _, i := range fresh {
		p, err := pendingOf(m.Changes[i], m.Raw[i])
		if err != nil || len(p.ops.Ops) == 0 {
			return nil, false
		}
		if g.content != nil && g.content(p.ops) != nil {
			return nil, false
		}
		g.ops.remember(&p)
		for _, op := range p.ops.Ops {
			if !op.MapKey {
				return nil, false
			}
		}
		ps = append(ps, p)
		ops = append(ops, p.ops)
	}
	if g.checkOpIDs(ps) != nil {
		return nil, false
	}
	if g.content != nil && !g.vouchDepth(ps) {
		return nil, false
	}
	if _, _, _, err := g.checkOrder(ps, 0); err != nil {
		return nil, false
	}
	if g.checkEntries(ps) != nil {
		return nil, false
	}
	return ops, true
}

// vouchDepth reports whether no operation of ps (Vouch's changes, in
// order) makes an object nested deeper than docs.MaxObjectDepth
// (checkDepth), finding the objects above in the change itself, an
// earlier change of ps or g. An object it cannot find is not vouched
// for: Guard then decides.
func (g *Graph) vouchDepth(ps []pending) bool {
	for k, p := range ps {
		find := func(self int, ctr uint64, actor string) (opRef, error) {
			for _, q := range slices.Backward(ps[:k+1]) {
				if q.actor == actor && q.hi > 0 && ctr >= q.lo && ctr <= q.hi {
					return opRef{q.ops, int(ctr - q.lo)}, nil
				}
			}
			c, i, ok, err := g.opAt(actor, ctr)
			if err != nil || !ok {
				return opRef{}, fmt.Errorf("op %d: operation %d@%x not found", self, ctr, actor)
			}
			return opRef{c, i}, nil
		}
		for j, op := range p.ops.Ops {
			if !op.Makes() || op.Root() {
				continue
			}
			if checkDepth(j, op.ObjCounter, string(p.ops.Actors[op.ObjActor]), find) != nil {
				return false
			}
		}
	}
	return true
}
