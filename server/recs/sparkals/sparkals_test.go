package sparkals

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"gonum.org/v1/gonum/mat"
)

func sampleTable(prefix string, rows, rank int) Table {
	ids := make([]string, rows)
	data := make([]float64, rows*rank)
	for r := range ids {
		ids[r] = prefix + string(rune('a'+r%26)) + strings.Repeat("x", r/26)
		for c := range rank {
			data[r*rank+c] = float64(r*rank+c)/7 - 3
		}
	}
	return Table{IDs: ids, Factors: mat.NewDense(rows, rank, data)}
}

func writeFile(t *testing.T, idColumn string, tb Table, p Precision) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteTable(&buf, idColumn, tb, p); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	for _, p := range []Precision{Float32, Float64} {
		users, items := sampleTable("u", 40, 8), sampleTable("t", 100, 8)
		dir := t.TempDir()
		if err := Write(dir, Manifest{RunID: "run-1", ExportID: "exp-1"}, users, items, p); err != nil {
			t.Fatal(err)
		}
		// Spark's marker and checksum files are ignored.
		if err := os.WriteFile(filepath.Join(dir, UserDir, "_SUCCESS"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, UserDir, ".part-00000.snappy.parquet.crc"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := Load(context.Background(), dir, DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		if f.Manifest.Rank != 8 || f.Manifest.Users != 40 || f.Manifest.Items != 100 || f.Manifest.RunID != "run-1" {
			t.Fatalf("manifest %+v", f.Manifest)
		}
		for _, c := range []struct{ got, want Table }{{f.Users, users}, {f.Items, items}} {
			if !slicesEqual(c.got.IDs, c.want.IDs) {
				t.Fatalf("ids %v, want %v", c.got.IDs[:3], c.want.IDs[:3])
			}
			tol := 0.0
			if p == Float32 {
				tol = 1e-6
			}
			if !mat.EqualApprox(c.got.Factors, c.want.Factors, tol) {
				t.Fatalf("precision %d: factors differ", p)
			}
		}
	}
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestSeveralParts: Spark writes one part file per partition.
func TestSeveralParts(t *testing.T) {
	dir := t.TempDir()
	all := sampleTable("t", 30, 4)
	if err := Write(dir, Manifest{}, sampleTable("u", 3, 4), all, Float32); err != nil {
		t.Fatal(err)
	}
	// Split item_factors into two parts.
	first := Table{IDs: all.IDs[:10], Factors: mat.DenseCopyOf(all.Factors.Slice(0, 10, 0, 4))}
	second := Table{IDs: all.IDs[10:], Factors: mat.DenseCopyOf(all.Factors.Slice(10, 30, 0, 4))}
	part := filepath.Join(dir, ItemDir)
	if err := os.WriteFile(filepath.Join(part, "part-00000.snappy.parquet"), writeFile(t, ItemColumn, first, Float32), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(part, "part-00001.snappy.parquet"), writeFile(t, ItemColumn, second, Float32), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Load(context.Background(), dir, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if !slicesEqual(f.Items.IDs, all.IDs) || !mat.EqualApprox(f.Items.Factors, all.Factors, 1e-6) {
		t.Fatal("two parts do not read back as the whole")
	}
}

func TestLoadRejects(t *testing.T) {
	good := func(t *testing.T) string {
		dir := t.TempDir()
		if err := Write(dir, Manifest{}, sampleTable("u", 5, 3), sampleTable("t", 6, 3), Float32); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	replace := func(t *testing.T, dir, side, col string, tb Table) {
		if err := os.WriteFile(filepath.Join(dir, side, "part-00000.snappy.parquet"), writeFile(t, col, tb, Float64), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	manifest := func(t *testing.T, dir, s string) {
		if err := os.WriteFile(filepath.Join(dir, ManifestFile), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name  string
		edit  func(t *testing.T, dir string)
		lim   func(Limits) Limits
		want  error
		match string
	}{
		{"NaN", func(t *testing.T, dir string) {
			tb := sampleTable("t", 6, 3)
			tb.Factors.Set(2, 1, math.NaN())
			replace(t, dir, ItemDir, ItemColumn, tb)
		}, nil, ErrMalformed, "non-finite"},
		{"Inf", func(t *testing.T, dir string) {
			tb := sampleTable("u", 5, 3)
			tb.Factors.Set(4, 0, math.Inf(-1))
			replace(t, dir, UserDir, UserColumn, tb)
		}, nil, ErrMalformed, "non-finite"},
		{"rank differs from manifest", func(t *testing.T, dir string) {
			replace(t, dir, ItemDir, ItemColumn, sampleTable("t", 6, 4))
		}, nil, ErrMalformed, "want 3"},
		{"fewer rows than manifest (copy under way)", func(t *testing.T, dir string) {
			replace(t, dir, ItemDir, ItemColumn, sampleTable("t", 5, 3))
		}, nil, ErrMalformed, "manifest says 6"},
		{"duplicate id", func(t *testing.T, dir string) {
			tb := sampleTable("t", 6, 3)
			tb.IDs[5] = tb.IDs[0]
			replace(t, dir, ItemDir, ItemColumn, tb)
		}, nil, ErrMalformed, "duplicate"},
		{"invalid id", func(t *testing.T, dir string) {
			tb := sampleTable("t", 6, 3)
			tb.IDs[1] = "a/b"
			replace(t, dir, ItemDir, ItemColumn, tb)
		}, nil, ErrMalformed, "invalid id"},
		{"wrong id column", func(t *testing.T, dir string) {
			replace(t, dir, ItemDir, UserColumn, sampleTable("t", 6, 3))
		}, nil, ErrMalformed, "want columns"},
		{"not parquet", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, ItemDir, "part-00000.snappy.parquet"), []byte("PAR1 not really"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, nil, ErrMalformed, "open Parquet"},
		{"stray file", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, ItemDir, "notes.txt"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}, nil, ErrMalformed, "not a .parquet"},
		{"manifest format", func(t *testing.T, dir string) {
			manifest(t, dir, `{"format":"other","rank":3,"users":5,"items":6}`)
		}, nil, ErrMalformed, "format"},
		{"manifest unknown field", func(t *testing.T, dir string) {
			manifest(t, dir, `{"format":"`+Format+`","rank":3,"users":5,"items":6,"extra":1}`)
		}, nil, ErrMalformed, "unknown field"},
		{"manifest rank 0", func(t *testing.T, dir string) {
			manifest(t, dir, `{"format":"`+Format+`","rank":0,"users":5,"items":6}`)
		}, nil, ErrMalformed, "rank 0"},
		{"manifest too big", func(t *testing.T, dir string) {
			manifest(t, dir, `{"format":"`+Format+`","run_id":"`+strings.Repeat("x", maxManifest)+`"}`)
		}, nil, ErrTooLarge, "manifest over"},
		{"rank over limit", nil, func(l Limits) Limits { l.MaxRank = 2; return l }, ErrTooLarge, "rank 3 over 2"},
		{"rows over limit", nil, func(l Limits) Limits { l.MaxRows = 5; return l }, ErrTooLarge, "limit 5 rows"},
		{"values over limit", nil, func(l Limits) Limits { l.MaxValues = 17; return l }, ErrTooLarge, "over 17"},
		{"file over limit", nil, func(l Limits) Limits { l.MaxFileBytes = 100; return l }, ErrTooLarge, "limit 100"},
		{"too many files", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, ItemDir, "part-00001.parquet"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}, func(l Limits) Limits { l.MaxFiles = 1; return l }, ErrTooLarge, "part files"},
		{"no manifest", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, ManifestFile)); err != nil {
				t.Fatal(err)
			}
		}, nil, os.ErrNotExist, "manifest"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := good(t)
			if c.edit != nil {
				c.edit(t, dir)
			}
			lim := DefaultLimits()
			if c.lim != nil {
				lim = c.lim(lim)
			}
			f, err := Load(context.Background(), dir, lim)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.match) {
				t.Fatalf("Load = %v, %v; want %v containing %q", f, err, c.want, c.match)
			}
		})
	}
}

// TestNullsRejected: Spark's columns are nullable; a null id, a null
// list, an empty list or a null element is refused.
func TestNullsRejected(t *testing.T) {
	schema := sparkSchema(ItemColumn, Float32)
	idLeaf, _ := schema.Lookup(ItemColumn)
	fl, _ := schema.Lookup(FeaturesColumn, "list", "element")
	id := func(def int) parquet.Value {
		return parquet.ValueOf("t1").Level(0, def, idLeaf.ColumnIndex)
	}
	nullID := parquet.Value{}.Level(0, 0, idLeaf.ColumnIndex)
	f := func(rep, def int, v float32) parquet.Value { return parquet.ValueOf(v).Level(rep, def, fl.ColumnIndex) }
	null := func(rep, def int) parquet.Value { return parquet.Value{}.Level(rep, def, fl.ColumnIndex) }
	order := func(idv parquet.Value, feats ...parquet.Value) parquet.Row {
		if idLeaf.ColumnIndex < fl.ColumnIndex {
			return append(parquet.Row{idv}, feats...)
		}
		return append(parquet.Row(feats), idv)
	}
	for _, c := range []struct {
		name string
		row  parquet.Row
	}{
		{"null id", order(nullID, f(0, 3, 1), f(1, 3, 2))},
		{"null list", order(id(1), null(0, 0))},
		{"empty list", order(id(1), null(0, 1))},
		{"null element", order(id(1), f(0, 3, 1), null(1, 2))},
	} {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := parquet.NewWriter(&buf, schema)
			if _, err := w.WriteRows([]parquet.Row{c.row}); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			_, err := Parse(bytes.NewReader(buf.Bytes()), int64(buf.Len()), ItemColumn, 0, DefaultLimits())
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse = %v, want ErrMalformed", err)
			}
			if testing.Verbose() {
				t.Log(err)
			}
		})
	}
}

