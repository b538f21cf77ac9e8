package msync

import (
	"bytes"
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
// earlier among them (none would be queued), and CheckSeq passes with
// the earlier ones counted (no DuplicateSeqNumber). Parsed changes pass
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
		if n >= c.Seq {
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
		g.Add(m.Changes[i], bytes.Clone(m.Raw[i]))
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
// 0.5 applies each without failing a check it never makes: every
// operation reads (docs.DecodeChangeOps: actor indices of objects, keys
// and predecessors within the change's actors — an index past them
// aborts automerge's import_ops), acts on a map key (no list or text
// element: automerge's sequence trees panic on element references they
// cannot place), and the change's operation ids are all above every
// operation id its actor has in g and in the changes before it (a reused
// id corrupts automerge's trees, and applying the change aborts). A
// change automerge would apply all the same but Vouch cannot vouch for
// (a list insert, a concurrent change of a forked actor id) makes ok
// false: the document applies it. Go memory only; g's per-actor index
// of operation ids is brought up to date on the way (every change g
// gained since the last call is decoded once).
func (g *Graph) Vouch(m *Message, fresh []int) (ops []*docs.ChangeOps, ok bool) {
	if !g.indexOps() {
		return nil, false
	}
	var mine map[string]uint64
	for _, i := range fresh {
		c, err := docs.DecodeChangeOps(m.Raw[i])
		if err != nil || len(c.Ops) == 0 {
			return nil, false
		}
		for _, op := range c.Ops {
			if !op.MapKey {
				return nil, false
			}
		}
		actor := string(c.Actors[0])
		top, seen := mine[actor]
		if !seen {
			top = g.opMax[actor]
		}
		last := c.StartOp + uint64(len(c.Ops)) - 1
		if c.StartOp <= top || last < c.StartOp {
			return nil, false
		}
		if mine == nil {
			mine = map[string]uint64{}
		}
		mine[actor] = last
		ops = append(ops, c)
	}
	return ops, true
}

// indexOps brings g.opMax up to date with g's changes and reports
// whether it could: a change whose operations do not decode leaves the
// index where it was (Vouch then vouches for nothing).
func (g *Graph) indexOps() bool {
	if g.opMax == nil {
		g.opMax = map[string]uint64{}
	}
	for ; g.opMaxN < len(g.order); g.opMaxN++ {
		c, err := docs.DecodeChangeOps(g.order[g.opMaxN].raw)
		if err != nil {
			return false
		}
		if n := uint64(len(c.Ops)); n > 0 {
			actor := string(c.Actors[0])
			g.opMax[actor] = max(g.opMax[actor], c.StartOp+n-1)
		}
	}
	return true
}
