// Package amchunk edits automerge change chunks for tests: it takes a
// chunk's body out, puts one back with its length and checksum
// recomputed, and re-encodes a column in a form automerge reads but does
// not write (the kind of change a hostile peer can send). Callers own
// every slice they pass and get new ones back.
package amchunk

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/automerge/automerge-go"
)

// magic starts every automerge chunk.
var magic = []byte{0x85, 0x6f, 0x4a, 0x83}

// ErrNotChange is returned for bytes that are not one uncompressed
// change chunk with a readable header.
var ErrNotChange = errors.New("amchunk: not an uncompressed change chunk")

// Body returns a copy of the body of the uncompressed change chunk raw
// (from its dependency count on).
func Body(raw []byte) ([]byte, error) {
	if len(raw) < 10 || !bytes.Equal(raw[:4], magic) || raw[8] != 1 {
		return nil, ErrNotChange
	}
	n, k := binary.Uvarint(raw[9:])
	if k <= 0 || uint64(len(raw)-9-k) != n {
		return nil, ErrNotChange
	}
	return bytes.Clone(raw[9+k:]), nil
}

// Chunk returns the uncompressed change chunk of body, with its length
// and checksum computed.
func Chunk(body []byte) []byte {
	hdr := binary.AppendUvarint([]byte{1}, uint64(len(body)))
	sum := sha256.Sum256(append(hdr, body...))
	out := append(bytes.Clone(magic), sum[:4]...)
	return append(append(out, hdr...), body...)
}

// SplitRun returns the change chunk raw with the first run of repeated
// values of its first column of unsigned integers (an actor or integer
// column) split into a literal run of one value and a run of the rest:
// the same operations, encoded as automerge never encodes them.
func SplitRun(raw []byte) ([]byte, error) {
	body, err := Body(raw)
	if err != nil {
		return nil, err
	}
	_, cols, at, err := columns(body)
	if err != nil {
		return nil, err
	}
	for _, c := range cols {
		col := body[at : at+int(c.len)]
		at += int(c.len)
		if t := c.spec & 7; (t != 1 && t != 2) || c.len == 0 {
			continue
		}
		cr := &reader{b: col}
		count, start := cr.sleb(), cr.at
		cr.uleb()
		if cr.err != nil || count < 2 {
			continue
		}
		v := col[start:cr.at]
		run := append(AppendSleb(nil, -1), v...)
		run = append(AppendSleb(run, count-1), v...)
		return WithColumns(raw, map[uint64][]byte{c.spec: append(run, col[cr.at:]...)})
	}
	return nil, errors.New("amchunk: no run of repeated integers to split")
}

// WithColumns returns the change chunk raw with the data of the columns
// in cols (by column spec) replaced, the column metadata, length and
// checksum recomputed: a change automerge parses the header of, whose
// operations say whatever the columns say. A spec raw lacks is an error.
func WithColumns(raw []byte, cols map[uint64][]byte) ([]byte, error) {
	body, err := Body(raw)
	if err != nil {
		return nil, err
	}
	metaAt, specs, at, err := columns(body)
	if err != nil {
		return nil, err
	}
	var data []byte
	found := 0
	for i, sp := range specs {
		col := body[at : at+int(sp.len)]
		at += int(sp.len)
		if c, ok := cols[sp.spec]; ok {
			col, found = c, found+1
			specs[i].len = uint64(len(c))
		}
		data = append(data, col...)
	}
	if found != len(cols) {
		return nil, errors.New("amchunk: a column to replace is not in the change")
	}
	out := bytes.Clone(body[:metaAt])
	out = binary.AppendUvarint(out, uint64(len(specs)))
	for _, sp := range specs {
		out = binary.AppendUvarint(binary.AppendUvarint(out, sp.spec), sp.len)
	}
	out = append(out, data...)
	return Chunk(append(out, body[at:]...)), nil
}

// AbortingChange returns a change that depends on nothing (a document's
// first) whose two operations act on an object of actor index 5, past
// the change's one actor: automerge 0.5 parses it and aborts the process
// when it applies it (a Rust index panic across cgo, SIGABRT), so it must
// never reach automerge. A guard that reads the operations refuses it.
func AbortingChange() ([]byte, error) {
	d := automerge.New()
	defer d.Close()
	if err := d.RootMap().Set("collaborators", automerge.NewMap()); err != nil {
		return nil, err
	}
	if err := d.Path("collaborators").Map().Set("mallory", true); err != nil {
		return nil, err
	}
	if _, err := d.Commit("aborting"); err != nil {
		return nil, err
	}
	cs, err := d.Changes()
	if err != nil {
		return nil, err
	}
	defer automerge.CloseChanges(cs)
	// Column specs 0x01 and 0x02: the object's actor and counter, one
	// run of two values each.
	run := func(v uint64) []byte { return binary.AppendUvarint(AppendSleb(nil, 2), v) }
	return WithColumns(cs[0].Save(), map[uint64][]byte{0x01: run(5), 0x02: run(1)})
}

