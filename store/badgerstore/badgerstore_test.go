package badgerstore_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/store/badgerstore"
	"github.com/segue-fm/segue/store/storetest"
)

func quiet() badgerstore.Options {
	return badgerstore.DefaultOptions().WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func open(t *testing.T, dir string, opts badgerstore.Options) *badgerstore.Store {
	t.Helper()
	s, err := badgerstore.Open(t.Context(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, t.TempDir(), quiet()) })
}

func TestInMemory(t *testing.T) {
	s := open(t, "", quiet().WithInMemory(true))
	defer s.Close()
	ctx := t.Context()
	tests := []struct {
		size    int
		wantErr error
	}{
		{0, nil},
		{1000, nil},
		{badgerstore.MaxInMemoryValue, nil},
		{badgerstore.MaxInMemoryValue + 1, badgerstore.ErrValueTooLarge},
		{4 << 20, badgerstore.ErrValueTooLarge},
	}
	for _, tc := range tests {
		k := []byte(fmt.Sprint("v/", tc.size))
		err := s.Set(ctx, k, make([]byte, tc.size))
		if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
			t.Fatalf("set %d bytes: %v, want %v", tc.size, err, tc.wantErr)
		}
		got, err := s.Get(ctx, k)
		if tc.wantErr == nil && (err != nil || len(got) != tc.size) {
			t.Fatalf("get %d bytes: len %d, %v", tc.size, len(got), err)
		}
		if tc.wantErr != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("rejected %d-byte value is readable: %v", tc.size, err)
		}
	}
}

func TestReopenDurable(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	s := open(t, dir, quiet())
	for i := range 100 {
		if err := s.Set(ctx, store.Key("k", store.U64(uint64(i))), []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(ctx, store.Key("k", store.U64(7))); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, quiet())
	defer s.Close()
	n := 0
	err := s.Iterate(ctx, store.Prefix("k"), false, func(k, v []byte) error {
		i, err := store.Uint64(k[2:])
		if err != nil {
			return err
		}
		if i == 7 || string(v) != fmt.Sprint(i) {
			return fmt.Errorf("key %d = %q", i, v)
		}
		n++
		return nil
	})
	if err != nil || n != 99 {
		t.Fatalf("after reopen: n=%d err=%v", n, err)
	}
}

func TestSchemaTooNewAtOpen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, quiet())
	if err := s.Set(t.Context(), store.SchemaKey, []byte(store.U32(store.SchemaVersion+1))); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := badgerstore.Open(t.Context(), dir, quiet())
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("open newer store: %v, want ErrSchemaTooNew", err)
	}
	// The failed open released the directory lock (a second attempt gets
	// the same answer, not a lock error) and rewrote nothing.
	_, err = badgerstore.Open(t.Context(), dir, quiet())
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("second open of newer store: %v, want ErrSchemaTooNew", err)
	}
}

func TestBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts badgerstore.Options
	}{
		{"tiny memtable", quiet().WithMemTableSize(badgerstore.MinMemTableSize - 1)},
		{"negative block cache", quiet().WithCacheSizes(-1, 1<<20)},
		{"block cache off", quiet().WithCacheSizes(0, 1<<20)},
		{"negative index cache", quiet().WithCacheSizes(1<<20, -1)},
		{"block cache past the maximum", quiet().WithCacheSizes(badgerstore.MaxBlockCache+1, 0)},
		{"index cache past the maximum", quiet().WithCacheSizes(1<<20, badgerstore.MaxBlockCache+1)},
	} {
		_, err := badgerstore.Open(t.Context(), t.TempDir(), tc.opts)
		if !errors.Is(err, badgerstore.ErrBadOptions) {
			t.Errorf("%s: %v, want ErrBadOptions", tc.name, err)
		}
	}
}

