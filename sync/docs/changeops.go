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
	"unicode/utf8"
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

// Actions of automerge 0.5's operations: actionMakeTable is the largest
// of the make actions (makeMap 0, makeList 2, makeText 4, makeTable 6;
// the odd ones act on values), actionMark the largest of all.
const (
	actionMakeList  = 2
	actionDelete    = 3
	actionMakeText  = 4
	actionIncrement = 5
	actionMakeTable = 6
	actionMark      = 7
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
	// values is a copy of the change's raw value column; each
	// operation's value is a slice of it (ChangeOp.valOff, valLen).
	values string
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
	// ElemCounter and ElemActor are, when !MapKey, the element of the
	// sequence the operation acts on (or, inserting, inserts after):
	// the id of the operation that inserted it; ElemCounter 0 is the
	// sequence's head, and then ElemActor is 0.
	ElemCounter uint64
	ElemActor   int
	// Insert says the operation inserts a new element (whose id is the
	// operation's own) after the element ElemCounter@ElemActor.
	Insert bool
	// Action is automerge's action: 0 makeMap, 1 set, 2 makeList,
	// 3 delete, 4 makeText, 5 increment, 6 makeTable, 7 mark.
	Action uint8
	// Preds are the ids of the operations it overwrites, each a counter
	// and an index into the change's actors.
	Preds []OpRef
	// ValueType is the type of the value the operation writes, the low
	// 4 bits of automerge's value metadata (0 null, 1 false, 2 true,
	// 3 unsigned, 4 signed, 5 float, 6 string, 7 bytes, 8 counter,
	// 9 timestamp); ChangeOps.Str reads a string value.
	ValueType uint8
	// valOff and valLen locate the value's bytes in ChangeOps.values.
	valOff, valLen int32
}

// Str returns the string op writes, and whether it writes a string
// (ValueType 6). op must come from c.Ops.
func (c *ChangeOps) Str(op ChangeOp) (string, bool) {
	if op.ValueType != valString {
		return "", false
	}
	return c.values[op.valOff : op.valOff+op.valLen], true
}

// OpRef is an operation's id within a change: its counter and its actor
// as an index into ChangeOps.Actors.
type OpRef struct {
	Counter uint64
	Actor   int
}

// Makes reports whether op makes an object (a map, list, text or table),
// whose id is the operation's own.
func (op ChangeOp) Makes() bool { return op.Action <= actionMakeTable && op.Action%2 == 0 }

// MakesSequence reports whether op makes a list or a text object, whose
// keys are elements.
func (op ChangeOp) MakesSequence() bool {
	return op.Action == actionMakeList || op.Action == actionMakeText
}

