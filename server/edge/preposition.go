package edge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/cborx"
)

// ErrPinBudget is reported by Preposition when the pre-positioning byte
// budget (Options.WithPreposition) cannot hold every object of the
// schedule; what fits stays pinned.
var ErrPinBudget = errors.New("edge: pre-positioning budget exhausted")

// maxSchedule bounds the body of GET /v1/releases read from the parent.
const maxSchedule = 4 << 20

// pinned is an object held for a release until until.
type pinned struct {
	b     []byte
	until time.Time
}

// pinnedPos is a positional path pinned to an object until until.
type pinnedPos struct {
	k     objKey
	until time.Time
}

// pins holds the pre-positioned objects of upcoming releases outside the
// W-TinyLFU cache, whose admission filter would refuse objects nobody has
// asked for yet, under their own byte budget. An object stays pinned until
// its release time plus the pin window; a later pass hands it to the
// cache.
type pins struct {
	mu     sync.RWMutex
	budget int64
	used   int64
	objs   map[objKey]pinned
	pos    map[string]pinnedPos
}

func newPins(budget int64) *pins {
	return &pins{budget: budget, objs: map[objKey]pinned{}, pos: map[string]pinnedPos{}}
}

// get returns a pinned body (owned by the pin set: do not modify).
func (p *pins) get(k objKey) ([]byte, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	o, ok := p.objs[k]
	return o.b, ok
}

// position returns the object a pinned positional path names.
func (p *pins) position(path string) (objKey, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	d, ok := p.pos[path]
	return d.k, ok
}

// put pins b under k until until (extending an existing pin); false when
// the budget cannot hold it.
func (p *pins) put(k objKey, b []byte, until time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if o, ok := p.objs[k]; ok {
		if until.After(o.until) {
			o.until = until
			p.objs[k] = o
		}
		return true
	}
	if p.used+int64(len(b)) > p.budget {
		return false
	}
	p.objs[k] = pinned{b: b, until: until}
	p.used += int64(len(b))
	return true
}

// fits reports whether an object of size bytes could be pinned under k
// now: it is pinned already, or the budget has room for it.
func (p *pins) fits(k objKey, size int64) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	_, ok := p.objs[k]
	return ok || p.used+size <= p.budget
}

func (p *pins) putPosition(path string, k objKey, until time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d, ok := p.pos[path]; ok && d.until.After(until) {
		until = d.until
	}
	p.pos[path] = pinnedPos{k: k, until: until}
}

// expire unpins everything whose window ended at now and returns the
// released objects, for the caller to offer to the cache.
func (p *pins) expire(now time.Time) map[objKey][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[objKey][]byte{}
	for k, o := range p.objs {
		if !now.Before(o.until) {
			out[k] = o.b
			p.used -= int64(len(o.b))
			delete(p.objs, k)
		}
	}
	for path, d := range p.pos {
		if !now.Before(d.until) {
			delete(p.pos, path)
		}
	}
	return out
}

func (p *pins) usage() (objects int, bytes int64) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return len(p.objs), p.used
}

// PrepositionReport is what one pre-positioning pass did.
type PrepositionReport struct {
	Releases int   // albums of the schedule still inside their pin window
	Streams  int   // (track, tier) streams pinned; a tier the relay lacks is skipped
	Fetched  int   // objects fetched from the parent in this pass
	Bytes    int64 // bytes of those objects
	Pinned   int   // objects pinned after the pass
}

// Preposition runs one pre-positioning pass with the edge's own device
// token tok: it reads the parent's release schedule (GET /v1/releases),
// and for every album whose release time plus the pin window is still
// ahead, and every tier of Options.WithPreposition, fetches each track's
// positional manifest, header and chunk 0 (as a starting client asks for
// them) and every blob the manifest lists, and pins them until the
// release time plus the window; the later chunks' positions are pinned
// from the manifest, so a client fetching chunks by position hits too. Only encrypted blobs and signed manifests
// are fetched: the embargo holds back keys, which an edge never sees.
// Objects already pinned or cached are not fetched again; positional paths
// are refreshed on every pass (a re-published album reaches the edge's
// positional answers within one pass). Expired pins are handed to the
// cache first. It returns ErrPinBudget (with the report) when the budget
// ran out; a header or chunk it cannot hold (by its manifest's size) is
// then not fetched.
func (e *Edge) Preposition(ctx context.Context, tok string) (PrepositionReport, error) {
	var rep PrepositionReport
	now := e.opts.now()
	for k, b := range e.pins.expire(now) {
		e.store.put(k, b)
	}
	status, _, body, err := e.get(ctx, "/v1/releases", tok, maxSchedule, nil)
	if err != nil {
		return rep, err
	}
	if status != http.StatusOK {
		return rep, fmt.Errorf("%w: /v1/releases answered %d", ErrParent, status)
	}
	var sched api.ReleaseSchedule
	if err := json.Unmarshal(body, &sched); err != nil {
		return rep, fmt.Errorf("%w: decode release schedule: %v", ErrParent, err)
	}
	var budgetErr error
	for _, rel := range sched.Releases {
		until := rel.ReleaseAt.Add(e.opts.pinWindow)
		if !until.After(now) {
			continue
		}
		rep.Releases++
		for _, track := range rel.Tracks {
			if !model.ValidID(string(track)) {
				return rep, fmt.Errorf("%w: release schedule names track %q", ErrParent, track)
			}
			for _, tier := range e.opts.prepositionTiers {
				ok, err := e.prepositionStream(ctx, tok, track, tier, until, &rep)
				switch {
				case errors.Is(err, ErrPinBudget):
					budgetErr = err
				case err != nil:
					return rep, fmt.Errorf("preposition %s/%s: %w", track, tier, err)
				case ok:
					rep.Streams++
				}
			}
		}
	}
	rep.Pinned, _ = e.pins.usage()
	return rep, budgetErr
}

