package access

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// File layout: one file per UTC day of the records' times,
// access-YYYY-MM-DD.log, a sequence of frames
//
//	u32 length (big endian) ‖ encoded Record ‖ u32 CRC-32C of the record
//
// A frame cut short at the end of a file (a crash mid-write) is a torn
// tail: the reader ignores it and the writer truncates it before
// appending. So is a bad frame followed by nothing but zero bytes to the
// end of the file (after a machine crash a file may have grown before
// its last data reached the disk, which then reads as zeros). A bad frame
// anywhere else is ErrCorrupt.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// fileName returns the log file of the UTC day of t.
func fileName(t time.Time) string {
	return "access-" + t.UTC().Format(time.DateOnly) + ".log"
}

// fileSink appends batches to per-day files, fsyncing each touched file.
type fileSink struct {
	dir   string
	files map[string]*os.File // by name; opened (and tail-checked) once
}

// NewFileWriter returns a Writer appending records to per-day files in
// dir (created when missing, also when removed while the writer runs:
// a day file no longer at its path is opened again there), every batch
// fsynced before it counts as
// written. One writer per directory: two processes appending to the same
// files interleave frames.
func NewFileWriter(dir string, opts Options) (Writer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("access: create dir: %w", err)
	}
	return newBatcher(&fileSink{dir: dir, files: map[string]*os.File{}}, opts), nil
}

func (s *fileSink) file(name string) (*os.File, error) {
	path := filepath.Join(s.dir, name)
	if f := s.files[name]; f != nil {
		if sameFile(f, path) {
			return f, nil
		}
		// Removed or replaced under the writer (its directory cleaned
		// up): what is written to it would be lost with it.
		f.Close()
		delete(s.files, name)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(s.dir, 0o700); err == nil {
			f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		}
	}
	if err != nil {
		return nil, err
	}
	good, err := scanFrames(f, nil)
	if err != nil && !errors.Is(err, errTorn) {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	if len(s.files) >= 4 { // a batch rarely spans more than a day boundary
		for n, old := range s.files {
			old.Close()
			delete(s.files, n)
		}
	}
	s.files[name] = f
	return f, nil
}

// sameFile reports whether the open f is still the file at path.
func sameFile(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	return err == nil && os.SameFile(a, b)
}

func (s *fileSink) writeBatch(_ context.Context, recs []Record, enc [][]byte) error {
	bufs := map[string][]byte{}
	for i, r := range recs {
		name := fileName(time.UnixMilli(r.Time))
		b := binary.BigEndian.AppendUint32(bufs[name], uint32(len(enc[i])))
		b = append(b, enc[i]...)
		bufs[name] = binary.BigEndian.AppendUint32(b, crc32.Checksum(enc[i], castagnoli))
	}
	// A failed batch is written again whole (the batcher keeps it), so on
	// any failure every file it touched goes back to where the batch
	// started: else the frames already written (or even synced, in
	// another day's file) would be there twice.
	type start struct {
		f   *os.File
		off int64
	}
	var touched []start
	undo := func() {
		for _, t := range touched {
			t.f.Truncate(t.off)
			t.f.Seek(t.off, io.SeekStart)
		}
	}
	for name, b := range bufs {
		f, err := s.file(name)
		if err != nil {
			undo()
			return fmt.Errorf("access: open %s: %w", name, err)
		}
		off, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			undo()
			return err
		}
		touched = append(touched, start{f, off})
		if _, err := f.Write(b); err != nil {
			undo()
			return fmt.Errorf("access: write %s: %w", name, err)
		}
		if err := f.Sync(); err != nil {
			undo()
			return fmt.Errorf("access: sync %s: %w", name, err)
		}
	}
	return nil
}

func (s *fileSink) close() error {
	var first error
	for n, f := range s.files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
		delete(s.files, n)
	}
	return first
}

// errTorn marks a frame cut short at the end of a file.
var errTorn = errors.New("access: torn tail")

// scanFrames reads frames from r from its start, calling fn (when not
// nil) with each record, and returns the offset after the last good
// frame. A frame cut short at the end returns errTorn, a bad checksum or
// record ErrCorrupt.
func scanFrames(r io.ReadSeeker, fn func(Record) error) (int64, error) {
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	br := bufio.NewReaderSize(r, 64<<10)
	var off int64
	var hdr [4]byte
	buf := make([]byte, MaxEncodedLen+4)
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return off, nil
			}
			return off, errTorn
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n == 0 || n > MaxEncodedLen {
			return off, badFrame(r, off, 4, fmt.Errorf("%w: frame length %d at offset %d", ErrCorrupt, n, off))
		}
		frame := buf[:n+4]
		if _, err := io.ReadFull(br, frame); err != nil {
			return off, errTorn
		}
		body := frame[:n]
		if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(frame[n:]) {
			return off, badFrame(r, off, int64(n)+8, fmt.Errorf("%w: checksum at offset %d", ErrCorrupt, off))
		}
		if fn != nil {
			rec, err := Decode(body)
			if err != nil {
				return off, fmt.Errorf("%w: offset %d: %w", ErrCorrupt, off, err)
			}
			if err := fn(rec); err != nil {
				return off, err
			}
		}
		off += int64(4 + n + 4)
	}
}

// badFrame returns errTorn when every byte of r from within the bad
// frame at off (size bytes) to the end is zero, the frame's last four
// bytes (its checksum, or a zero length) included, else corrupt (also
// when r cannot be read again).
func badFrame(r io.ReadSeeker, off, size int64, corrupt error) error {
	if _, err := r.Seek(off, io.SeekStart); err != nil {
		return corrupt
	}
	lastNonZero := off - 1
	pos := off
	chunk := make([]byte, 64<<10)
	for {
		k, err := r.Read(chunk)
		for i, c := range chunk[:k] {
			if c != 0 {
				lastNonZero = pos + int64(i)
			}
		}
		pos += int64(k)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return corrupt
		}
	}
	if lastNonZero < off+size-4 {
		return errTorn
	}
	return corrupt
}

type fileReader struct{ dir string }

// NewFileReader returns a Reader over the files NewFileWriter writes in
// dir. A torn tail is ignored; a missing day file is an empty day.
func NewFileReader(dir string) Reader { return fileReader{dir} }

func (fr fileReader) Scan(ctx context.Context, from, to time.Time, fn func(Record) error) error {
	low, err := fileFirstKept(fr.dir)
	if err != nil {
		return fmt.Errorf("access: %w", err)
	}
	if err := checkKept(from, low); err != nil {
		return err
	}
	lo, hi := from.UnixMilli(), to.UnixMilli()
	for day := startOfDay(from); day.Before(to); day = day.AddDate(0, 0, 1) {
		if err := ctx.Err(); err != nil {
			return err
		}
		name := fileName(day)
		f, err := os.Open(filepath.Join(fr.dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("access: %w", err)
		}
		_, err = scanFrames(f, func(r Record) error {
			if r.Time < lo || r.Time >= hi {
				return nil
			}
			return fn(r)
		})
		f.Close()
		if err != nil && !errors.Is(err, errTorn) {
			return fmt.Errorf("access: %s: %w", name, err)
		}
	}
	return nil
}
