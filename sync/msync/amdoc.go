package msync

import (
	"fmt"
	"slices"

	"github.com/automerge/automerge-go"
)

// Index returns the graph of doc's changes (one cgo call for the
// changes, one per change for its bytes).
func Index(doc *automerge.Doc) (*Graph, error) {
	g := NewGraph()
	if err := g.addFrom(doc, nil); err != nil {
		return nil, err
	}
	return g, nil
}

// CatchUp brings g up to date with doc, whose heads are heads (sorted,
// as doc.Heads returns them): nothing to do when g already has those
// heads, else the changes doc applied since g's heads are added, or g is
// rebuilt when doc no longer holds g's heads (a document replaced by
// another). It returns the graph to use from now on (g or a new one).
func CatchUp(g *Graph, doc *automerge.Doc, heads []automerge.ChangeHash) (*Graph, error) {
	if g == nil {
		return Index(doc)
	}
	if slices.Equal(g.Heads(), heads) {
		return g, nil
	}
	for _, h := range g.Heads() {
		if !doc.HasChange(h) {
			return Index(doc)
		}
	}
	if err := g.addFrom(doc, slices.Clone(g.Heads())); err != nil {
		return nil, err
	}
	return g, nil
}

// addFrom adds the changes of doc since the heads since (all when
// empty), in doc's history order.
func (g *Graph) addFrom(doc *automerge.Doc, since []automerge.ChangeHash) error {
	chs, err := doc.Changes(since...)
	if err != nil {
		return fmt.Errorf("msync: read changes: %w", err)
	}
	defer automerge.CloseChanges(chs)
	for _, ch := range chs {
		raw := ch.Save()
		c, err := ParseChange(raw)
		if err != nil {
			return fmt.Errorf("msync: index change %s: %w", ch.Hash(), err)
		}
		g.Add(c, raw)
	}
	return nil
}

// ApplyTo returns the apply function of Receive for doc: it refuses a
// message with a change automerge would abort on (Graph.Guard), or after
// which too many changes would wait in doc for missing dependencies
// (ErrQueueFull: not in Guard, whose scratch documents hold none of the
// dependencies), decodes the encoded message msg (m's source) with
// automerge, which validates its changes' operations as automerge's own
// receive does, applies them to doc, then adds to g what doc applied,
// from m's own chunks (reading from doc only changes it applied from its
// queue), and queues what it kept back for missing dependencies. It
// reports the document's new heads through *heads.
func ApplyTo(doc *automerge.Doc, g *Graph, msg []byte, heads *[]automerge.ChangeHash) func(m *Message) error {
	return ApplyCharged(doc, g, msg, heads, nil)
}

// ApplyCharged is ApplyTo that charges the bytes of the message's
// changes automerge queues to the budget returned by budget, called only
// for a message some of whose changes would wait (nil, or a nil budget:
// no charge), and refuses the message, nothing applied, when that budget
// or its parent would pass its limit (ErrWaitBudget, which matches
// ErrQueueFull). The bytes return to the budget when g adds the change
// or is released (Graph.Release).
func ApplyCharged(doc *automerge.Doc, g *Graph, msg []byte, heads *[]automerge.ChangeHash, budget func() *WaitBudget) func(m *Message) error {
	return func(m *Message) error {
		admitted, waiting, bytes, fresh, err := g.guard(m)
		if err != nil {
			return err
		}
		if maxN, maxB := g.queueLimits(); waiting > maxN || bytes > maxB {
			return fmt.Errorf("%w: %d changes (%d bytes) would wait for their dependencies, limit %d changes and %d bytes per document", ErrQueueFull, waiting, bytes, maxN, maxB)
		}
		var b *WaitBudget
		if fresh > 0 && budget != nil {
			b = budget()
		}
		if b != nil {
			if err := b.reserve(int64(fresh)); err != nil {
				return err
			}
		}
		charged, queued, err := g.applyQueued(doc, msg, m, admitted, heads, b)
		b.release(int64(fresh-charged), -int64(queued))
		return err
	}
}

// applyQueued is ApplyCharged past its checks; it returns the bytes and
// the number of the changes it queued charged to b.
func (g *Graph) applyQueued(doc *automerge.Doc, msg []byte, m *Message, admitted map[automerge.ChangeHash]pending, heads *[]automerge.ChangeHash, b *WaitBudget) (charged, queued int, err error) {
	sm, err := automerge.LoadSyncMessage(msg)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	defer sm.Close()
	if err := doc.Apply(sm.Changes()...); err != nil {
		return 0, 0, fmt.Errorf("msync: apply changes: %w", err)
	}
	before := slices.Clone(g.Heads())
	now := doc.Heads()
	if !slices.Equal(before, now) {
		g.addApplied(doc, m)
		if !slices.Equal(g.Heads(), now) {
			// doc also applied changes it had queued from earlier
			// messages: read what is still missing from it.
			if err := g.addFrom(doc, before); err != nil {
				return 0, 0, err
			}
		}
	}
	for _, c := range m.Changes {
		if g.Has(c.Hash) {
			continue
		}
		g.Queue(c)
		if _, dup := g.queued[c.Hash]; dup {
			continue
		}
		if p, ok := admitted[c.Hash]; ok {
			if g.queued == nil {
				g.queued = map[automerge.ChangeHash]pending{}
			}
			p.budget = b
			g.queued[c.Hash] = p
			if b != nil {
				charged += p.size
				queued++
			}
		}
	}
	*heads = now
	return charged, queued, nil
}

// addApplied adds to g, dependencies first, the changes of m that doc
// holds and g does not, with copies of m's chunks (the message's buffer
// is not kept): a change whose dependencies g lacks is left out.
func (g *Graph) addApplied(doc *automerge.Doc, m *Message) {
	var left []int
	for i, c := range m.Changes {
		if !g.Has(c.Hash) && doc.HasChange(c.Hash) {
			left = append(left, i)
		}
	}
	for progress := true; progress && len(left) > 0; {
		progress = false
		rest := left[:0]
		for _, i := range left {
			c := m.Changes[i]
			if slices.ContainsFunc(c.Deps, func(d automerge.ChangeHash) bool { return !g.Has(d) }) {
				rest = append(rest, i)
				continue
			}
			g.Add(c, m.Raw[i])
			progress = true
		}
		left = rest
	}
}
