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
	"sync/atomic"

	"github.com/dgraph-io/ristretto/v2"
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

// avgObject is the object size the TinyLFU counters are sized for (chunks
// are 8 s of audio: ≈ 10–320 KiB).
const avgObject = 32 << 10

// store is the two-level object cache: bodies in memory, files on disk.
// Both levels are ristretto (W-TinyLFU admission, sampled LFU eviction)
// with cost = bytes, so each level stays within its byte budget.
type store struct {
	mem  *ristretto.Cache[string, []byte]
	disk *ristretto.Cache[string, string] // key → file path; nil without a disk level
	dir  string
	log  *slog.Logger
	// closing stops eviction callbacks from deleting files: ristretto's
	// Close evicts every entry, and the files must survive a restart.
	closing atomic.Bool
}

// policyConfig is the ristretto configuration of a cache level with a
// byte budget (the hit-ratio replay uses it too): cost = bytes, TinyLFU
// counters for ten times the objects of average size the budget holds.
func policyConfig[V any](budget int64) *ristretto.Config[string, V] {
	return &ristretto.Config[string, V]{
		NumCounters:        max(10*budget/avgObject, 1000),
		MaxCost:            budget,
		BufferItems:        64,
		Metrics:            true,
		IgnoreInternalCost: true,
	}
}

func newStore(o Options) (*store, error) {
	s := &store{dir: o.diskDir, log: o.logger}
	var err error
	s.mem, err = ristretto.NewCache(policyConfig[[]byte](o.memoryBytes))
	if err != nil {
		return nil, fmt.Errorf("edge: memory cache: %w", err)
	}
	if o.diskDir == "" {
		return s, nil
	}
	if err := os.MkdirAll(o.diskDir, 0o700); err != nil {
		s.mem.Close()
		return nil, fmt.Errorf("edge: disk cache: %w", err)
	}
	remove := func(it *ristretto.Item[string]) {
		if s.closing.Load() {
			return
		}
		if err := os.Remove(it.Value); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("edge: remove evicted object", "path", it.Value, "err", err)
		}
	}
	dc := policyConfig[string](o.diskBytes)
	dc.OnEvict, dc.OnReject = remove, remove
	s.disk, err = ristretto.NewCache(dc)
	if err != nil {
		s.mem.Close()
		return nil, fmt.Errorf("edge: disk cache: %w", err)
	}
	if err := s.load(); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
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
		if !s.disk.Set(e.Name(), p, info.Size()) {
			os.Remove(p)
		}
	}
	s.disk.Wait()
	return nil
}

// get returns the body of k, owned by the cache (do not modify it), from
// memory, else from disk (verified, then promoted to memory).
func (s *store) get(k objKey) ([]byte, bool) {
	name := k.String()
	if b, ok := s.mem.Get(name); ok {
		return b, true
	}
	if s.disk == nil {
		return nil, false
	}
	p, ok := s.disk.Get(name)
	if !ok {
		return nil, false
	}
	b, err := os.ReadFile(p)
	if err != nil || sha256.Sum256(b) != k.hash {
		s.log.Warn("edge: dropping unreadable or corrupt disk object", "object", name, "err", err)
		s.disk.Del(name)
		os.Remove(p)
		return nil, false
	}
	s.mem.Set(name, b, int64(len(b)))
	return b, true
}

// put offers b, whose SHA-256 the caller has checked against k, to both
// levels; the cache keeps b (do not modify it afterwards). Admission is
// the policy's: a put may be dropped.
func (s *store) put(k objKey, b []byte) {
	name := k.String()
	s.mem.Set(name, b, int64(len(b)))
	if s.disk == nil {
		return
	}
	if _, ok := s.disk.Get(name); ok {
		return
	}
	p := filepath.Join(s.dir, name)
	if err := writeFile(s.dir, p, b); err != nil {
		s.log.Warn("edge: write disk object", "object", name, "err", err)
		return
	}
	if !s.disk.Set(name, p, int64(len(b))) {
		os.Remove(p)
	}
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

// wait applies buffered sets (tests and the bench use it).
func (s *store) wait() {
	s.mem.Wait()
	if s.disk != nil {
		s.disk.Wait()
	}
}

// usage returns the bytes held in memory and on disk by the policies'
// accounting.
func (s *store) usage() (mem, disk int64) {
	m := s.mem.Metrics
	mem = int64(m.CostAdded() - m.CostEvicted())
	if s.disk != nil {
		d := s.disk.Metrics
		disk = int64(d.CostAdded() - d.CostEvicted())
	}
	return mem, disk
}

func (s *store) close() {
	s.closing.Store(true)
	s.mem.Close()
	if s.disk != nil {
		s.disk.Close()
	}
}
