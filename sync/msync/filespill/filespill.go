// Package filespill is an msync.Spill in one file: the frozen chunk
// slabs of a relay's change graphs, out of the Go heap.
//
// The file is created in a directory of the caller's choosing and
// unlinked at once, so it never outlives the process (what it holds is
// derived state: the store holds every change). Slabs are appended;
// a freed slab's disk space is returned to the file system by punching
// holes (fallocate) in the 4 KiB pages no live slab touches, so the
// file's blocks follow the live bytes while its length only grows (a
// sparse file). Reads are pread(2), concurrent with each other and with
// appends; the kernel's page cache keeps recently read slabs, outside
// the process's resident memory.
//
//	sp, err := filespill.Open(filespill.DefaultOptions(dir))
//	...
//	defer sp.Close()
//	g.SpillTo(sp) // each msync.Graph of the process
package filespill

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/segue-fm/segue/sync/msync"
)

// ErrFull is returned by Put when the slab would take the live bytes
// past Options.WithMaxBytes: the graph keeps that slab in memory.
var ErrFull = errors.New("filespill: full")

// ErrClosed is returned by Put and Get after Close.
var ErrClosed = errors.New("filespill: closed")

// ErrBadRef is returned by Get for a reference this File did not hand
// out (past the end of what it wrote, or empty).
var ErrBadRef = errors.New("filespill: no such slab")

// pageSize is the granularity of the holes punched.
const pageSize = 4096

// Options configure a File. The zero value is not usable: start from
// DefaultOptions.
type Options struct {
	dir      string
	maxBytes int64
	logger   *slog.Logger
}

// DefaultOptions returns options for a spill file in dir: at most
// 16 GiB of live slabs, logging to slog.Default().
func DefaultOptions(dir string) Options {
	return Options{dir: dir, maxBytes: 16 << 30, logger: slog.Default()}
}

// WithMaxBytes returns o bounding the live bytes (slabs stored and not
// freed) at n; Put past it returns ErrFull. Default 16 GiB. n ≤ 0 makes
// every Put fail with ErrFull.
func (o Options) WithMaxBytes(n int64) Options { o.maxBytes = n; return o }

// WithLogger returns o logging write and hole-punching failures to l.
// Default slog.Default().
func (o Options) WithLogger(l *slog.Logger) Options { o.logger = l; return o }

// File is an msync.Spill in an unlinked file. It is safe for concurrent
// use.
type File struct {
	opts Options
	f    *os.File

	mu sync.Mutex
	// end is where the next slab goes; live the bytes of slabs not
	// freed; pages counts, per page holding any, the live slabs that
	// touch it.
	end   int64
	live  int64
	pages map[int64]int32
	// noPunch is set once the file system refused a hole: freed space
	// is then reused by nothing until the process ends.
	noPunch bool
	closed  bool

	puts, gets, frees, putErrs, getErrs atomic.Uint64
}

var _ msync.Spill = (*File)(nil)

