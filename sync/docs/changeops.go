package docs

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// ErrUnreadableChange is returned by DecodeChangeOps (and so by the ACL
// check) for bytes it cannot read as one automerge change: the check
// fails closed, a change it cannot read is refused.
var ErrUnreadableChange = errors.New("docs: unreadable change")

// Limits of DecodeChangeOps. A change beyond them is unreadable (and so
// refused by the ACL check); automerge clients' changes are far smaller.
const (
	// MaxChangeBytes bounds a change chunk's body, after inflating a
	// compressed chunk.
	MaxChangeBytes = 16 << 20
	// MaxChangeOps bounds the operations of one change.
	MaxChangeOps = 1 << 20
	// MaxChangeActors bounds the actors a change names (its own and the
	// others its operations refer to).
	MaxChangeActors = 1 << 12
	// maxActorIDBytes bounds one actor id (automerge's are 16 bytes).
	maxActorIDBytes = 256
	// maxChangeColumns bounds a change's operation columns (automerge
	// 0.5 writes at most 14).
	maxChangeColumns = 32
)

// Chunk framing of the automerge binary format
// (https://automerge.org/automerge-binary-format-spec/).
var chunkMagic = []byte{0x85, 0x6f, 0x4a, 0x83}

const (
	chunkChange           = 1
	chunkCompressedChange = 2
)

// Column specifications of a change's operation columns: column id << 4,
// the deflate bit (8), then the column type.
const (
	colObjActor  = 0x01
	colObjCtr    = 0x02
	colKeyActor  = 0x11
	colKeyCtr    = 0x13
	colKeyStr    = 0x15
	colInsert    = 0x34
	colAction    = 0x42
	colValMeta   = 0x56
	colValRaw    = 0x57
	colPredGroup = 0x70
	colPredActor = 0x71
	colPredCtr   = 0x73
	colExpand    = 0x94
	colMarkName  = 0xa5
	colDeflate   = 0x08
)

// knownColumns are the operation columns of automerge 0.5's change
// format. A change with any other column is unreadable: automerge would
// ignore it, but a column the decoder does not know might change what an
// operation means in a later format.
var knownColumns = map[uint64]bool{
	colObjActor: true, colObjCtr: true, colKeyActor: true, colKeyCtr: true, colKeyStr: true,
	colInsert: true, colAction: true, colValMeta: true, colValRaw: true, colPredGroup: true,
	colPredActor: true, colPredCtr: true, colExpand: true, colMarkName: true,
}

// ChangeOps is what DecodeChangeOps reads of a change: who made it and,
// for every operation, the object it acts on and its map key. It holds
// no reference to the bytes it was read from.
type ChangeOps struct {
	// Actors are the change's own actor (index 0) then its other
	// actors, as raw actor ids; ChangeOp.ObjActor indexes it.
	Actors [][]byte
	// StartOp is the counter of the change's first operation: its
	// operations have the ids StartOp, StartOp+1, … with actor Actors[0].
	StartOp uint64
	// Ops are the change's operations in order.
	Ops []ChangeOp

	hexActors []string
}

// ChangeOp is one operation of a change, reduced to where it acts.
type ChangeOp struct {
	// ObjCounter and ObjActor are the id of the object the operation
	// acts on (the id of the operation that made it); ObjCounter 0 is
	// the root map, and then ObjActor is 0.
	ObjCounter uint64
	ObjActor   int
	// Key is the map key the operation acts on when MapKey; otherwise
	// the operation addresses a list or text element.
	Key    string
	MapKey bool
}

// Root reports whether op acts on the document's root map.
func (op ChangeOp) Root() bool { return op.ObjCounter == 0 }

// ObjID returns the id of the object op acts on in automerge's notation:
// "_root", or "counter@actor" with the actor in lowercase hex (as
// automerge-go's ObjID methods return it). c must come from
// DecodeChangeOps and op from c.Ops.
func (c *ChangeOps) ObjID(op ChangeOp) string {
	if op.Root() {
		return "_root"
	}
	return strconv.FormatUint(op.ObjCounter, 10) + "@" + c.hexActors[op.ObjActor]
}

// DecodeChangeOps reads one automerge change chunk (the bytes of
// (*automerge.Change).Save(): an uncompressed or deflate-compressed
// change, automerge-rs 0.5 format) and returns its actors and its
// operations' objects and map keys. It verifies the chunk's checksum and
// that every column it reads holds exactly one entry per operation (the
// action column decides how many there are); anything else it does not
// understand is an error matching ErrUnreadableChange. It never panics.
func DecodeChangeOps(raw []byte) (*ChangeOps, error) {
	body, err := changeBody(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreadableChange, err)
	}
	ops, err := decodeBody(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreadableChange, err)
	}
	return ops, nil
}