// FuzzParse: any bytes give a table that keeps the invariants or an
// error; never a panic.
func FuzzParse(f *testing.F) {
	for _, p := range []Precision{Float32, Float64} {
		var buf bytes.Buffer
		if err := WriteTable(&buf, ItemColumn, sampleTable("t", 4, 3), p); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Add([]byte("PAR1PAR1"))
	lim := DefaultLimits()
	lim.MaxRows, lim.MaxValues, lim.MaxRank = 1000, 10000, 64
	f.Fuzz(func(t *testing.T, b []byte) {
		tb, err := Parse(bytes.NewReader(b), int64(len(b)), ItemColumn, 0, lim)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error %v is neither ErrMalformed nor ErrTooLarge", err)
			}
			return
		}
		seen := map[string]bool{}
		for r, id := range tb.IDs {
			if seen[id] || id == "" {
				t.Fatalf("id %q repeated or empty", id)
			}
			seen[id] = true
			for _, v := range tb.Factors.RawRowView(r) {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatal("non-finite factor")
				}
			}
		}
	})
}

// TestFooterChecked: a footer length beyond the file is refused before
// parquet-go allocates it (it would allocate up to 4 GiB otherwise), and
// so is a row without factors; both were found by FuzzParse.
func TestFooterChecked(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteTable(&buf, ItemColumn, sampleTable("t", 4, 3), Float32); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	for _, n := range []uint32{0xb3000136, uint32(len(b)), maxFooter + 1} {
		c := bytes.Clone(b)
		c[len(c)-8], c[len(c)-7], c[len(c)-6], c[len(c)-5] = byte(n), byte(n>>8), byte(n>>16), byte(n>>24)
		if _, err := Parse(bytes.NewReader(c), int64(len(c)), ItemColumn, 0, DefaultLimits()); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "footer of") {
			t.Errorf("footer length %d: %v", n, err)
		}
	}
	if _, err := Parse(bytes.NewReader([]byte("PAR1")), 4, ItemColumn, 0, DefaultLimits()); !errors.Is(err, ErrMalformed) {
		t.Errorf("4 bytes: %v", err)
	}
}
