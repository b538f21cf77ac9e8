package filespill

import (
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/segue-fm/segue/sync/msync"
	"github.com/segue-fm/segue/sync/msync/spilltest"
)

func open(t *testing.T, o Options) *File {
	t.Helper()
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	spilltest.Run(t, func(t *testing.T) msync.Spill { return open(t, DefaultOptions(t.TempDir())) })
}

// TestUnlinked: the spill leaves no file in its directory.
func TestUnlinked(t *testing.T) {
	dir := t.TempDir()
	s := open(t, DefaultOptions(dir))
	if _, err := s.Put([]byte("slab")); err != nil {
		t.Fatal(err)
	}
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
		t.Fatalf("directory holds %v (%v)", ents, err)
	}
	if _, err := Open(DefaultOptions(dir + "/missing")); err == nil {
		t.Fatal("opened a spill in a missing directory")
	}
}

// TestMaxBytes: a put past the bound fails with ErrFull and stores
// nothing; freeing makes room again.
func TestMaxBytes(t *testing.T) {
	s := open(t, DefaultOptions(t.TempDir()).WithMaxBytes(10_000))
	a, err := s.Put(make([]byte, 6000))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(make([]byte, 6000)); !errors.Is(err, ErrFull) {
		t.Fatalf("put past the bound: %v", err)
	}
	if st := s.Stats(); st.Live != 6000 || st.Written != 6000 || st.PutErrors != 1 {
		t.Fatalf("stats after a refused put: %+v", st)
	}
	s.Free(a)
	if _, err := s.Put(make([]byte, 6000)); err != nil {
		t.Fatalf("put after a free: %v", err)
	}
	if _, err := s.Put(nil); err == nil {
		t.Fatal("put of nothing")
	}
}

// TestClosed: after Close, puts and gets fail with ErrClosed.
func TestClosed(t *testing.T) {
	s := open(t, DefaultOptions(t.TempDir()))
	ref, err := s.Put([]byte("slab"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("put after close: %v", err)
	}
	if _, err := s.Get(ref, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("get after close: %v", err)
	}
	s.Free(ref)
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

// TestPunchesFreedPages: freeing slabs returns the disk blocks of the
// pages no live slab touches, and only those: the slabs left read back.
func TestPunchesFreedPages(t *testing.T) {
	s := open(t, DefaultOptions(t.TempDir()))
	var refs []msync.SpillRef
	for i := range 64 {
		data := make([]byte, 3000)
		for j := range data {
			data[j] = byte(i + j)
		}
		ref, err := s.Put(data)
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
	}
	blocks := func() int64 {
		var st syscall.Stat_t
		if err := syscall.Fstat(int(s.f.Fd()), &st); err != nil {
			t.Fatal(err)
		}
		return st.Blocks * 512
	}
	before := blocks()
	if before < 64*3000 {
		t.Fatalf("%d bytes allocated for %d written", before, 64*3000)
	}
	// Free all but slab 40.
	for i, r := range refs {
		if i != 40 {
			s.Free(r)
		}
	}
	if !s.Stats().Punching {
		t.Skip("the file system under t.TempDir() punches no holes")
	}
	after := blocks()
	if after > 2*pageSize {
		t.Fatalf("%d bytes still allocated (%d before) for one live slab of 3000", after, before)
	}
	got, err := s.Get(refs[40], nil)
	if err != nil || len(got) != 3000 || got[0] != byte(40) || got[2999] != byte((40+2999)%256) {
		t.Fatalf("live slab after punching: %d bytes, %v", len(got), err)
	}
	if st := s.Stats(); st.Live != 3000 || st.Frees != 63 {
		t.Fatalf("stats: %+v", st)
	}
}