// TestCacheSizes: a store with small explicit caches reads back what it wrote after a reopen, when reads go
// through the tables rather than the memtable.
func TestCacheSizes(t *testing.T) {
	for _, tc := range []struct {
		name         string
		block, index int64
	}{
		{"small caches", 1 << 20, 1 << 20},
		{"indices in memory", 1 << 20, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := quiet().WithSyncWrites(false).WithCacheSizes(tc.block, tc.index)
			s := open(t, dir, opts)
			val := make([]byte, 512)
			for i := range 2000 {
				if err := s.Set(t.Context(), []byte(fmt.Sprintf("k%05d", i)), val); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = open(t, dir, opts)
			defer s.Close()
			n := 0
			if err := s.Iterate(t.Context(), []byte("k"), false, func(k, v []byte) error {
				if len(v) != len(val) {
					return fmt.Errorf("%s: %d bytes, want %d", k, len(v), len(val))
				}
				n++
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if n != 2000 {
				t.Fatalf("read %d keys back, want 2000", n)
			}
		})
	}
}

func TestTxnTooBig(t *testing.T) {
	s := open(t, t.TempDir(), quiet().WithMemTableSize(badgerstore.MinMemTableSize).WithSyncWrites(false))
	defer s.Close()
	ctx := t.Context()
	val := make([]byte, 1024)
	err := s.Update(ctx, func(tx store.Txn) error {
		for i := range 100000 {
			if err := tx.Set(store.Key("big", store.U64(uint64(i))), val); err != nil {
				return err
			}
		}
		return nil
	})
	if !errors.Is(err, store.ErrTxnTooBig) {
		t.Fatalf("huge txn: %v, want ErrTxnTooBig", err)
	}
	if _, err := s.Get(ctx, store.Key("big", store.U64(0))); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("part of a too-big txn applied: %v", err)
	}
}

func TestRunGC(t *testing.T) {
	s := open(t, t.TempDir(), quiet().WithSyncWrites(false))
	ctx := t.Context()
	val := make([]byte, 64<<10)
	for round := range 3 {
		for i := range 50 {
			if err := s.Set(ctx, store.Key("gc", fmt.Sprint(i)), val); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
	if err := s.RunGC(ctx); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.RunGC(cancelled); !errors.Is(err, context.Canceled) {
		t.Fatalf("gc with cancelled ctx: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.RunGC(ctx); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("gc after close: %v", err)
	}
}

const crashEnv = "SEGUE_BADGERSTORE_CRASH_CHILD"

// TestCrashChild is the child half of TestKill9: it writes keys forever,
// printing each one after Set returns (acknowledged), until killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("child process of TestKill9")
	}
	s, err := badgerstore.Open(context.Background(), dir, quiet())
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	w := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		k := fmt.Sprintf("ack/%08d", i)
		if err := s.Set(context.Background(), []byte(k), []byte(k)); err != nil {
			fmt.Println("ERR", err)
			os.Exit(2)
		}
		fmt.Fprintln(w, k)
		w.Flush()
	}
}

// TestKill9 runs TestCrashChild in a child process, SIGKILLs it while it
// writes, and checks that every key the child acknowledged survived.
func TestKill9(t *testing.T) {
	dir := t.TempDir()
	for round := range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v=false")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var acked []string
		sc := bufio.NewScanner(out)
		deadline := time.Now().Add(20 * time.Second)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "ERR") {
				t.Fatalf("child: %s", line)
			}
			if strings.HasPrefix(line, "ack/") {
				acked = append(acked, line)
			}
			if len(acked) >= 300 || time.Now().After(deadline) {
				break
			}
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		if len(acked) < 50 {
			t.Fatalf("round %d: child acknowledged only %d keys", round, len(acked))
		}
		s := open(t, dir, quiet())
		for _, k := range acked {
			if v, err := s.Get(t.Context(), []byte(k)); err != nil || string(v) != k {
				t.Fatalf("round %d: acknowledged %q lost after kill -9: %q, %v", round, k, v, err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: %d acknowledged keys survived kill -9", round, len(acked))
	}
}

func BenchmarkSet(b *testing.B) {
	for _, sync := range []bool{true, false} {
		b.Run(fmt.Sprintf("sync=%v", sync), func(b *testing.B) {
			s, err := badgerstore.Open(b.Context(), b.TempDir(), quiet().WithSyncWrites(sync))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			val := make([]byte, 128)
			var i uint64
			for b.Loop() {
				i++
				if err := s.Set(b.Context(), store.Key("bench", store.U64(i)), val); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkUpdate100(b *testing.B) {
	s, err := badgerstore.Open(b.Context(), b.TempDir(), quiet())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	val := make([]byte, 128)
	var i uint64
	for b.Loop() {
		err := s.Update(b.Context(), func(tx store.Txn) error {
			for range 100 {
				i++
				if err := tx.Set(store.Key("bench", store.U64(i)), val); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommitDuringFlushes measures the latency of small durable
// commits (one 256-byte value each, one after another) while a second
// writer fills the memtable at 8 MiB/s in 64 KiB commits. With an 8 MiB
// memtable Badger flushes one about every second, and the small commits
// queue behind each flush's table write; with a 256 MiB memtable nothing
// is flushed during the run, so the difference between the two is the
// flushes' share of the tail. It reports the small commits' median, p99
// and maximum latency and the tables written.
func BenchmarkCommitDuringFlushes(b *testing.B) {
	for _, mt := range []int64{8 << 20, 256 << 20} {
		b.Run(fmt.Sprintf("memtable=%dMiB", mt>>20), func(b *testing.B) {
			dir := b.TempDir()
			s, err := badgerstore.Open(b.Context(), dir, quiet().WithMemTableSize(mt))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			stop := make(chan struct{})
			filled := make(chan error, 1)
			go func() { filled <- fill(b.Context(), s, stop) }()
			val := make([]byte, 256)
			lat := make([]time.Duration, 0, b.N)
			var i uint64
			for b.Loop() {
				i++
				t0 := time.Now()
				if err := s.Set(b.Context(), store.Key("small", store.U64(i)), val); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			close(stop)
			if err := <-filled; err != nil {
				b.Fatal(err)
			}
			slices.Sort(lat)
			ms := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / 1e6 }
			b.ReportMetric(ms(0.5), "p50-ms")
			b.ReportMetric(ms(0.99), "p99-ms")
			b.ReportMetric(ms(1), "max-ms")
			ssts, err := filepath.Glob(filepath.Join(dir, "*.sst"))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(len(ssts)), "tables")
		})
	}
}

// fill writes 64 KiB commits of random bytes (incompressible, so the
// tables are as large as the memtable's contents) at 8 MiB/s until stop
// is closed.
func fill(ctx context.Context, s *badgerstore.Store, stop <-chan struct{}) error {
	val := make([]byte, 64<<10)
	tick := time.NewTicker(time.Second / 128)
	defer tick.Stop()
	for i := uint64(0); ; i++ {
		select {
		case <-stop:
			return nil
		case <-tick.C:
		}
		rand.Read(val)
		if err := s.Set(ctx, store.Key("fill", store.U64(i)), val); err != nil {
			return err
		}
	}
}
