package msync

import (
	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/sync/docs"
)

// opIndex is what Guard knows of a graph's operations without holding
// them: per actor, the largest operation counter and the range of
// counters of each change, by its position in the graph's order. An
// operation is read back by decoding its change's chunk (a few recently
// read ones are kept decoded).
type opIndex struct {
	n       int // changes of order indexed
	partial bool
	max     map[string]uint64
	ranges  map[string]*opRuns
	decoded map[int]*docs.ChangeOps
	// checked holds the operation ids of changes Guard or Vouch decoded
	// that the graph may add next, so indexOps need not decode them
	// again (at most maxChecked; a change never added is forgotten when
	// the table is cleared at the bound).
	checked map[automerge.ChangeHash]opSpan
}

// opSpan is the operation ids of one change: counters lo through
// lo+n-1 of actor (n is 0 for a change without operations).
type opSpan struct {
	actor string
	lo    uint64
	n     int
}

// maxChecked bounds opIndex.checked.
const maxChecked = 1024

// remember records the operation ids of p, a change decoded for Guard or
// Vouch, for indexOps.
func (x *opIndex) remember(p *pending) {
	if x.checked == nil || len(x.checked) >= maxChecked {
		x.checked = make(map[automerge.ChangeHash]opSpan)
	}
	x.checked[p.hash] = opSpan{actor: p.actor, lo: p.ops.StartOp, n: len(p.ops.Ops)}
}

// opRange is the counters lo through lo+n-1 of one change, the graph's
// node idx (opRuns packs them).
type opRange struct {
	lo  uint64
	n   uint32
	idx int32
}

// hi returns r's last counter.
func (r opRange) hi() uint64 { return r.lo + uint64(r.n) - 1 }

// maxDecoded bounds opIndex.decoded.
const maxDecoded = 64

// indexOps brings g's index of operation ids up to date with g's
// changes and reports whether every one of them decoded: a change whose
// operations do not decode is left out of the index, and from then on
// indexOps reports false (Vouch then vouches for nothing; Guard checks
// against what the index holds, and refuses an operation that refers to
// one of such a change). A chunk that cannot be read back from the
// graph's spill stops it with the error (ErrSpillRead), the index
// brought up to date as far as the change before; the next call goes on
// from there.
func (g *Graph) indexOps() (bool, error) {
	x := &g.ops
	if x.max == nil {
		x.max = map[string]uint64{}
		x.ranges = map[string]*opRuns{}
	}
	for ; x.n < g.Len(); x.n++ {
		h, err := g.hashAt(int32(x.n))
		if err != nil {
			return false, err
		}
		span, ok := x.checked[h]
		if ok {
			delete(x.checked, h)
		} else {
			raw, err := g.RawAt(x.n)
			if err != nil {
				return false, err
			}
			c, err := docs.DecodeChangeOps(raw)
			if err != nil {
				x.partial = true
				continue
			}
			span = opSpan{actor: string(c.Actors[0]), lo: c.StartOp, n: len(c.Ops)}
		}
		if span.n == 0 {
			continue
		}
		actor := span.actor
		r := opRange{lo: span.lo, n: uint32(span.n), idx: int32(x.n)}
		x.max[actor] = max(x.max[actor], r.hi())
		rs := x.ranges[actor]
		if rs == nil {
			rs = &opRuns{}
			x.ranges[actor] = rs
		}
		rs.add(r)
	}
	return !x.partial, nil
}

// opAt returns the change of g that holds operation ctr of actor, and
// the operation's position in it; ok is false when no change of g does.
// err is a failure to read the change's chunk back from the graph's
// spill (ErrSpillRead).
func (g *Graph) opAt(actor string, ctr uint64) (c *docs.ChangeOps, i int, ok bool, err error) {
	x := &g.ops
	rs := x.ranges[actor]
	if rs == nil {
		return nil, 0, false, nil
	}
	r, found := rs.find(ctr)
	if !found || r.hi() < ctr {
		return nil, 0, false, nil
	}
	c = x.decoded[int(r.idx)]
	if c == nil {
		raw, err := g.RawAt(int(r.idx))
		if err != nil {
			return nil, 0, false, err
		}
		if c, err = docs.DecodeChangeOps(raw); err != nil {
			return nil, 0, false, nil
		}
		if len(x.decoded) >= maxDecoded || x.decoded == nil {
			x.decoded = make(map[int]*docs.ChangeOps, maxDecoded)
		}
		x.decoded[int(r.idx)] = c
	}
	return c, int(ctr - r.lo), true, nil
}