// changeBody checks a change chunk's header and checksum and returns its
// body, inflated if the chunk is compressed.
func changeBody(raw []byte) ([]byte, error) {
	r := reader{b: raw}
	magic, err := r.take(len(chunkMagic))
	if err != nil || !bytes.Equal(magic, chunkMagic) {
		return nil, errors.New("no chunk magic")
	}
	sum, err := r.take(4)
	if err != nil {
		return nil, err
	}
	typ, err := r.take(1)
	if err != nil {
		return nil, err
	}
	n, err := r.uleb()
	if err != nil {
		return nil, err
	}
	if n > uint64(r.left()) {
		return nil, fmt.Errorf("chunk length %d beyond its %d bytes", n, r.left())
	}
	body, _ := r.take(int(n))
	if r.left() != 0 {
		return nil, fmt.Errorf("%d bytes after the chunk", r.left())
	}
	switch typ[0] {
	case chunkChange:
	case chunkCompressedChange:
		if body, err = inflate(body, MaxChangeBytes); err != nil {
			return nil, fmt.Errorf("inflate chunk: %w", err)
		}
	default:
		return nil, fmt.Errorf("chunk type %d is not a change", typ[0])
	}
	if len(body) > MaxChangeBytes {
		return nil, fmt.Errorf("change body of %d bytes over the limit %d", len(body), MaxChangeBytes)
	}
	// The checksum is that of the uncompressed change chunk: the first
	// 4 bytes of SHA-256 over its type, length and body.
	h := sha256.New()
	var hdr [1 + binary.MaxVarintLen64]byte
	hdr[0] = chunkChange
	h.Write(hdr[:1+binary.PutUvarint(hdr[1:], uint64(len(body)))])
	h.Write(body)
	if !bytes.Equal(h.Sum(nil)[:4], sum) {
		return nil, errors.New("checksum mismatch")
	}
	return body, nil
}