// Open creates the spill file in o's directory and unlinks it.
func Open(o Options) (*File, error) {
	f, err := os.CreateTemp(o.dir, "segue-spill-*")
	if err != nil {
		return nil, fmt.Errorf("filespill: create: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("filespill: unlink %s: %w", f.Name(), err)
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	return &File{opts: o, f: f, pages: map[int64]int32{}}, nil
}

// Put appends a copy of data and returns where it lies. It fails with
// ErrFull past the live-bytes bound, ErrClosed after Close, or the
// write's error; nothing is stored then.
func (s *File) Put(data []byte) (msync.SpillRef, error) {
	if len(data) == 0 || len(data) > 1<<31 {
		return msync.SpillRef{}, fmt.Errorf("filespill: put %d bytes: outside 1 B to 2 GiB", len(data))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return msync.SpillRef{}, ErrClosed
	case s.live+int64(len(data)) > s.opts.maxBytes:
		s.putErrs.Add(1)
		return msync.SpillRef{}, fmt.Errorf("%w: %d live bytes, %d more would pass %d", ErrFull, s.live, len(data), s.opts.maxBytes)
	}
	off := s.end
	if _, err := s.f.WriteAt(data, off); err != nil {
		s.putErrs.Add(1)
		s.opts.logger.Error("filespill: write slab", "bytes", len(data), "err", err)
		return msync.SpillRef{}, fmt.Errorf("filespill: write %d bytes at %d: %w", len(data), off, err)
	}
	s.end += int64(len(data))
	s.live += int64(len(data))
	for p := off / pageSize; p <= (s.end-1)/pageSize; p++ {
		s.pages[p]++
	}
	s.puts.Add(1)
	return msync.SpillRef{Off: uint64(off), N: uint32(len(data))}, nil
}

// Get appends the slab at ref to dst. It fails with ErrBadRef for a
// reference past what was written, ErrClosed after Close, or the read's
// error.
func (s *File) Get(ref msync.SpillRef, dst []byte) ([]byte, error) {
	s.mu.Lock()
	end, closed := s.end, s.closed
	s.mu.Unlock()
	if closed {
		return dst, ErrClosed
	}
	if ref.N == 0 || ref.Off > uint64(end) || uint64(end)-ref.Off < uint64(ref.N) {
		s.getErrs.Add(1)
		return dst, fmt.Errorf("%w: %d bytes at %d of %d written", ErrBadRef, ref.N, ref.Off, end)
	}
	n := len(dst)
	dst = slices.Grow(dst, int(ref.N))[:n+int(ref.N)]
	if _, err := s.f.ReadAt(dst[n:], int64(ref.Off)); err != nil {
		s.getErrs.Add(1)
		return dst[:n], fmt.Errorf("filespill: read %d bytes at %d: %w", ref.N, ref.Off, err)
	}
	s.gets.Add(1)
	return dst, nil
}

// Free releases the slab at ref and punches a hole in the pages it
// leaves unused. A reference already freed, or not handed out, must not
// be passed (its pages' counts would go wrong); one outside what was
// written is ignored.
func (s *File) Free(ref msync.SpillRef) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || ref.N == 0 || ref.Off+uint64(ref.N) > uint64(s.end) {
		return
	}
	s.frees.Add(1)
	s.live -= int64(ref.N)
	first, last := int64(ref.Off)/pageSize, (int64(ref.Off)+int64(ref.N)-1)/pageSize
	run := int64(-1)
	for p := first; p <= last+1; p++ {
		dead := false
		if p <= last {
			if s.pages[p]--; s.pages[p] <= 0 {
				delete(s.pages, p)
				dead = true
			}
		}
		switch {
		case dead && run < 0:
			run = p
		case !dead && run >= 0:
			s.punch(run, p)
			run = -1
		}
	}
}

// punch returns pages lo through hi-1 to the file system. Caller holds
// s.mu.
func (s *File) punch(lo, hi int64) {
	if s.noPunch {
		return
	}
	err := unix.Fallocate(int(s.f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, lo*pageSize, (hi-lo)*pageSize)
	if err != nil {
		s.noPunch = true
		s.opts.logger.Warn("filespill: cannot punch holes; freed slabs keep their disk space until the relay stops", "err", err)
	}
}

// Stats are a File's counters.
type Stats struct {
	// Live is the bytes of slabs stored and not freed; Written the
	// file's length (every slab ever put).
	Live, Written int64
	// Puts, Gets and Frees count the calls that succeeded; PutErrors
	// and GetErrors those that failed (ErrFull included).
	Puts, Gets, Frees, PutErrors, GetErrors uint64
	// Punching reports whether freed pages are returned to the file
	// system.
	Punching bool
}

// Stats returns s's counters.
func (s *File) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Live: s.live, Written: s.end, Puts: s.puts.Load(), Gets: s.gets.Load(), Frees: s.frees.Load(),
		PutErrors: s.putErrs.Load(), GetErrors: s.getErrs.Load(), Punching: !s.noPunch}
}

// Close closes the file, which the file system then deletes; later
// Puts and Gets fail with ErrClosed, Frees are ignored. Graphs holding
// slabs in s must not be read afterwards.
func (s *File) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.f.Close()
}