// column is one column's metadata: its spec and its data's length.
type column struct{ spec, len uint64 }

// columns reads a change body's header up to its column metadata and
// returns where the metadata starts, the columns and where their data
// starts; every column's data lies inside body.
func columns(body []byte) (metaAt int, cols []column, dataAt int, err error) {
	r := &reader{b: body}
	deps := r.uleb()
	r.skip(int(deps) * 32)
	r.skip(int(r.uleb())) // actor
	r.uleb()              // seq
	r.uleb()              // start op
	r.sleb()              // time
	r.skip(int(r.uleb())) // message
	for n := r.uleb(); n > 0 && r.err == nil; n-- {
		r.skip(int(r.uleb()))
	}
	metaAt = r.at
	ncols := r.uleb()
	for ; ncols > 0 && r.err == nil; ncols-- {
		cols = append(cols, column{r.uleb(), r.uleb()})
	}
	if r.err != nil {
		return 0, nil, 0, ErrNotChange
	}
	dataAt = r.at
	total := uint64(0)
	for _, c := range cols {
		total += c.len
		if total > uint64(len(body)-dataAt) {
			return 0, nil, 0, ErrNotChange
		}
	}
	return metaAt, cols, dataAt, nil
}

// reader reads LEB128 numbers; the first error sticks.
type reader struct {
	b   []byte
	at  int
	err error
}

func (r *reader) uleb() uint64 {
	if r.err != nil {
		return 0
	}
	v, k := binary.Uvarint(r.b[r.at:])
	if k <= 0 {
		r.err = ErrNotChange
		return 0
	}
	r.at += k
	return v
}

// sleb reads a signed LEB128 number (automerge's, not Go's zig-zag
// varint).
func (r *reader) sleb() int64 {
	var v int64
	for shift := 0; r.err == nil; shift += 7 {
		if r.at >= len(r.b) || shift > 63 {
			r.err = ErrNotChange
			return 0
		}
		c := r.b[r.at]
		r.at++
		v |= int64(c&0x7f) << shift
		if c&0x80 == 0 {
			if shift+7 < 64 && c&0x40 != 0 {
				v |= -1 << (shift + 7)
			}
			return v
		}
	}
	return 0
}

// AppendSleb appends v to b in signed LEB128, as automerge writes it.
func AppendSleb(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 && c&0x40 == 0 || v == -1 && c&0x40 != 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func (r *reader) skip(n int) {
	if r.err == nil && (n < 0 || n > len(r.b)-r.at) {
		r.err = ErrNotChange
	}
	if r.err == nil {
		r.at += n
	}
}

// FalsePositive sets key to v in doc, as its actor's next change
// committed with no timestamp, for the first v of 0, 1, 2, … below limit
// whose change's hash contains reports — a false positive of a Bloom
// filter that never held the change — and returns that hash. It tries
// each v on a fork of doc under doc's actor (forks are closed), so doc
// holds only the change returned; it returns an error, doc unchanged,
// when no v below limit gives one.
func FalsePositive(doc *automerge.Doc, key string, contains func(*automerge.ChangeHash) bool, limit int64) (automerge.ChangeHash, error) {
	set := func(d *automerge.Doc, v int64) (automerge.ChangeHash, error) {
		if err := d.RootMap().Set(key, v); err != nil {
			return automerge.ChangeHash{}, err
		}
		return d.Commit(key, automerge.CommitOptions{Time: &time.Time{}})
	}
	for v := range limit {
		try, err := doc.Fork()
		if err != nil {
			return automerge.ChangeHash{}, err
		}
		if err := try.SetActorID(doc.ActorID()); err != nil {
			try.Close()
			return automerge.ChangeHash{}, err
		}
		h, err := set(try, v)
		try.Close()
		if err != nil {
			return automerge.ChangeHash{}, err
		}
		if !contains(&h) {
			continue
		}
		got, err := set(doc, v)
		if err == nil && got != h {
			err = fmt.Errorf("amchunk: the change on the document (%s) differs from the fork's (%s)", got, h)
		}
		return got, err
	}
	return automerge.ChangeHash{}, fmt.Errorf("amchunk: no false positive below %d", limit)
}
