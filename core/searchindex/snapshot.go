package searchindex

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"

	"github.com/segue-fm/segue/internal/cborx"
)

// A snapshot file persists the index's dictionaries (the words' and the
// pairs' terms with their postings) so that opening a large index does
// not tokenise every stored entry again. The stored entries stay the
// truth: each snapshot slot carries a digest of the entry it was built
// from (its store key and stored value), OpenIndex matches the entries it
// reads from the store to those digests, reuses the postings of the
// matched ones and tokenises only the others. A snapshot that is
// missing, truncated, of another format or tokeniser version, fails its
// checksum or does not parse is ignored (logged) and the dictionaries are
// rebuilt from the store.
//
// Layout (integers are unsigned varints unless stated):
//
//	magic "SEGSNAP\x00" | version u32 LE |
//	slots n | n × (digest [16]byte, kind byte) |
//	2 × dictionary (words, then pairs): terms m | m × (len, term bytes,
//	    first byte, postings k | k × delta of the posting from the
//	    previous one, the first from 0; postings strictly increase) |
//	CRC-32C u32 LE of everything before it.

// snapshotMagic starts every snapshot file.
const snapshotMagic = "SEGSNAP\x00"

// snapshotVersion is the snapshot format and tokeniser version: it must
// change whenever the layout, core/search's tokenising or folding, or
// the posting encoding (slotShift, kindShift) changes, so that an older
// snapshot is rebuilt instead of trusted.
const snapshotVersion = 1

// Limits of a snapshot file, checked while parsing.
const (
	// maxSnapshotBytes bounds the file read (4 GiB).
	maxSnapshotBytes = 4 << 30
	// maxTermBytes bounds one term: two words of at most
	// search.MaxWordRunes runes of at most 4 bytes.
	maxTermBytes = 2 * 4 * 48
	digestBytes  = 16
)

// ErrBadSnapshot is wrapped by the errors of a snapshot that cannot be
// used; OpenIndex logs it and rebuilds.
var ErrBadSnapshot = errors.New("search: bad index snapshot")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// entryDigest is the digest of a stored entry: its store key and value.
func entryDigest(key, value []byte) [digestBytes]byte {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(key)))])
	h.Write(key)
	h.Write(value)
	var d [digestBytes]byte
	copy(d[:], h.Sum(nil))
	return d
}

// snapDict is one parsed dictionary: its terms in order, each term's
// first-word runes and postings (numbered by snapshot slot).
type snapDict struct {
	terms    []string
	firsts   []uint8
	postings [][]uint32
}

// snapshot is a parsed snapshot file.
type snapshot struct {
	digests [][digestBytes]byte
	kinds   []uint8
	dicts   [2]snapDict
}

// snapReader reads a snapshot's body and remembers its first error.
type snapReader struct {
	b   []byte
	err error
}

func (r *snapReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrBadSnapshot, fmt.Sprintf(format, args...))
	}
}

// uvarint reads a varint of at most limit.
func (r *snapReader) uvarint(what string, limit uint64) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("%s: bad varint", what)
		return 0
	}
	if v > limit {
		r.fail("%s: %d, limit %d", what, v, limit)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *snapReader) bytes(what string, n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b) {
		r.fail("%s: truncated", what)
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

// parseSnapshot checks a snapshot file's frame (magic, version, checksum)
// and parses its body.
func parseSnapshot(data []byte) (*snapshot, error) {
	const head = len(snapshotMagic) + 4
	if len(data) < head+4 || string(data[:len(snapshotMagic)]) != snapshotMagic {
		return nil, fmt.Errorf("%w: not a snapshot", ErrBadSnapshot)
	}
	if v := binary.LittleEndian.Uint32(data[len(snapshotMagic):]); v != snapshotVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrBadSnapshot, v, snapshotVersion)
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrBadSnapshot)
	}
	return parseSnapshotBody(body[head:])
}

