package access_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/access"
	"github.com/segue-fm/segue/store/badgerstore"
)

var day = time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)

func chunkRec(dev string, at time.Time, i uint32) access.Record {
	return access.Record{Kind: access.KindChunk, Time: at.UnixMilli(), Device: model.DeviceID("dev-" + dev),
		Track: "tr1", Tier: "high", First: i, Last: i, Blob: [32]byte{byte(i), 7}, Offset: 0, Bytes: 65536}
}

func TestRecordRoundTrip(t *testing.T) {
	long := string(make([]byte, 256))
	tests := []struct {
		name string
		rec  access.Record
		ok   bool
	}{
		{"chunk", chunkRec("a", day, 3), true},
		{"chunk range", access.Record{Kind: access.KindChunk, Time: 1, Device: "d", Track: "t", Tier: "low", First: 2, Last: 9, Bytes: 1 << 40, Offset: 1 << 33}, true},
		{"header", access.Record{Kind: access.KindHeader, Time: 5, Device: "d", Track: "t", Tier: "low", Blob: [32]byte{1}}, true},
		{"blob", access.Record{Kind: access.KindBlob, Time: 5, Device: "d", Blob: [32]byte{9}, Bytes: 10}, true},
		{"license", access.Record{Kind: access.KindLicense, Time: 5, Device: "d", Track: "t", Tier: "high", License: "li00", Expires: -3}, true},
		{"no kind", access.Record{Time: 5}, false},
		{"bad kind", access.Record{Kind: 9}, false},
		{"negative time", access.Record{Kind: access.KindChunk, Time: -1}, false},
		{"reversed range", access.Record{Kind: access.KindChunk, First: 3, Last: 2}, false},
		{"long device", access.Record{Kind: access.KindChunk, Device: model.DeviceID(long)}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.rec.AppendBinary(nil)
			if !tc.ok {
				if !errors.Is(err, access.ErrBadRecord) {
					t.Fatalf("AppendBinary = %v, want ErrBadRecord", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > access.MaxEncodedLen {
				t.Fatalf("%d bytes > MaxEncodedLen", len(b))
			}
			got, err := access.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.rec {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, tc.rec)
			}
			for i := range b {
				if _, err := access.Decode(b[:i]); !errors.Is(err, access.ErrBadRecord) {
					t.Fatalf("prefix of %d bytes: %v, want ErrBadRecord", i, err)
				}
			}
			if _, err := access.Decode(append(b, 0)); !errors.Is(err, access.ErrBadRecord) {
				t.Fatalf("trailing byte: %v", err)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	for _, r := range []access.Record{chunkRec("a", day, 1), {Kind: access.KindLicense, Time: 3, Device: "d", License: "l", Expires: 9}} {
		b, _ := r.AppendBinary(nil)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := access.Decode(b)
		if err != nil {
			return
		}
		enc, err := r.AppendBinary(nil)
		if err != nil {
			t.Fatalf("decoded record does not encode: %v", err)
		}
		r2, err := access.Decode(enc)
		if err != nil || r2 != r {
			t.Fatalf("re-encode: %v %+v != %+v", err, r2, r)
		}
	})
}

// backends returns a writer and reader pair per backend, on real Badger
// and real files in temp dirs.
func backends(t *testing.T, opts access.Options) map[string]func() (access.Writer, access.Reader) {
	return map[string]func() (access.Writer, access.Reader){
		"badger": func() (access.Writer, access.Reader) {
			st, err := badgerstore.Open(context.Background(), t.TempDir(), badgerstore.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return access.NewStoreWriter(st, opts), access.NewStoreReader(st)
		},
		"file": func() (access.Writer, access.Reader) {
			dir := t.TempDir()
			w, err := access.NewFileWriter(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			return w, access.NewFileReader(dir)
		},
	}
}

func scanAll(t *testing.T, r access.Reader, from, to time.Time) []access.Record {
	t.Helper()
	var out []access.Record
	if err := r.Scan(context.Background(), from, to, func(rec access.Record) error {
		out = append(out, rec)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestWriterReader(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends(t, access.DefaultOptions().WithMaxBatch(7).WithFlushInterval(time.Hour)) {
		t.Run(name, func(t *testing.T) {
			w, r := open()
			defer w.Close()
			// 100 records over three days, written out of time order
			// within each batch; the reader returns them by time.
			var want []access.Record
			for i := range 100 {
				at := day.Add(-24 * time.Hour).Add(time.Duration(i) * 40 * time.Minute)
				rec := chunkRec("a", at, uint32(i))
				want = append(want, rec)
			}
			for i := len(want) - 1; i >= 0; i-- {
				if err := w.Write(want[i]); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if s := w.Stats(); s.Written != 100 || s.Dropped != 0 {
				t.Fatalf("stats %+v", s)
			}
			got := scanAll(t, r, day, day.Add(24*time.Hour))
			slices.SortFunc(got, func(a, b access.Record) int { return cmp.Compare(a.Time, b.Time) })
			var wantDay []access.Record
			for _, rec := range want {
				if rec.Time >= day.UnixMilli() && rec.Time < day.Add(24*time.Hour).UnixMilli() {
					wantDay = append(wantDay, rec)
				}
			}
			if len(got) != len(wantDay) || len(got) != 36 {
				t.Fatalf("day scan: %d records, want %d", len(got), len(wantDay))
			}
			for i := range got {
				if got[i] != wantDay[i] {
					t.Fatalf("record %d: %+v, want %+v", i, got[i], wantDay[i])
				}
			}
			if all := scanAll(t, r, day.Add(-48*time.Hour), day.Add(72*time.Hour)); len(all) != 100 {
				t.Fatalf("full scan: %d records", len(all))
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if err := w.Write(chunkRec("a", day, 1)); !errors.Is(err, access.ErrClosed) {
				t.Fatalf("Write after Close = %v", err)
			}
		})
	}
}

func TestWriterBounded(t *testing.T) {
	for name, open := range backends(t, access.DefaultOptions().WithMaxPending(10).WithMaxBatch(1000).WithFlushInterval(time.Hour)) {
		t.Run(name, func(t *testing.T) {
			w, r := open()
			defer w.Close()
			var full int
			for i := range 25 {
				switch err := w.Write(chunkRec("a", day, uint32(i))); {
				case errors.Is(err, access.ErrFull):
					full++
				case err != nil:
					t.Fatal(err)
				}
			}
			if full != 15 || w.Stats().Dropped != 15 {
				t.Fatalf("%d ErrFull, stats %+v; want 15 dropped", full, w.Stats())
			}
			if err := w.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n := len(scanAll(t, r, day, day.Add(time.Hour))); n != 10 {
				t.Fatalf("%d records written, want 10", n)
			}
			if err := w.Write(access.Record{Kind: 42}); !errors.Is(err, access.ErrBadRecord) {
				t.Fatalf("bad record: %v", err)
			}
		})
	}
}

func TestCloseWritesQueued(t *testing.T) {
	for name, open := range backends(t, access.DefaultOptions().WithFlushInterval(time.Hour)) {
		t.Run(name, func(t *testing.T) {
			w, r := open()
			for i := range 5 {
				if err := w.Write(chunkRec("b", day.Add(time.Duration(i)*time.Second), uint32(i))); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if n := len(scanAll(t, r, day, day.Add(time.Hour))); n != 5 {
				t.Fatalf("%d records after Close, want 5", n)
			}
		})
	}
}

func TestFileTornTailAndCorruption(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, err := access.NewFileWriter(dir, access.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		w.Write(chunkRec("c", day.Add(time.Duration(i)*time.Minute), uint32(i)))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "access-2026-11-30.log")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A crash mid-frame: the reader ignores the torn tail, a new writer
	// truncates it and appends after the good frames.
	if err := os.WriteFile(path, append(b, b[:10]...), 0o600); err != nil {
		t.Fatal(err)
	}
	r := access.NewFileReader(dir)
	if n := len(scanAll(t, r, day, day.Add(time.Hour))); n != 3 {
		t.Fatalf("torn tail: %d records, want 3", n)
	}
	w, err = access.NewFileWriter(dir, access.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	w.Write(chunkRec("c", day.Add(10*time.Minute), 10))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(scanAll(t, r, day, day.Add(time.Hour))); n != 4 {
		t.Fatalf("after append: %d records, want 4", n)
	}
	// A flipped bit inside a frame is corruption, named as such.
	b, _ = os.ReadFile(path)
	b[20] ^= 1
	os.WriteFile(path, b, 0o600)
	err = r.Scan(ctx, day, day.Add(time.Hour), func(access.Record) error { return nil })
	if !errors.Is(err, access.ErrCorrupt) {
		t.Fatalf("flipped bit: %v, want ErrCorrupt", err)
	}
}

// TestFileZeroTail: after a machine crash a day file may end in zero
// bytes (the file grew before its last data reached the disk): from a
// frame's length, or from inside its body, to the end. The reader treats
// that as a torn tail and a new writer truncates it and appends, instead
// of failing the day with ErrCorrupt (the writer then refused every
// batch of the day, and reconcile could not read it); nonzero bytes
// after a bad frame are still corruption.
func TestFileZeroTail(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		tail func(frame []byte) []byte // appended to three good frames
		want int                       // records read; -1: ErrCorrupt
	}{
		{"zero block", func([]byte) []byte { return make([]byte, 4096) }, 3},
		{"zeros from inside a frame", func(f []byte) []byte { return append(bytes.Clone(f[:9]), make([]byte, 4096)...) }, 3},
		{"zeros from the checksum", func(f []byte) []byte { return append(bytes.Clone(f[:len(f)-4]), make([]byte, 100)...) }, 3},
		{"garbage after zeros", func([]byte) []byte { return append(make([]byte, 100), 1) }, -1},
		{"bad frame, zeros after it", func(f []byte) []byte {
			b := bytes.Clone(f)
			b[6] ^= 1
			return append(b, make([]byte, 100)...)
		}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			w, err := access.NewFileWriter(dir, access.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				w.Write(chunkRec("c", day.Add(time.Duration(i)*time.Minute), uint32(i)))
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "access-2026-11-30.log")
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			frame := b[:len(b)/3]
			if err := os.WriteFile(path, append(b, tc.tail(frame)...), 0o600); err != nil {
				t.Fatal(err)
			}
			r := access.NewFileReader(dir)
			var n int
			err = r.Scan(ctx, day, day.Add(time.Hour), func(access.Record) error { n++; return nil })
			if tc.want < 0 {
				if !errors.Is(err, access.ErrCorrupt) {
					t.Fatalf("scan: %v, want ErrCorrupt", err)
				}
				return
			}
			if err != nil || n != tc.want {
				t.Fatalf("scan: %d records, %v; want %d", n, err, tc.want)
			}
			w, err = access.NewFileWriter(dir, access.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			w.Write(chunkRec("c", day.Add(10*time.Minute), 10))
			if err := w.Close(); err != nil {
				t.Fatalf("append after the zero tail: %v", err)
			}
			if n := len(scanAll(t, r, day, day.Add(time.Hour))); n != 4 {
				t.Fatalf("after append: %d records, want 4", n)
			}
		})
	}
}

func TestRangeStart(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint64
	}{
		{"bytes 100-199/1000", 100},
		{"bytes 0-0/1", 0},
		{"bytes */1000", 0},
		{"bytes 18446744073709551616-1/2", 0},
		{"items 5-9/10", 0},
		{"", 0},
		{"bytes 7", 0},
	} {
		if got := access.RangeStart(c.in); got != c.want {
			t.Errorf("RangeStart(%q) = %d, want %d", c.in, got, c.want)
		}
	}
}

// TestMultiReader reads a store's and a file directory's records as one:
// each record once, in the window only, and an error of fn ends the scan.
func TestMultiReader(t *testing.T) {
	ctx := context.Background()
	opts := access.DefaultOptions()
	var readers []access.Reader
	var want []access.Record
	for i, name := range []string{"badger", "file"} {
		w, r := backends(t, opts)[name]()
		readers = append(readers, r)
		for j := range 3 {
			rec := chunkRec(name, day.Add(time.Duration(i*3+j)*time.Hour), uint32(j))
			want = append(want, rec)
			if err := w.Write(rec); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Write(chunkRec(name, day.Add(-time.Hour), 9)); err != nil {
			t.Fatal(err) // outside the scanned window
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	m := access.MultiReader(readers...)
	got := scanAll(t, m, day, day.Add(24*time.Hour))
	slices.SortFunc(got, func(a, b access.Record) int { return cmp.Compare(a.Time, b.Time) })
	if !slices.Equal(got, want) {
		t.Fatalf("scanned %+v, want %+v", got, want)
	}
	stop := errors.New("stop")
	n := 0
	err := m.Scan(ctx, day, day.Add(24*time.Hour), func(access.Record) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("fn's error: scan returned %v after %d records, want it after 1", err, n)
	}
	if got := scanAll(t, access.MultiReader(), day, day.Add(24*time.Hour)); len(got) != 0 {
		t.Fatalf("no readers: %d records", len(got))
	}
}

// TestFileFailedBatchNotDuplicated: a batch spanning two days whose
// second file cannot be written fails and is written again whole later;
// the first day's frames, already written and synced by the failed
// attempt, were then in its file twice. Now every file goes back to where
// the batch started.
func TestFileFailedBatchNotDuplicated(t *testing.T) {
	// The two files are written in map order: several runs make the
	// first day's file come first in some.
	for attempt := range 8 {
		t.Run(fmt.Sprint(attempt), testFailedBatchNotDuplicated)
	}
}

func testFailedBatchNotDuplicated(t *testing.T) {
	dir := t.TempDir()
	next := filepath.Join(dir, "access-2026-12-01.log")
	if err := os.Mkdir(next, 0o700); err != nil { // unopenable as a file
		t.Fatal(err)
	}
	w, err := access.NewFileWriter(dir, access.DefaultOptions().WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		w.Write(chunkRec("c", day.Add(time.Duration(i)*time.Minute), uint32(i)))
	}
	w.Write(chunkRec("c", day.Add(24*time.Hour), 9))
	deadline := time.Now().Add(10 * time.Second)
	for w.Stats().Failed == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the batch never failed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := os.Remove(next); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r := access.NewFileReader(dir)
	if n := len(scanAll(t, r, day, day.Add(48*time.Hour))); n != 4 {
		t.Fatalf("%d records after the retried batch, want 4", n)
	}
}

// TestFileDirRemoved: a record directory removed (or a day file deleted)
// while the writer runs is made again by the next batch, whose records
// land in a new day file, not in the deleted one (before, the writer
// kept appending to the open, unlinked file: every later record of the
// day was acknowledged and lost, and reconcile found the day's streams
// unbacked).
func TestFileDirRemoved(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		remove func(dir string) error
	}{
		{"directory", os.RemoveAll},
		{"day file", func(dir string) error { return os.Remove(filepath.Join(dir, "access-2026-11-30.log")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "access")
			w, err := access.NewFileWriter(dir, access.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			w.Write(chunkRec("c", day, 0))
			if err := w.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if err := tc.remove(dir); err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				w.Write(chunkRec("c", day.Add(time.Duration(i+1)*time.Minute), uint32(i+1)))
			}
			if err := w.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if n := len(scanAll(t, access.NewFileReader(dir), day, day.Add(time.Hour))); n != 3 {
				t.Errorf("%d records after the %s was removed, want the 3 written since", n, tc.name)
			}
		})
	}
}