// prepositionStream pins one (track, tier); false when the parent has no
// such stream (404).
func (e *Edge) prepositionStream(ctx context.Context, tok string, track model.TrackID, tier model.Tier, until time.Time, rep *PrepositionReport) (bool, error) {
	base := "/v1/audio/" + url.PathEscape(string(track)) + "/" + string(tier)
	env, err := e.pinPositional(ctx, tok, base+"/manifest", 'm', until, rep)
	var ps *parentStatus
	if errors.As(err, &ps) && ps.code == http.StatusNotFound {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	m, err := manifestBlobs(env)
	if err != nil {
		return false, fmt.Errorf("%w: manifest of %s/%s: %v", ErrParent, track, tier, err)
	}
	// An object the budget cannot hold (the manifest gives its size) is
	// not fetched: it would not stay, and every pass would fetch it again.
	var budgetErr error
	for j, path := range []string{base + "/header", base + "/chunks/0"} {
		if j < len(m) && !e.pins.fits(objKey{kind: 'b', hash: m[j].SHA256}, m[j].Size) {
			budgetErr = fmt.Errorf("%w: %s", ErrPinBudget, path)
			continue
		}
		if _, err := e.pinPositional(ctx, tok, path, 'b', until, rep); errors.Is(err, ErrPinBudget) {
			budgetErr = err
		} else if err != nil {
			return false, err
		}
	}
	for j, ref := range m {
		h := ref.SHA256
		k := objKey{kind: 'b', hash: h}
		if !e.pins.fits(k, ref.Size) {
			budgetErr = fmt.Errorf("%w: %s/%s", ErrPinBudget, track, tier)
			continue
		}
		b, ok := e.pins.get(k)
		if !ok {
			b, ok = e.store.get(k)
		}
		if !ok {
			path := "/v1/blobs/" + hex.EncodeToString(h[:])
			var release func()
			if b, release, err = e.fetchOnce(ctx, k.String(), tok, func(ctx context.Context, tok string, c *call) ([]byte, error) {
				return e.fetchBlob(ctx, path, tok, k, c)
			}); err != nil {
				return false, err
			}
			release() // the pins count it from here
			rep.Fetched++
			rep.Bytes += int64(len(b))
		}
		if !e.pins.put(k, b, until) {
			budgetErr = fmt.Errorf("%w: %s/%s", ErrPinBudget, track, tier)
			continue
		}
		if j >= 2 { // chunk j-1 by position, as the parent's manifest places it
			e.pins.putPosition(base+"/chunks/"+strconv.Itoa(j-1), k, until)
		}
	}
	return true, budgetErr
}

// pinPositional fetches a positional object from the parent (refreshing
// the position), pins it and its position until until, and returns it.
func (e *Edge) pinPositional(ctx context.Context, tok, path string, kind byte, until time.Time, rep *PrepositionReport) ([]byte, error) {
	b, release, err := e.fetchOnce(ctx, "p "+path, tok, func(ctx context.Context, tok string, c *call) ([]byte, error) {
		return e.fetchPositional(ctx, path, tok, kind, c)
	})
	if err != nil {
		return nil, err
	}
	release() // the pins count it from here
	rep.Fetched++
	rep.Bytes += int64(len(b))
	k := objKey{kind: kind, hash: sha256.Sum256(b)}
	if !e.pins.put(k, b, until) {
		return b, fmt.Errorf("%w: %s", ErrPinBudget, path)
	}
	e.pins.putPosition(path, k, until)
	return b, nil
}

// RunPreposition runs Preposition with tok() now and then every interval
// until ctx ends, logging each pass.
func (e *Edge) RunPreposition(ctx context.Context, tok func() string, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		rep, err := e.Preposition(ctx, tok())
		if err != nil && ctx.Err() == nil {
			e.opts.logger.Warn("edge: pre-positioning pass", "err", err, "releases", rep.Releases, "streams", rep.Streams)
		} else if err == nil {
			e.opts.logger.Info("edge: pre-positioned", "releases", rep.Releases, "streams", rep.Streams,
				"fetched", rep.Fetched, "bytes", rep.Bytes, "pinned", rep.Pinned)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// manifestEnvelope is the outer CBOR map of a signed manifest
// (docs/ARCHITECTURE.md §3).
type manifestEnvelope struct {
	Payload []byte `cbor:"1,keyasint"`
}

var manifestDec = cborx.Limits{MaxNestedLevels: 16, MaxArrayElements: model.MaxChunks + 16, MaxMapPairs: 1 << 10}.DecMode()

// manifestBlobs returns the blobs a manifest envelope lists: the header,
// then the chunks in order.
// The signature is not checked: the edge holds no catalog key, and it
// needs none, since every blob is fetched by hash and checked against it;
// a forged manifest could only make the edge pin bytes nobody asks for.
func manifestBlobs(env []byte) ([]model.BlobRef, error) {
	var e manifestEnvelope
	if err := manifestDec.Unmarshal(env, &e); err != nil {
		return nil, err
	}
	var m model.Manifest
	if err := manifestDec.Unmarshal(e.Payload, &m); err != nil {
		return nil, err
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	refs := []model.BlobRef{m.Header}
	for _, c := range m.Chunks {
		refs = append(refs, c.Blob)
	}
	return refs, nil
}