// parseSnapshotBody parses and validates a snapshot's body: every count
// is bounded by the bytes left, terms strictly increase, postings
// strictly increase, name an existing slot and carry that slot's kind.
func parseSnapshotBody(b []byte) (*snapshot, error) {
	r := &snapReader{b: b}
	s := &snapshot{}
	n := r.uvarint("slots", uint64(min(MaxEntries, len(b)/(digestBytes+1))))
	s.digests = make([][digestBytes]byte, n)
	s.kinds = make([]uint8, n)
	for i := range n {
		rec := r.bytes("slot", digestBytes+1)
		if rec == nil {
			break
		}
		copy(s.digests[i][:], rec)
		if s.kinds[i] = rec[digestBytes]; s.kinds[i] > 3 {
			r.fail("slot %d: kind %d", i, s.kinds[i])
		}
	}
	for di := range s.dicts {
		d := &s.dicts[di]
		m := r.uvarint("terms", uint64(len(r.b)))
		d.terms = make([]string, 0, m)
		d.firsts = make([]uint8, 0, m)
		d.postings = make([][]uint32, 0, m)
		for range m {
			t := r.bytes("term", int(r.uvarint("term length", maxTermBytes)))
			first := r.bytes("first", 1)
			k := r.uvarint("postings", uint64(len(r.b)))
			if r.err != nil {
				break
			}
			term := string(t)
			switch {
			case len(term) == 0:
				r.fail("empty term")
			case len(d.terms) > 0 && term <= d.terms[len(d.terms)-1]:
				r.fail("term %q out of order", term)
			case (di == 0) != (first[0] == 0):
				r.fail("term %q: first %d in dictionary %d", term, first[0], di)
			}
			p := make([]uint32, k)
			var v uint64
			for j := range p {
				dv := r.uvarint("posting", 1<<32-1)
				if j > 0 && dv == 0 {
					r.fail("term %q: postings not increasing", term)
				}
				if v += dv; v > 1<<32-1 {
					r.fail("term %q: posting overflows", term)
				}
				if r.err != nil {
					break
				}
				slot := v >> slotShift
				if slot >= n || uint8(v>>kindShift&3) != s.kinds[slot] {
					r.fail("term %q: posting %#x names no slot of its kind", term, v)
					break
				}
				p[j] = uint32(v)
			}
			if r.err != nil {
				break
			}
			d.terms, d.firsts, d.postings = append(d.terms, term), append(d.firsts, first[0]), append(d.postings, p)
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d bytes after the dictionaries", len(r.b))
	}
	if r.err != nil {
		return nil, r.err
	}
	return s, nil
}

// readSnapshot reads and parses the snapshot file at path.
func readSnapshot(path string) (*snapshot, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("search: open snapshot: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("search: stat snapshot: %w", err)
	}
	if fi.Size() > maxSnapshotBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrBadSnapshot, fi.Size(), int64(maxSnapshotBytes))
	}
	data := make([]byte, fi.Size())
	if _, err := f.ReadAt(data, 0); err != nil {
		return nil, fmt.Errorf("search: read snapshot: %w", err)
	}
	return parseSnapshot(data)
}

