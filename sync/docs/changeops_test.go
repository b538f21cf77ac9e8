package docs

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/internal/amchunk"
)

// lastChange commits d's pending edits and returns the change made.
func lastChange(t testing.TB, d *automerge.Doc) *automerge.Change {
	t.Helper()
	h, err := d.Commit("edit", automerge.CommitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.Change(h)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// describeOps renders ops as "object/key" for map operations and
// "object#" for list and text operations.
func describeOps(ops *ChangeOps) []string {
	var out []string
	for _, op := range ops.Ops {
		if op.MapKey {
			out = append(out, ops.ObjID(op)+"/"+op.Key)
		} else {
			out = append(out, ops.ObjID(op)+"#")
		}
	}
	return out
}

// compressChange rewrites an uncompressed change chunk as a compressed
// one (chunk type 2: the body deflated, the checksum kept).
func compressChange(t testing.TB, raw []byte) []byte {
	t.Helper()
	r := reader{b: raw, off: 9}
	n, err := r.uleb()
	if err != nil || raw[8] != chunkChange {
		t.Fatalf("not an uncompressed change chunk: %v", err)
	}
	body, _ := r.take(int(n))
	var z bytes.Buffer
	w, _ := flate.NewWriter(&z, flate.DefaultCompression)
	w.Write(body)
	w.Close()
	out := append([]byte{}, raw[:8]...)
	out = append(out, chunkCompressedChange)
	out = binary.AppendUvarint(out, uint64(z.Len()))
	return append(out, z.Bytes()...)
}

// TestDecodeChangeOps: the decoder reads the object and key of every
// kind of operation automerge-go writes, from uncompressed and
// compressed chunks, with objects made by other actors.
func TestDecodeChangeOps(t *testing.T) {
	type fixture struct {
		d                *automerge.Doc
		m, cm            *automerge.Map
		l                *automerge.List
		txt              *automerge.Text
		mID, lID, txtID  string
		otherActorObject string
	}
	setup := func(t *testing.T) *fixture {
		d := automerge.New()
		root := d.RootMap()
		for k, v := range map[string]any{"k": "v", "m": automerge.NewMap(), "l": automerge.NewList(), "t": automerge.NewText("hi"), "c": automerge.NewCounter(1)} {
			if err := root.Set(k, v); err != nil {
				t.Fatal(err)
			}
		}
		lastChange(t, d)
		if id := root.ObjID(); id != "_root" {
			t.Fatalf("root map's ObjID %q, want _root", id)
		}
		f := &fixture{d: d, m: d.Path("m").Map(), l: d.Path("l").List(), txt: d.Path("t").Text()}
		for _, k := range []string{"m", "l", "t"} {
			v, err := root.Get(k)
			if err != nil {
				t.Fatal(err)
			}
			switch k {
			case "m":
				f.mID = v.Map().ObjID()
			case "l":
				f.lID = v.List().ObjID()
			case "t":
				f.txtID = v.Text().ObjID()
			}
		}
		return f
	}
	cases := []struct {
		name string
		edit func(t *testing.T, f *fixture) *automerge.Change
		want func(f *fixture, made string) []string
	}{
		{"root put", func(t *testing.T, f *fixture) *automerge.Change {
			must(t, f.d.RootMap().Set("k", "w"))
			return lastChange(t, f.d)
		}, func(f *fixture, _ string) []string { return []string{"_root/k"} }},
		{"root delete", func(t *testing.T, f *fixture) *automerge.Change {
			must(t, f.d.RootMap().Delete("k"))
			return lastChange(t, f.d)
		}, func(f *fixture, _ string) []string { return []string{"_root/k"} }},
		{"counter increment", func(t *testing.T, f *fixture) *automerge.Change {
			v, err := f.d.RootMap().Get("c")
			must(t, err)
			must(t, v.Counter().Inc(2))
			return lastChange(t, f.d)
		}, func(f *fixture, _ string) []string { return []string{"_root/c"} }},
		{"nested map put and delete", func(t *testing.T, f *fixture) *automerge.Change {
			must(t, f.d.Path("m").Map().Set("x", 1))
			must(t, f.d.Path("m").Map().Set("y", 2))
			must(t, f.d.Path("m").Map().Delete("x"))
			return lastChange(t, f.d)
		}, func(f *fixture, _ string) []string { return []string{f.mID + "/x", f.mID + "/y", f.mID + "/x"} }},
		{"list insert and set", func(t *testing.T, f *fixture) *automerge.Change {
			must(t, f.d.Path("l").List().Append("a", "b"))
			must(t, f.d.Path("l").List().Set(0, "z"))
			return lastChange(t, f.d)
		}, func(f *fixture, _ string) []string { return []string{f.lID + "#", f.lID + "#", f.lID + "#"} }},
		{"text splice", func(t *testing.T, f *fixture) *automerge.Change {
			must(t, f.d.Path("t").Text().Splice(1, 1, "ey"))
			return lastChange(t, f.d)
		}, func(f *fixture, _ string) []string { return []string{f.txtID + "#", f.txtID + "#", f.txtID + "#"} }},
		{"new map with a key", func(t *testing.T, f *fixture) *automerge.Change {
			must(t, f.d.RootMap().Set("n", automerge.NewMap()))
			must(t, f.d.Path("n").Map().Set("x", true))
			return lastChange(t, f.d)
		}, func(f *fixture, made string) []string { return []string{"_root/n", made + "/x"} }},
		{"other actor's object", func(t *testing.T, f *fixture) *automerge.Change {
			b, err := f.d.Fork()
			must(t, err)
			must(t, b.Path("m").Map().Set("q", "r"))
			must(t, b.RootMap().Set("k", "b"))
			return lastChange(t, b)
		}, func(f *fixture, _ string) []string { return []string{f.mID + "/q", "_root/k"} }},
	}
	for _, c := range cases {
		for _, compressed := range []bool{false, true} {
			name := c.name
			if compressed {
				name += " compressed"
			}
			t.Run(name, func(t *testing.T) {
				f := setup(t)
				ch := c.edit(t, f)
				raw := ch.Save()
				if compressed {
					raw = compressChange(t, raw)
					if raw[8] != chunkCompressedChange {
						t.Fatal("not compressed")
					}
				}
				ops, err := DecodeChangeOps(raw)
				if err != nil {
					t.Fatal(err)
				}
				made := ""
				if v, err := f.d.RootMap().Get("n"); err == nil && v.Kind() == automerge.KindMap {
					made = v.Map().ObjID()
				}
				if got, want := describeOps(ops), c.want(f, made); !slices.Equal(got, want) {
					t.Fatalf("ops = %q, want %q", got, want)
				}
				if !bytes.Equal(ops.Actors[0], mustHex(t, ch.ActorID())) {
					t.Fatalf("actor %x, want %s", ops.Actors[0], ch.ActorID())
				}
				if c.name == "other actor's object" && (len(ops.Actors) != 2 || ops.Ops[0].ObjActor != 1) {
					t.Fatalf("actors %x, first op's object actor %d: want the other actor at 1", ops.Actors, ops.Ops[0].ObjActor)
				}
			})
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	must(t, err)
	return b
}

// sampleChange returns a change with operations on the root, a nested
// map and a text.
func sampleChange(t testing.TB) *automerge.Change {
	d := automerge.New()
	must(t, d.RootMap().Set("collaborators", automerge.NewMap()))
	must(t, d.Path("collaborators").Map().Set("bob", true))
	must(t, d.RootMap().Set("owner", automerge.NewText("alice")))
	return lastChange(t, d)
}

// TestDecodeChangeOpsCorrupt: every single-byte corruption and every
// truncation of a change is an error matching ErrUnreadableChange
// (the checksum covers the body; the header is checked field by field),
// except a corruption of a deflate stream that still inflates to the
// same body.
func TestDecodeChangeOpsCorrupt(t *testing.T) {
	for _, compressed := range []bool{false, true} {
		raw := sampleChange(t).Save()
		if compressed {
			raw = compressChange(t, raw)
		}
		if _, err := DecodeChangeOps(raw); err != nil {
			t.Fatal(err)
		}
		body, err := changeBody(raw)
		must(t, err)
		for i := range raw {
			for _, x := range []byte{0x01, 0x80, 0xff} {
				bad := slices.Clone(raw)
				bad[i] ^= x
				_, err := DecodeChangeOps(bad)
				if errors.Is(err, ErrUnreadableChange) {
					continue
				}
				// A deflate stream may encode the same body another way;
				// anything else must fail.
				if got, berr := changeBody(bad); err != nil || berr != nil || !bytes.Equal(got, body) {
					t.Fatalf("compressed %v, byte %d ^ %#x: err %v, want ErrUnreadableChange", compressed, i, x, err)
				}
			}
		}
		for n := range raw {
			if _, err := DecodeChangeOps(raw[:n]); !errors.Is(err, ErrUnreadableChange) {
				t.Fatalf("compressed %v, truncated to %d: err %v, want ErrUnreadableChange", compressed, n, err)
			}
		}
		if _, err := DecodeChangeOps(append(slices.Clone(raw), 0)); !errors.Is(err, ErrUnreadableChange) {
			t.Fatalf("trailing byte: %v", err)
		}
	}
}

// changeParts splits an uncompressed change chunk's body into the
// fields before the column metadata, the metadata as (spec, length)
// pairs, the columns' data and the extra bytes.
func changeParts(t testing.TB, raw []byte) (head []byte, specs [][2]uint64, data, extra []byte) {
	t.Helper()
	r := reader{b: raw, off: 9}
	n, err := r.uleb()
	must(t, err)
	body, _ := r.take(int(n))
	b := reader{b: body}
	deps, _ := b.uleb()
	b.take(int(deps) * 32)
	b.actorID()
	b.uleb()
	b.uleb()
	b.sleb()
	b.lenPrefixed(b.left())
	others, _ := b.uleb()
	for range others {
		b.actorID()
	}
	head = body[:b.off]
	cols, _ := b.uleb()
	total := 0
	for range cols {
		s, _ := b.uleb()
		l, _ := b.uleb()
		specs = append(specs, [2]uint64{s, l})
		total += int(l)
	}
	data, _ = b.take(total)
	return head, specs, data, body[b.off:]
}

// buildChange frames the parts of changeParts as a change chunk.
func buildChange(head []byte, specs [][2]uint64, data, extra []byte) []byte {
	body := slices.Clone(head)
	body = binary.AppendUvarint(body, uint64(len(specs)))
	for _, s := range specs {
		body = binary.AppendUvarint(body, s[0])
		body = binary.AppendUvarint(body, s[1])
	}
	body = append(body, data...)
	return amchunk.Chunk(append(body, extra...))
}

// TestDecodeChangeOpsMalformed: hand-made changes whose checksum is
// right but whose contents the decoder does not accept — columns
// shorter or longer than the action column, an object or predecessor
// actor out of range, an unknown or compressed column, columns out of order, a
// document chunk, an oversized run, encodings automerge never writes (a
// run split or repeated, a run of one, overlong LEB128, a column of
// nulls only, an empty column) — are errors matching
// ErrUnreadableChange; the rebuilt original decodes.
func TestDecodeChangeOpsMalformed(t *testing.T) {
	raw := sampleChange(t).Save()
	head, specs, data, extra := changeParts(t, raw)
	if got := buildChange(head, specs, data, extra); !bytes.Equal(got, raw) {
		t.Fatal("rebuilding the change does not give its bytes")
	}
	// column returns the index of spec in specs and its data's offset.
	column := func(spec uint64) (int, int) {
		off := 0
		for i, s := range specs {
			if s[0] == spec {
				return i, off
			}
			off += int(s[1])
		}
		t.Fatalf("no column %#x", spec)
		return 0, 0
	}
	// replace swaps the data of the columns in cols (by spec).
	replace := func(cols map[uint64][]byte) []byte {
		ss := slices.Clone(specs)
		var d []byte
		for i := range ss {
			_, off := column(ss[i][0])
			col, ok := cols[ss[i][0]]
			if !ok {
				col = data[off : off+int(specs[i][1])]
			}
			ss[i][1] = uint64(len(col))
			d = append(d, col...)
		}
		return buildChange(head, ss, d, extra)
	}
	// n is the sample's number of operations (automerge writes a text's
	// initial value as one insert per character).
	ops, err := DecodeChangeOps(raw)
	must(t, err)
	n := len(ops.Ops)
	rleRun := func(count int64, v uint64) []byte {
		return binary.AppendUvarint(amchunk.AppendSleb(nil, count), v)
	}
	cases := []struct {
		name string
		raw  []byte
		want string
	}{
		{"action column one short", replace(map[uint64][]byte{colAction: rleRun(int64(n-1), 1)}), "entries"},
		{"action column one long", replace(map[uint64][]byte{colAction: rleRun(int64(n+1), 1)}), "entries"},
		{"object counters one short", replace(map[uint64][]byte{colObjCtr: rleRun(int64(n-1), 1)}), "entries"},
		{"object actor out of range", replace(map[uint64][]byte{colObjActor: rleRun(int64(n), 5), colObjCtr: rleRun(int64(n), 1)}), "object actor"},
		{"predecessor actor out of range", func() []byte {
			// Inserted (or replaced) in spec order: automerge 0.5's
			// import_ops indexes the actors with it unchecked.
			ss, d, at := slices.Clone(specs), slices.Clone(data), 0
			col := rleRun(1, 5)
			for i, sp := range specs {
				if sp[0] >= colPredActor {
					if sp[0] == colPredActor {
						ss = slices.Delete(ss, i, i+1)
						d = slices.Delete(d, at, at+int(sp[1]))
					}
					ss = slices.Insert(ss, i, [2]uint64{colPredActor, uint64(len(col))})
					d = slices.Insert(d, at, col...)
					return buildChange(head, ss, d, extra)
				}
				at += int(sp[1])
			}
			return buildChange(head, append(ss, [2]uint64{colPredActor, uint64(len(col))}), append(d, col...), extra)
		}(), "pred actor"},
		{"run over the limit", replace(map[uint64][]byte{colAction: rleRun(MaxChangeOps+1, 1)}), "limit"},
		{"null run of zero", replace(map[uint64][]byte{colAction: {0, 0}}), "null run"},
		{"unknown column", func() []byte {
			ss := append(slices.Clone(specs), [2]uint64{0xb2, 1})
			return buildChange(head, ss, append(slices.Clone(data), 0), extra)
		}(), "unknown column"},
		{"compressed column", func() []byte {
			i, _ := column(colAction)
			ss := slices.Clone(specs)
			ss[i][0] |= colDeflate
			return buildChange(head, ss, data, extra)
		}(), "compressed"},
		{"columns out of order", func() []byte {
			ss := slices.Clone(specs)
			ss[0], ss[1] = ss[1], ss[0]
			return buildChange(head, ss, data, extra)
		}(), "out of order"},
		{"column beyond the body", func() []byte {
			ss := slices.Clone(specs)
			ss[len(ss)-1][1] += 100
			return buildChange(head, ss, data, extra)
		}(), "beyond"},
		{"run split in two", replace(map[uint64][]byte{colPredGroup: append(append(amchunk.AppendSleb(nil, -1), 0), rleRun(int64(n-1), 0)...)}), "not automerge's encoding"},
		{"two runs of one value", replace(map[uint64][]byte{colPredGroup: append(rleRun(2, 0), rleRun(int64(n-2), 0)...)}), "not automerge's encoding"},
		{"repeated run of one", replace(map[uint64][]byte{colPredGroup: append(rleRun(1, 0), rleRun(int64(n-1), 1)...)}), "not automerge's encoding"},
		{"overlong LEB128", replace(map[uint64][]byte{colPredGroup: append(amchunk.AppendSleb(nil, int64(n)), 0x80, 0)}), "LEB128 of 2 bytes"},
		{"object ids null only", replace(map[uint64][]byte{colObjActor: binary.AppendUvarint([]byte{0}, uint64(n)), colObjCtr: binary.AppendUvarint([]byte{0}, uint64(n))}), "nulls only"},
		{"empty column", func() []byte {
			ss := append(slices.Clone(specs), [2]uint64{colMarkName, 0})
			return buildChange(head, ss, data, extra)
		}(), "empty column"},
		{"document chunk", func() []byte {
			b := slices.Clone(raw)
			b[8] = 0
			return b
		}(), "not a change"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeChangeOps(c.raw)
			if !errors.Is(err, ErrUnreadableChange) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want ErrUnreadableChange mentioning %q", err, c.want)
			}
		})
	}
}

// TestACLCheckRefusesUnreadable: a change automerge loads but the
// decoder cannot read (an extra column automerge ignores) is refused by
// the ACL check, not let through.
func TestACLCheckRefusesUnreadable(t *testing.T) {
	d := automerge.New()
	must(t, d.RootMap().Set("name", "harmless"))
	first := lastChange(t, d)
	head, specs, data, extra := changeParts(t, first.Save())
	specs = append(specs, [2]uint64{0xb2, 1})
	odd := buildChange(head, specs, append(slices.Clone(data), 0), extra)
	changes, err := automerge.LoadChanges(odd)
	must(t, err)
	if err := CheckACLUntouched(automerge.New(), changes); !errors.Is(err, ErrUnreadableChange) {
		t.Fatalf("check = %v, want ErrUnreadableChange", err)
	}
	if err := CheckACLUntouched(automerge.New(), []*automerge.Change{first}); err != nil {
		t.Fatalf("the original change: %v", err)
	}
}

// FuzzChangeOps: DecodeChangeOps never panics, and what it returns is
// consistent (object actors index Actors). Each input is also read as a
// change body without the chunk's checksum, so mutations reach the
// columns.
func FuzzChangeOps(f *testing.F) {
	d := automerge.New()
	must(f, d.RootMap().Set("owner", "alice"))
	f.Add(lastChange(f, d).Save())
	raw := sampleChange(f).Save()
	f.Add(raw)
	f.Add(compressChange(f, raw))
	b, err := d.Fork()
	must(f, err)
	must(f, b.RootMap().Set("list", automerge.NewList()))
	must(f, b.Path("list").List().Append(1, 2, 3))
	f.Add(lastChange(f, b).Save())
	for _, seed := range [][]byte{raw} {
		r := reader{b: seed, off: 9}
		n, _ := r.uleb()
		body, _ := r.take(int(n))
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, decode := range []func([]byte) (*ChangeOps, error){DecodeChangeOps, decodeBody} {
			ops, err := decode(in)
			if err != nil {
				continue
			}
			for _, op := range ops.Ops {
				if op.ObjActor < 0 || op.ObjActor >= len(ops.Actors) || op.Root() && op.ObjActor != 0 {
					t.Fatalf("op %+v with %d actors", op, len(ops.Actors))
				}
				if ops.ObjID(op) == "" {
					t.Fatal("empty object id")
				}
			}
		}
	})
}