// ActsOnPreds reports whether op is a deletion or an increment: an
// operation that only changes the operations it overwrites, so it must
// overwrite at least one.
func (op ChangeOp) ActsOnPreds() bool {
	return op.Action == actionDelete || op.Action == actionIncrement
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
// the columns. Bytes after the columns, an actor named twice and another
// actor no operation refers to are errors: automerge keeps neither when
// it saves the change in a document, so a change holding them would not
// hash the same once saved.
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
	out.values = string(cols[colValRaw])
	if r.left() != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the columns", errNotCanonical, r.left())
	}
	used := make([]bool, len(out.Actors))
	used[0] = true
	for _, op := range out.Ops {
		used[op.ObjActor] = used[op.ObjActor] || !op.Root()
		used[op.ElemActor] = used[op.ElemActor] || !op.MapKey && op.ElemCounter > 0
		for _, p := range op.Preds {
			used[p.Actor] = true
		}
	}
	named := make(map[string]bool, len(out.hexActors))
	for i, a := range out.hexActors {
		if !used[i] {
			return nil, fmt.Errorf("%w: actor %s named but not used", errNotCanonical, a)
		}
		if named[a] {
			return nil, fmt.Errorf("%w: actor %s named twice", errNotCanonical, a)
		}
		named[a] = true
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
		if l == 0 {
			return nil, fmt.Errorf("%w: empty column %#x", errNotCanonical, spec)
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

// decodeOps reads the object and key of every operation from cols, and
// checks every column of the change as automerge writes it: each holds
// one entry per operation (the predecessors' columns one per
// predecessor, as the group column counts them), in automerge's own
// encoding (rleRuns, boolRuns, minimal LEB128), with values automerge
// reads back to the same bytes (a key, object or predecessor id that is
// whole, actor indices within the change's actors, known actions and
// value types, UTF-8 strings, values of the lengths their types have),
// and no marks (rich text: Segue's documents have none).
func decodeOps(cols map[uint64][]byte, actors int) ([]ChangeOp, error) {
	n, err := countEntries(cols[colAction])
	if err != nil {
		return nil, fmt.Errorf("action column: %w", err)
	}
	action, err := rleColumn(cols[colAction], n, (*reader).uleb)
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
	keyCtr, err := rleColumn(cols[colKeyCtr], n, (*reader).sleb)
	if err != nil {
		return nil, fmt.Errorf("key counter column: %w", err)
	}
	keyStr, err := rleColumn(cols[colKeyStr], n, (*reader).utf8)
	if err != nil {
		return nil, fmt.Errorf("key string column: %w", err)
	}
	insert, err := boolRuns(cols[colInsert], n, true)
	if err != nil {
		return nil, fmt.Errorf("insert column: %w", err)
	}
	expand, err := boolRuns(cols[colExpand], n, false)
	if err != nil {
		return nil, fmt.Errorf("expand column: %w", err)
	}
	markName, err := rleColumn(cols[colMarkName], n, (*reader).utf8)
	if err != nil {
		return nil, fmt.Errorf("mark name column: %w", err)
	}
	vals, err := checkValues(cols[colValMeta], cols[colValRaw], action)
	if err != nil {
		return nil, err
	}
	preds, err := decodePreds(cols, n, actors)
	if err != nil {
		return nil, err
	}
	ops := make([]ChangeOp, n)
	var key int64
	for i := range ops {
		a, c := objActor[i], objCtr[i]
		switch {
		case !c.ok && !a.ok:
			// The root map.
		case c.ok && a.ok && c.v > 0:
			if a.v >= uint64(actors) {
				return nil, fmt.Errorf("op %d: object actor %d of %d", i, a.v, actors)
			}
			ops[i].ObjCounter, ops[i].ObjActor = c.v, int(a.v)
		default:
			return nil, fmt.Errorf("op %d: object id %v@%v", i, c, a)
		}
		ka, kc, ks := keyActor[i], keyCtr[i], keyStr[i]
		if kc.ok {
			key += kc.v
		}
		switch {
		case ks.ok && !ka.ok && !kc.ok && !insert[i]:
			ops[i].Key, ops[i].MapKey = ks.v, true
		case !ks.ok && kc.ok && key == 0 && !ka.ok:
			// The head of a sequence.
		case !ks.ok && kc.ok && key > 0 && ka.ok:
			if ka.v >= uint64(actors) {
				return nil, fmt.Errorf("op %d: key actor %d of %d", i, ka.v, actors)
			}
			ops[i].ElemCounter, ops[i].ElemActor = uint64(key), int(ka.v)
		default:
			return nil, fmt.Errorf("op %d: key neither a string (not inserting) nor an element id", i)
		}
		ops[i].Insert, ops[i].Preds = insert[i], preds[i]
		switch a := action[i]; {
		case !a.ok || a.v > actionMark:
			return nil, fmt.Errorf("op %d: action %v", i, a)
		case a.v != actionMark && (expand[i] || markName[i].ok):
			return nil, fmt.Errorf("op %d: action %d with a mark's fields", i, a.v)
		case a.v == actionMark && (ops[i].MapKey || !insert[i]):
			return nil, fmt.Errorf("op %d: a mark not inserted in a sequence", i)
		case a.v == actionMark && !markName[i].ok && vals[i].meta != valNull:
			// A mark's end carries no name and no value; automerge 0.5
			// takes one with a value, then saves it without.
			return nil, fmt.Errorf("op %d: a mark's end with a value", i)
		default:
			ops[i].Action = uint8(a.v)
		}
		ops[i].ValueType = uint8(vals[i].meta & 15)
		ops[i].valOff, ops[i].valLen = vals[i].off, vals[i].len
	}
	return ops, nil
}

// decodePreds reads the predecessor columns of a change of n
// operations: a count per operation, then that many ids (actor index
// within actors, counter from 1 on, delta-encoded). It returns each
// operation's predecessors.
func decodePreds(cols map[uint64][]byte, n, actors int) ([][]OpRef, error) {
	total := 0
	group, err := rleColumn(cols[colPredGroup], n, func(r *reader) (uint64, error) {
		v, err := r.uleb()
		if err == nil && v > MaxChangeOps {
			err = fmt.Errorf("group of %d", v)
		}
		return v, err
	})
	if err != nil {
		return nil, fmt.Errorf("pred group column: %w", err)
	}
	for i, g := range group {
		if !g.ok || total+int(g.v) > MaxChangeOps {
			return nil, fmt.Errorf("pred group column: op %d: group %v", i, g)
		}
		total += int(g.v)
	}
	// automerge 0.5 indexes the change's actors with every actor of a
	// predecessor id without checking it (import_ops): an index past
	// them aborts the process applying the change.
	predActor, err := rleColumn(cols[colPredActor], total, (*reader).uleb)
	if err != nil {
		return nil, fmt.Errorf("pred actor column: %w", err)
	}
	predCtr, err := rleColumn(cols[colPredCtr], total, (*reader).sleb)
	if err != nil {
		return nil, fmt.Errorf("pred counter column: %w", err)
	}
	out := make([][]OpRef, n)
	var ctr int64
	k := 0
	for i, g := range group {
		for range g.v {
			if a := predActor[k]; !a.ok || a.v >= uint64(actors) {
				return nil, fmt.Errorf("pred actor %v of %d", a, actors)
			}
			if c := predCtr[k]; c.ok {
				ctr += c.v
			}
			if !predCtr[k].ok || ctr <= 0 {
				return nil, fmt.Errorf("pred counter %d", ctr)
			}
			out[i] = append(out[i], OpRef{Counter: uint64(ctr), Actor: int(predActor[k].v)})
			k++
		}
	}
	return out, nil
}

// Value types of automerge's value metadata column (the low 4 bits; the
// rest is the value's length in bytes).
const (
	valNull      = 0
	valFalse     = 1
	valTrue      = 2
	valUleb      = 3
	valSleb      = 4
	valFloat     = 5
	valString    = 6
	valBytes     = 7
	valCounter   = 8
	valTimestamp = 9
)

// opValue is where an operation's value is: its metadata (type and
// length) and its bytes' offset and length in the raw value column.
type opValue struct {
	meta     uint64
	off, len int32
}

// checkValues checks the value columns of a change whose operations
// have the actions action: a metadata entry per operation, of a known
// type and a length that type allows — none for an operation that makes
// an object or deletes, a signed integer for an increment — and the raw
// column exactly the concatenated values, integers in minimal LEB128 and
// strings in UTF-8. It returns each operation's value.
func checkValues(metaCol, raw []byte, action []opt[uint64]) ([]opValue, error) {
	meta, err := rleColumn(metaCol, len(action), (*reader).uleb)
	if err != nil {
		return nil, fmt.Errorf("value meta column: %w", err)
	}
	vals := make([]opValue, len(action))
	r := reader{b: raw}
	for i, m := range meta {
		if !m.ok {
			return nil, fmt.Errorf("op %d: no value metadata", i)
		}
		off := r.off
		v, err := r.take(int(min(m.v>>4, uint64(len(raw)+1))))
		if err != nil {
			return nil, fmt.Errorf("op %d: value of %d bytes beyond the raw column", i, m.v>>4)
		}
		vals[i] = opValue{meta: m.v, off: int32(off), len: int32(len(v))}
		vr := reader{b: v}
		switch a := action[i].v; {
		case (a <= actionMakeTable && a%2 == 0 || a == actionDelete) && m.v != valNull:
			return nil, fmt.Errorf("op %d: action %d with a value (%#x)", i, a, m.v)
		case a == actionIncrement && m.v&15 != valSleb:
			return nil, fmt.Errorf("op %d: increment by a value of type %d", i, m.v&15)
		}
		switch m.v & 15 {
		case valNull, valFalse, valTrue:
			err = vr.done()
		case valUleb:
			if _, err = vr.uleb(); err == nil {
				err = vr.done()
			}
		case valSleb, valCounter, valTimestamp:
			if _, err = vr.sleb(); err == nil {
				err = vr.done()
			}
		case valFloat:
			if len(v) != 8 {
				err = fmt.Errorf("float of %d bytes", len(v))
			}
		case valString:
			if !utf8.Valid(v) {
				err = errors.New("string not UTF-8")
			}
		case valBytes:
		default:
			err = fmt.Errorf("value type %d", m.v&15)
		}
		if err != nil {
			return nil, fmt.Errorf("op %d: value: %w", i, err)
		}
	}
	if r.left() != 0 {
		return nil, fmt.Errorf("%d bytes of values past the last", r.left())
	}
	return vals, nil
}

// boolRuns reads a boolean column of n entries: counts of false, true,
// false, … values, only the first of them 0, as automerge writes them;
// an absent column is n false values, which automerge writes only when
// required (the insert column, of a change with operations).
func boolRuns(col []byte, n int, required bool) ([]bool, error) {
	out := make([]bool, n)
	if len(col) == 0 {
		if required && n > 0 {
			return nil, errors.New("missing")
		}
		return out, nil
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: a column without operations", errNotCanonical)
	}
	r := reader{b: col}
	total, trues := 0, false
	for k := 0; r.left() > 0; k++ {
		c, err := r.uleb()
		if err != nil {
			return nil, err
		}
		if c == 0 && k > 0 || c > uint64(n-total) {
			return nil, fmt.Errorf("%w: count %d", errNotCanonical, c)
		}
		for i := total; i < total+int(c); i++ {
			out[i] = k%2 == 1
		}
		total += int(c)
		trues = trues || k%2 == 1
	}
	if total != n {
		return nil, fmt.Errorf("%d entries, want %d", total, n)
	}
	if !required && !trues {
		return nil, fmt.Errorf("%w: false values only", errNotCanonical)
	}
	return out, nil
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
func rleColumn[T comparable](col []byte, n int, read func(*reader) (T, error)) ([]opt[T], error) {
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
// literal value is a run of 1). Empty runs are an error, and so is any
// encoding other than the one automerge writes (errNotCanonical): a
// repeated run of one value, two runs of one value or of nulls side by
// side, two literal runs side by side, equal neighbours within a literal
// run, a column of nulls only (automerge writes none). automerge 0.5
// reads such a column, but a document holding the change saves it in
// its own encoding, whose hash is not the change's: the saved document
// does not load (sync/msync's TestGuardedHazards).
func rleRuns[T comparable](col []byte, read func(*reader) (T, error), emit func(v T, ok bool, count int) error) error {
	r := reader{b: col}
	var zero T
	const (
		none = iota
		repeat
		literal
		null
	)
	prev, values := none, false
	var last T
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
			if c == 1 || (prev == repeat || prev == literal) && v == last {
				return fmt.Errorf("%w: run of %d", errNotCanonical, c)
			}
			if err := emit(v, true, int(c)); err != nil {
				return err
			}
			prev, last, values = repeat, v, true
		case c < 0:
			if c < -MaxChangeOps {
				return fmt.Errorf("literal run of %d over the limit", -c)
			}
			if prev == literal {
				return fmt.Errorf("%w: literal runs side by side", errNotCanonical)
			}
			for k := range -c {
				v, err := read(&r)
				if err != nil {
					return err
				}
				if (k > 0 || prev == repeat) && v == last {
					return fmt.Errorf("%w: equal values in a literal run", errNotCanonical)
				}
				if err := emit(v, true, 1); err != nil {
					return err
				}
				last = v
			}
			prev, values = literal, true
		default:
			nulls, err := r.uleb()
			if err != nil {
				return err
			}
			if nulls == 0 || nulls > MaxChangeOps {
				return fmt.Errorf("null run of %d", nulls)
			}
			if prev == null {
				return fmt.Errorf("%w: null runs side by side", errNotCanonical)
			}
			if err := emit(zero, false, int(nulls)); err != nil {
				return err
			}
			prev = null
		}
	}
	if prev != none && !values {
		return fmt.Errorf("%w: a column of nulls only", errNotCanonical)
	}
	return nil
}

// reader reads the automerge binary format's primitives from b.
type reader struct {
	b   []byte
	off int
}

var errTruncated = errors.New("truncated")

// errNotCanonical is returned for a column encoded other than as
// automerge encodes it (rleRuns).
var errNotCanonical = errors.New("not automerge's encoding")

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
	if n > 1 && r.b[r.off+n-1] == 0 {
		return 0, fmt.Errorf("%w: unsigned LEB128 of %d bytes", errNotCanonical, n)
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
			if i > 0 {
				// A last byte that only extends the sign of the one
				// before it is one byte too many.
				if p := r.b[r.off-2]; c == 0 && p&0x40 == 0 || c == 0x7f && p&0x40 != 0 {
					return 0, fmt.Errorf("%w: signed LEB128 of %d bytes", errNotCanonical, i+1)
				}
			}
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

// utf8 reads a length-prefixed UTF-8 string.
func (r *reader) utf8() (string, error) {
	b, err := r.lenPrefixed(r.left())
	if err != nil {
		return "", err
	}
	if !utf8.Valid(b) {
		return "", errors.New("string not UTF-8")
	}
	return string(b), nil
}

// done returns an error unless every byte was read.
func (r *reader) done() error {
	if r.left() != 0 {
		return fmt.Errorf("%d bytes left over", r.left())
	}
	return nil
}

// actorID reads a length-prefixed actor id.
func (r *reader) actorID() ([]byte, error) {
	return r.lenPrefixed(maxActorIDBytes)
}