// encodeSnapshot returns the snapshot file of ix's live slots, numbered
// anew in slot order; the caller holds mu (read).
func (ix *Index) encodeSnapshot() ([]byte, error) {
	renum := make([]uint32, len(ix.slots))
	var buf bytes.Buffer
	buf.WriteString(snapshotMagic)
	buf.Write(binary.LittleEndian.AppendUint32(nil, snapshotVersion))
	var tmp []byte
	uv := func(v uint64) { tmp = binary.AppendUvarint(tmp[:0], v); buf.Write(tmp) }
	live := uint32(0)
	for n := range ix.slots {
		if ix.slots[n].alive {
			live++
		}
	}
	uv(uint64(live))
	live = 0
	for n := range ix.slots {
		s := &ix.slots[n]
		if !s.alive {
			continue
		}
		v, err := cborx.Marshal(s.entry)
		if err != nil {
			return nil, fmt.Errorf("search: encode entry: %w", err)
		}
		d := entryDigest(s.entry.StoreKey(), v)
		buf.Write(d[:])
		buf.WriteByte(byte(kindIndex(s.entry.Kind)))
		renum[n] = live
		live++
	}
	var p []uint32
	for _, d := range []*dict{&ix.words, &ix.pairs} {
		keys := make([]string, 0, len(d.postings))
		for t, l := range d.postings {
			if slices.ContainsFunc(l.p, func(v uint32) bool { return ix.slots[v>>slotShift].alive }) {
				keys = append(keys, t)
			}
		}
		slices.Sort(keys)
		uv(uint64(len(keys)))
		for _, t := range keys {
			l := d.postings[t]
			uv(uint64(len(t)))
			buf.WriteString(t)
			buf.WriteByte(l.first)
			p = p[:0]
			for _, v := range l.p {
				if n := v >> slotShift; ix.slots[n].alive {
					p = append(p, renum[n]<<slotShift|v&(1<<slotShift-1))
				}
			}
			slices.Sort(p)
			uv(uint64(len(p)))
			prev := uint32(0)
			for _, v := range p {
				uv(uint64(v - prev))
				prev = v
			}
		}
	}
	buf.Write(binary.LittleEndian.AppendUint32(nil, crc32.Checksum(buf.Bytes(), castagnoli)))
	return buf.Bytes(), nil
}

// SaveSnapshot writes the index's dictionaries to its snapshot file
// (Options.WithSnapshot) crash-safely: a temporary file in the same
// directory, synced, renamed over the old one, and the directory synced.
// Writers wait while the snapshot is encoded; searches do not. Without a
// snapshot file it does nothing.
func (ix *Index) SaveSnapshot(ctx context.Context) error {
	if ix.opts.snapshot == "" {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	ix.mu.RLock()
	data, err := ix.encodeSnapshot()
	ix.mu.RUnlock()
	if err != nil {
		return err
	}
	return writeFileAtomic(ix.opts.snapshot, data)
}

// writeFileAtomic replaces path with data: temp file, fsync, rename,
// fsync of the directory.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("search: create snapshot: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("search: write snapshot: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("search: sync snapshot directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("search: sync snapshot directory: %w", err)
	}
	return nil
}

// useSnapshot installs s's postings for the slots whose digests (of the
// entries just read from the store) match one of s's slots, renumbered to
// those slots, and returns the slots that matched none (to tokenise). The
// caller owns ix, whose dictionaries are empty; on an error they are left
// empty.
func (ix *Index) useSnapshot(s *snapshot, digests [][digestBytes]byte) ([]bool, error) {
	bySnap := make(map[[digestBytes]byte]uint32, len(s.digests))
	for j, d := range s.digests {
		bySnap[d] = uint32(j)
	}
	const none = ^uint32(0)
	renum := make([]uint32, len(s.digests))
	for j := range renum {
		renum[j] = none
	}
	covered := make([]bool, len(digests))
	for n, d := range digests {
		j, ok := bySnap[d]
		if !ok || renum[j] != none {
			continue
		}
		if uint8(kindIndex(ix.slots[n].entry.Kind)) != s.kinds[j] {
			return nil, fmt.Errorf("%w: slot %d: kind differs from the stored entry's", ErrBadSnapshot, j)
		}
		renum[j] = uint32(n)
		covered[n] = true
	}
	for di, d := range []*dict{&ix.words, &ix.pairs} {
		sd := &s.dicts[di]
		for i, t := range sd.terms {
			p := sd.postings[i][:0]
			for _, v := range sd.postings[i] {
				if n := renum[v>>slotShift]; n != none {
					p = append(p, n<<slotShift|v&(1<<slotShift-1))
				}
			}
			if len(p) > 0 {
				d.postings[t] = termList{p: slices.Clip(p), first: sd.firsts[i], hidden: ix.countHidden(p)}
			}
		}
	}
	return covered, nil
}
