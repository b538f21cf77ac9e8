package edge

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/maypok86/otter/v2"
)

// objKey names a cached object: its kind ('b' for a blob, header or chunk,
// 'm' for a manifest envelope) and the SHA-256 of its bytes. Manifests have
// their own namespace so /v1/blobs/{h} never answers with a manifest the
// relay would not serve there.
type objKey struct {
	kind byte
	hash [32]byte
}

// String is the key's cache key and disk file name: "b-<hex>" or "m-<hex>".
func (k objKey) String() string { return string(k.kind) + "-" + hex.EncodeToString(k.hash[:]) }

// parseObjKey is the inverse of objKey.String.
func parseObjKey(s string) (objKey, bool) {
	var k objKey
	if len(s) != 2+64 || (s[0] != 'b' && s[0] != 'm') || s[1] != '-' {
		return k, false
	}
	if _, err := hex.Decode(k.hash[:], []byte(s[2:])); err != nil || hex.EncodeToString(k.hash[:]) != s[2:] {
		return k, false
	}
	k.kind = s[0]
	return k, true
}

// maxObject bounds an object's size (cache weights are uint32);
// Options.WithMaxBlobSize cannot exceed it.
const maxObject = 1 << 30

// store is the two-level object cache: bodies in memory, files on disk.
// Both levels are otter v2 caches (W-TinyLFU: a TinyLFU admission filter in
// front of a windowed segmented LRU, as Caffeine) weighted by bytes, so each
// level holds at most its byte budget once its maintenance has run (a
// write beyond it is evicted by the next maintenance, which the write
// schedules at once).
type store struct {
	mem  *otter.Cache[string, []byte]
	disk *otter.Cache[string, diskObj] // nil without a disk level
	dir  string
	lmu  sync.Mutex // guards lock
	lock *os.File   // holds the disk directory's lock (lockName) while open
	log  *slog.Logger

	// memBudget is the memory level's budget (Options.WithMemoryBytes),
	// shared between the cached bodies and readers' evicted ones.
	memBudget int64
	// readers are the answers being written from each object the memory
	// level gave out (getHeld). An object evicted while read is still in
	// memory: its bytes stay charged to the memory budget (the level's
	// maximum is lowered by them) until its last reader lets go.
	rmu     sync.Mutex
	readers map[string]*readers
	evicted int64 // bytes of read objects no longer in the memory level
}

// readers counts the answers being written from one object.
type readers struct {
	n       int
	evicted int64 // the object's size once evicted while read, else 0
}

// diskObj is an object file and its size.
type diskObj struct {
	path string
	size uint32
}

// policyOptions is the otter configuration of a cache level with a byte
// budget (the hit-ratio replay uses it too).
func policyOptions[V any](budget int64, weigh func(V) uint32) *otter.Options[string, V] {
	return &otter.Options[string, V]{
		MaximumWeight: uint64(budget),
		Weigher:       func(_ string, v V) uint32 { return weigh(v) },
	}
}

func newStore(o Options) (*store, error) {
	s := &store{dir: o.diskDir, log: o.logger, memBudget: o.memoryBytes, readers: make(map[string]*readers)}
	mc := policyOptions(o.memoryBytes, func(b []byte) uint32 { return uint32(len(b)) })
	// On the default executor (a goroutine of its own), so it may lower
	// the level's maximum, which runs the maintenance it is called from.
	mc.OnDeletion = s.memDeleted
	var err error
	s.mem, err = otter.New(mc)
	if err != nil {
		return nil, fmt.Errorf("edge: memory cache: %w", err)
	}
	if o.diskDir == "" {
		return s, nil
	}
	if err := os.MkdirAll(o.diskDir, 0o700); err != nil {
		return nil, fmt.Errorf("edge: disk cache: %w", err)
	}
	if s.lock, err = lockDir(o.diskDir); err != nil {
		s.mem.StopAllGoroutines()
		return nil, err
	}
	dc := policyOptions(o.diskBytes, func(d diskObj) uint32 { return d.size })
	// Synchronous, so the files never outlast their entries: the disk
	// budget holds for the files themselves.
	dc.OnAtomicDeletion = func(e otter.DeletionEvent[string, diskObj]) {
		if !e.Cause.IsEviction() {
			return
		}
		if err := os.Remove(e.Value.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("edge: remove evicted object", "path", e.Value.path, "err", err)
		}
	}
	s.disk, err = otter.New(dc)
	if err != nil {
		return nil, fmt.Errorf("edge: disk cache: %w", err)
	}
	if err := s.load(); err != nil {
		s.lock.Close()
		return nil, err
	}
	return s, nil
}

// lockName is the file in a disk directory whose lock the edge using it
// holds (load leaves it: it is no object name).
const lockName = ".lock"

// lockDir locks dir for this edge; the lock lasts until the returned
// file is closed. Another edge's lock is ErrDiskInUse.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("edge: disk cache: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if errors.Is(err, ErrDiskInUse) {
			return nil, fmt.Errorf("%w: %s", ErrDiskInUse, dir)
		}
		return nil, fmt.Errorf("edge: disk cache: lock %s: %w", dir, err)
	}
	return f, nil
}

// load registers the object files a previous run left in the disk
// directory (their bytes are verified when read) and removes anything
// else the edge may have left there (temporary files of a crash).
func (s *store) load() error {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("edge: read disk cache: %w", err)
	}
	for _, e := range ents {
		p := filepath.Join(s.dir, e.Name())
		info, err := e.Info()
		if _, ok := parseObjKey(e.Name()); !ok || err != nil || !info.Mode().IsRegular() {
			if strings.HasPrefix(e.Name(), ".tmp-") {
				os.Remove(p)
			}
			continue
		}
		if info.Size() > maxObject {
			os.Remove(p)
			continue
		}
		s.disk.Set(e.Name(), diskObj{path: p, size: uint32(info.Size())})
	}
	s.disk.CleanUp()
	return nil
}

