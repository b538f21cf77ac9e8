package msync

import (
	"encoding/binary"
	"slices"
	"sort"
)

// opBlockLen is the number of ranges a packed block of opRuns holds.
const opBlockLen = 64

// opRuns is one actor's operation ranges (opRange) in the order of their
// first counters, a range whose first counter equals an earlier one's
// after it. The newest, up to opBlockLen, are held as they are; older
// ones are packed in blocks of opBlockLen, each range after a block's
// first as three varints (its first counter less the previous range's,
// its length, its change's position less the previous range's): ≈ 4
// bytes a range instead of 16 (TestOpRunsPack). An actor's changes
// reach a graph in their order, and its counters grow with them, so
// ranges are appended; one that is not (a history that came in another
// order) unpacks and repacks the actor's ranges.
type opRuns struct {
	blocks []opBlock
	tail   []opRange
}

// opBlock is opBlockLen packed ranges: the first as it is, the others'
// varints in data, and the first counter of the last.
type opBlock struct {
	first opRange
	last  uint64
	data  []byte
}

// add records r.
func (o *opRuns) add(r opRange) {
	if o.lastLo() <= r.lo {
		o.tail = append(o.tail, r)
		if len(o.tail) == opBlockLen {
			o.blocks = append(o.blocks, pack(o.tail))
			o.tail = o.tail[:0]
		}
		return
	}
	all := o.all()
	at := sort.Search(len(all), func(i int) bool { return all[i].lo > r.lo })
	all = slices.Insert(all, at, r)
	o.blocks, o.tail = nil, nil
	for len(all) >= opBlockLen {
		o.blocks = append(o.blocks, pack(all[:opBlockLen]))
		all = all[opBlockLen:]
	}
	o.tail = slices.Clone(all)
}

// lastLo returns the first counter of the last range (0 when none, so
// any range is appended to an empty opRuns).
func (o *opRuns) lastLo() uint64 {
	switch {
	case len(o.tail) > 0:
		return o.tail[len(o.tail)-1].lo
	case len(o.blocks) > 0:
		return o.blocks[len(o.blocks)-1].last
	}
	return 0
}

// find returns the last range whose first counter is at most ctr.
func (o *opRuns) find(ctr uint64) (opRange, bool) {
	if len(o.tail) > 0 && o.tail[0].lo <= ctr {
		at := sort.Search(len(o.tail), func(i int) bool { return o.tail[i].lo > ctr })
		return o.tail[at-1], true
	}
	at := sort.Search(len(o.blocks), func(i int) bool { return o.blocks[i].first.lo > ctr }) - 1
	if at < 0 {
		return opRange{}, false
	}
	b := &o.blocks[at]
	found := b.first
	b.each(func(r opRange) bool {
		if r.lo > ctr {
			return false
		}
		found = r
		return true
	})
	return found, true
}

// all returns every range, in order, in a new slice.
func (o *opRuns) all() []opRange {
	out := make([]opRange, 0, len(o.blocks)*opBlockLen+len(o.tail))
	for i := range o.blocks {
		b := &o.blocks[i]
		out = append(out, b.first)
		b.each(func(r opRange) bool {
			out = append(out, r)
			return true
		})
	}
	return append(out, o.tail...)
}

// pack returns rs (in order, at least one) packed in a block.
func pack(rs []opRange) opBlock {
	b := opBlock{first: rs[0], last: rs[len(rs)-1].lo}
	data := make([]byte, 0, 4*len(rs))
	prev := rs[0]
	for _, r := range rs[1:] {
		data = binary.AppendUvarint(data, r.lo-prev.lo)
		data = binary.AppendUvarint(data, uint64(r.n))
		data = binary.AppendVarint(data, int64(r.idx)-int64(prev.idx))
		prev = r
	}
	b.data = slices.Clone(data)
	return b
}

// each calls f with the block's ranges after its first, in order, until
// f returns false. The block's data is pack's own output.
func (b *opBlock) each(f func(opRange) bool) {
	prev := b.first
	for d := b.data; len(d) > 0; {
		dlo, k1 := binary.Uvarint(d)
		n, k2 := binary.Uvarint(d[k1:])
		didx, k3 := binary.Varint(d[k1+k2:])
		d = d[k1+k2+k3:]
		r := opRange{lo: prev.lo + dlo, n: uint32(n), idx: int32(int64(prev.idx) + didx)}
		if !f(r) {
			return
		}
		prev = r
	}
}