// inflate decompresses raw DEFLATE data of at most limit bytes.
func inflate(b []byte, limit int) ([]byte, error) {
	fr := flate.NewReader(bytes.NewReader(b))
	defer fr.Close()
	out, err := io.ReadAll(io.LimitReader(fr, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(out) > limit {
		return nil, fmt.Errorf("more than %d bytes", limit)
	}
	return out, nil
}

// decodeBody reads a change chunk's body: dependencies, actor, sequence
// number, start op, time, message, other actors, column metadata, then
// the columns; the extra bytes after them are ignored (as automerge does).
func decodeBody(body []byte) (*ChangeOps, error) {
	r := reader{b: body}
	deps, err := r.uleb()
	if err != nil {
		return nil, fmt.Errorf("deps: %w", err)
	}
	if deps > uint64(r.left()/32) {
		return nil, fmt.Errorf("%d deps beyond the body", deps)
	}
	if _, err := r.take(int(deps) * 32); err != nil {
		return nil, err
	}
	actor, err := r.actorID()
	if err != nil {
		return nil, fmt.Errorf("actor: %w", err)
	}
	out := &ChangeOps{Actors: [][]byte{bytes.Clone(actor)}}
	if _, err := r.uleb(); err != nil { // seq
		return nil, fmt.Errorf("seq: %w", err)
	}
	if out.StartOp, err = r.uleb(); err != nil || out.StartOp == 0 {
		return nil, fmt.Errorf("start op %d: %v", out.StartOp, err)
	}
	if _, err := r.sleb(); err != nil { // time
		return nil, fmt.Errorf("time: %w", err)
	}
	if _, err := r.lenPrefixed(r.left()); err != nil {
		return nil, fmt.Errorf("message: %w", err)
	}
	others, err := r.uleb()
	if err != nil {
		return nil, fmt.Errorf("other actors: %w", err)
	}
	if others >= MaxChangeActors || others > uint64(r.left()) {
		return nil, fmt.Errorf("%d other actors over the limit", others)
	}
	for range others {
		a, err := r.actorID()
		if err != nil {
			return nil, fmt.Errorf("other actor: %w", err)
		}
		out.Actors = append(out.Actors, bytes.Clone(a))
	}
	out.hexActors = make([]string, len(out.Actors))
	for i, a := range out.Actors {
		out.hexActors[i] = hex.EncodeToString(a)
	}
	cols, err := readColumns(&r)
	if err != nil {
		return nil, err
	}
	if out.Ops, err = decodeOps(cols, len(out.Actors)); err != nil {
		return nil, err
	}
	return out, nil
}

// readColumns reads the column metadata and the columns' data, keyed by
// column specification.
func readColumns(r *reader) (map[uint64][]byte, error) {
	n, err := r.uleb()
	if err != nil {
		return nil, fmt.Errorf("columns: %w", err)
	}
	if n > maxChangeColumns {
		return nil, fmt.Errorf("%d columns over the limit %d", n, maxChangeColumns)
	}
	type meta struct{ spec, len uint64 }
	metas := make([]meta, 0, n)
	total := uint64(0)
	for i := range n {
		spec, err := r.uleb()
		if err != nil {
			return nil, fmt.Errorf("column spec: %w", err)
		}
		l, err := r.uleb()
		if err != nil {
			return nil, fmt.Errorf("column length: %w", err)
		}
		if i > 0 && spec <= metas[i-1].spec {
			return nil, fmt.Errorf("column %#x out of order", spec)
		}
		if spec&colDeflate != 0 {
			// automerge-rs refuses compressed columns in a change
			// (storage/change.rs, CompressedChangeCols).
			return nil, fmt.Errorf("column %#x is compressed", spec)
		}
		if !knownColumns[spec] {
			return nil, fmt.Errorf("unknown column %#x", spec)
		}
		if l > uint64(r.left()) || total+l > uint64(r.left()) {
			return nil, fmt.Errorf("column %#x of %d bytes beyond the body", spec, l)
		}
		total += l
		metas = append(metas, meta{spec, l})
	}
	cols := make(map[uint64][]byte, n)
	for _, m := range metas {
		cols[m.spec], _ = r.take(int(m.len))
	}
	return cols, nil
}

// decodeOps reads the object and key of every operation from cols.
func decodeOps(cols map[uint64][]byte, actors int) ([]ChangeOp, error) {
	n, err := countEntries(cols[colAction])
	if err != nil {
		return nil, fmt.Errorf("action column: %w", err)
	}
	objActor, err := rleColumn(cols[colObjActor], n, (*reader).uleb)
	if err != nil {
		return nil, fmt.Errorf("obj actor column: %w", err)
	}
	objCtr, err := rleColumn(cols[colObjCtr], n, (*reader).uleb)
	if err != nil {
		return nil, fmt.Errorf("obj counter column: %w", err)
	}
	keyActor, err := rleColumn(cols[colKeyActor], n, (*reader).uleb)
	if err != nil {
		return nil, fmt.Errorf("key actor column: %w", err)
	}
	if _, err := rleColumn(cols[colKeyCtr], n, (*reader).sleb); err != nil {
		return nil, fmt.Errorf("key counter column: %w", err)
	}
	keyStr, err := rleColumn(cols[colKeyStr], n, func(r *reader) (string, error) {
		b, err := r.lenPrefixed(r.left())
		return string(b), err
	})
	if err != nil {
		return nil, fmt.Errorf("key string column: %w", err)
	}
	// automerge 0.5 indexes the change's actors with every actor of a
	// predecessor id without checking it (import_ops): an index past
	// them aborts the process applying the change.
	err = rleRuns(cols[colPredActor], (*reader).uleb, func(v uint64, ok bool, _ int) error {
		if ok && v >= uint64(actors) {
			return fmt.Errorf("pred actor %d of %d", v, actors)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pred actor column: %w", err)
	}
	ops := make([]ChangeOp, n)
	for i := range ops {
		a, c := objActor[i], objCtr[i]
		switch {
		case !c.ok && !a.ok, c.ok && c.v == 0:
			// The root map (automerge reads counter 0 as the root
			// whatever the actor).
		case c.ok && a.ok:
			if a.v >= uint64(actors) {
				return nil, fmt.Errorf("op %d: object actor %d of %d", i, a.v, actors)
			}
			ops[i].ObjCounter, ops[i].ObjActor = c.v, int(a.v)
		default:
			return nil, fmt.Errorf("op %d: object id half null", i)
		}
		if ka := keyActor[i]; ka.ok && ka.v >= uint64(actors) {
			return nil, fmt.Errorf("op %d: key actor %d of %d", i, ka.v, actors)
		}
		if k := keyStr[i]; k.ok {
			ops[i].Key, ops[i].MapKey = k.v, true
		}
	}
	return ops, nil
}

// opt is one entry of a column: a value, or null when !ok.
type opt[T any] struct {
	v  T
	ok bool
}

// countEntries returns how many entries (values and nulls) an RLE column
// of unsigned integers holds.
func countEntries(col []byte) (int, error) {
	n := 0
	err := rleRuns(col, (*reader).uleb, func(_ uint64, _ bool, count int) error {
		if count > MaxChangeOps-n {
			return fmt.Errorf("more than %d operations", MaxChangeOps)
		}
		n += count
		return nil
	})
	return n, err
}

// rleColumn decodes an RLE column into exactly n entries; an empty
// column is n nulls (automerge writes nothing for a column of nulls
// only), any other length is an error.
func rleColumn[T any](col []byte, n int, read func(*reader) (T, error)) ([]opt[T], error) {
	out := make([]opt[T], n)
	if len(col) == 0 {
		return out, nil
	}
	i := 0
	err := rleRuns(col, read, func(v T, ok bool, count int) error {
		if count > n-i {
			return fmt.Errorf("more than %d entries", n)
		}
		for range count {
			out[i] = opt[T]{v, ok}
			i++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if i != n {
		return nil, fmt.Errorf("%d entries, want %d", i, n)
	}
	return out, nil
}

// rleRuns walks an RLE column: a signed count, then for a positive count
// one value repeated, for a negative count that many literal values, for
// zero an unsigned count of nulls. It calls emit for every run (a
// literal value is a run of 1). Empty runs are an error.
func rleRuns[T any](col []byte, read func(*reader) (T, error), emit func(v T, ok bool, count int) error) error {
	r := reader{b: col}
	var zero T
	for r.left() > 0 {
		c, err := r.sleb()
		if err != nil {
			return err
		}
		switch {
		case c > 0:
			v, err := read(&r)
			if err != nil {
				return err
			}
			if c > MaxChangeOps {
				return fmt.Errorf("run of %d over the limit", c)
			}
			if err := emit(v, true, int(c)); err != nil {
				return err
			}
		case c < 0:
			if c < -MaxChangeOps {
				return fmt.Errorf("literal run of %d over the limit", -c)
			}
			for range -c {
				v, err := read(&r)
				if err != nil {
					return err
				}
				if err := emit(v, true, 1); err != nil {
					return err
				}
			}
		default:
			nulls, err := r.uleb()
			if err != nil {
				return err
			}
			if nulls == 0 || nulls > MaxChangeOps {
				return fmt.Errorf("null run of %d", nulls)
			}
			if err := emit(zero, false, int(nulls)); err != nil {
				return err
			}
		}
	}
	return nil
}

// reader reads the automerge binary format's primitives from b.
type reader struct {
	b   []byte
	off int
}

var errTruncated = errors.New("truncated")

func (r *reader) left() int { return len(r.b) - r.off }

// take returns the next n bytes (aliasing b).
func (r *reader) take(n int) ([]byte, error) {
	if n < 0 || n > r.left() {
		return nil, errTruncated
	}
	out := r.b[r.off : r.off+n]
	r.off += n
	return out, nil
}

// uleb reads an unsigned LEB128 of at most 64 bits.
func (r *reader) uleb() (uint64, error) {
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		if n == 0 {
			return 0, errTruncated
		}
		return 0, errors.New("unsigned LEB128 overflows 64 bits")
	}
	r.off += n
	return v, nil
}

// sleb reads a signed LEB128 of at most 64 bits.
func (r *reader) sleb() (int64, error) {
	var v int64
	var shift uint
	for i := 0; ; i++ {
		if r.off >= len(r.b) {
			return 0, errTruncated
		}
		if i == 10 {
			return 0, errors.New("signed LEB128 overflows 64 bits")
		}
		c := r.b[r.off]
		r.off++
		v |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v, nil
		}
	}
}

// lenPrefixed reads an unsigned length of at most limit, then that many
// bytes (aliasing b).
func (r *reader) lenPrefixed(limit int) ([]byte, error) {
	n, err := r.uleb()
	if err != nil {
		return nil, err
	}
	if n > uint64(limit) {
		return nil, fmt.Errorf("length %d over %d", n, limit)
	}
	return r.take(int(n))
}

// actorID reads a length-prefixed actor id.
func (r *reader) actorID() ([]byte, error) {
	return r.lenPrefixed(maxActorIDBytes)
}