// get returns the body of k, owned by the cache (do not modify it), from
// memory, else from disk (verified, then promoted to memory).
func (s *store) get(k objKey) ([]byte, bool) {
	name := k.String()
	if b, ok := s.mem.GetIfPresent(name); ok {
		return b, true
	}
	if s.disk == nil {
		return nil, false
	}
	d, ok := s.disk.GetIfPresent(name)
	if !ok {
		return nil, false
	}
	b, err := os.ReadFile(d.path)
	if err != nil || sha256.Sum256(b) != k.hash {
		s.log.Warn("edge: dropping unreadable or corrupt disk object", "object", name, "err", err)
		s.disk.Invalidate(name)
		os.Remove(d.path)
		return nil, false
	}
	s.mem.Set(name, b)
	return b, true
}

// getHeld is get for an answer written from the body: release, which
// the caller must call once it no longer reads the body, lets go of it.
// Until then the body counts against the memory budget even if the
// memory level evicts it.
func (s *store) getHeld(k objKey) (b []byte, release func(), ok bool) {
	name := k.String()
	s.rmu.Lock()
	r := s.readers[name]
	if r == nil {
		r = &readers{}
		s.readers[name] = r
	}
	r.n++
	s.rmu.Unlock()
	if b, ok = s.get(k); !ok {
		s.letGo(name)
		return nil, nil, false
	}
	return b, func() { s.letGo(name) }, true
}

// letGo ends one reader of name; the last one gives the bytes of an
// evicted object back to the memory level.
func (s *store) letGo(name string) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	r := s.readers[name]
	if r.n--; r.n > 0 {
		return
	}
	delete(s.readers, name)
	if r.evicted > 0 {
		s.evicted -= r.evicted
		s.mem.SetMaximum(uint64(max(s.memBudget-s.evicted, 1)))
	}
}

// memDeleted charges an object the memory level deleted while it is read
// to the memory budget, by lowering the level's maximum by its size.
func (s *store) memDeleted(e otter.DeletionEvent[string, []byte]) {
	if e.Cause == otter.CauseReplacement {
		return
	}
	s.rmu.Lock()
	defer s.rmu.Unlock()
	r := s.readers[e.Key]
	if r == nil || r.evicted > 0 {
		return
	}
	r.evicted = int64(len(e.Value))
	s.evicted += r.evicted
	s.mem.SetMaximum(uint64(max(s.memBudget-s.evicted, 1)))
}

// put offers b, whose SHA-256 the caller has checked against k, to both
// levels; the cache keeps b (do not modify it afterwards). Admission is
// the policy's: the object may be evicted at once.
func (s *store) put(k objKey, b []byte) {
	name := k.String()
	s.mem.Set(name, b)
	if s.disk == nil {
		return
	}
	if _, ok := s.disk.GetIfPresent(name); ok {
		return
	}
	p := filepath.Join(s.dir, name)
	err := s.relock()
	if err == nil {
		err = writeFile(s.dir, p, b)
	}
	if err != nil {
		s.log.Warn("edge: write disk object", "object", name, "err", err)
		return
	}
	s.disk.Set(name, diskObj{path: p, size: uint32(len(b))})
}

// relock makes sure the disk directory still holds this edge's locked
// lock file. When the directory (or the lock file) was removed or
// replaced under the running edge, it makes the directory again and
// locks it anew: the disk level keeps caching, and a second edge is
// still refused the directory (ErrDiskInUse). The entries of the files
// removed with it are dropped as they are read or evicted. It fails,
// and nothing is written, when the directory cannot be made or another
// edge locked it meanwhile.
func (s *store) relock() error {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	if held, err := s.lock.Stat(); err == nil {
		if cur, err := os.Stat(filepath.Join(s.dir, lockName)); err == nil && os.SameFile(held, cur) {
			return nil
		}
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("edge: disk cache: %w", err)
	}
	f, err := lockDir(s.dir)
	if err != nil {
		return err
	}
	s.lock.Close()
	s.lock = f
	s.log.Warn("edge: disk directory was removed or replaced: locked it again", "dir", s.dir)
	return nil
}

// writeFile writes b to p through a temporary file in dir, so p is never
// half written.
func writeFile(dir, p string, b []byte) error {
	f, err := os.CreateTemp(dir, ".tmp-")
	if err != nil {
		return err
	}
	_, werr := f.Write(b)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), p); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

// wait runs pending maintenance (evictions) now (tests use it).
func (s *store) wait() {
	s.mem.CleanUp()
	if s.disk != nil {
		s.disk.CleanUp()
	}
}

// usage returns the bytes held in memory (cached, and evicted but still
// being read) and on disk.
func (s *store) usage() (mem, disk int64) {
	s.rmu.Lock()
	mem = int64(s.mem.WeightedSize()) + s.evicted
	s.rmu.Unlock()
	if s.disk != nil {
		disk = int64(s.disk.WeightedSize())
	}
	return mem, disk
}

// close stops the caches' goroutines. Disk files stay for the next run.
func (s *store) close() {
	s.mem.StopAllGoroutines()
	if s.disk != nil {
		s.disk.StopAllGoroutines()
		s.lmu.Lock()
		s.lock.Close()
		s.lmu.Unlock()
	}
}
