package searchindex

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"math/bits"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/blevesearch/vellum"
	"github.com/blevesearch/vellum/levenshtein"
	"github.com/maypok86/otter/v2"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/search"
	"github.com/segue-fm/segue/internal/cborx"
	"github.com/segue-fm/segue/store"
)

// Kind is the kind of a searchable entry.
type Kind string

// The kinds of entries.
const (
	KindTrack    Kind = "track"
	KindAlbum    Kind = "album"
	KindArtist   Kind = "artist"
	KindPlaylist Kind = "playlist"
)

// Valid reports whether k is one of the four kinds.
func (k Kind) Valid() bool {
	return k == KindTrack || k == KindAlbum || k == KindArtist || k == KindPlaylist
}

// Entry is one searchable record: its display fields are its searchable
// fields. Title is the track, album or playlist title or the artist name.
type Entry struct {
	Kind       Kind     `cbor:"1,keyasint" json:"kind"`
	ID         string   `cbor:"2,keyasint" json:"id"`
	Title      string   `cbor:"3,keyasint" json:"title"`
	Artists    []string `cbor:"4,keyasint" json:"artists,omitempty"`
	Album      string   `cbor:"5,keyasint" json:"album,omitempty"`
	Popularity float64  `cbor:"6,keyasint" json:"popularity,omitempty"`
	// Audio is the catalog track that plays a track entry: its own id for
	// an ingested track, the attached track for an imported one, "" while
	// an imported track has no audio.
	Audio string `cbor:"7,keyasint,omitempty" json:"audio_id,omitempty"`
	// Owner and Public are a playlist's visibility: a search with a
	// Request.Viewer finds a playlist only when it is Public or the
	// viewer is its Owner. The relay sets Owner from its own record of
	// who created the document, never from the document's content.
	Owner  string `cbor:"8,keyasint,omitempty" json:"-"`
	Public bool   `cbor:"9,keyasint,omitempty" json:"-"`
}

// Document returns e's searchable fields in the order Title, Artists...,
// Album (Highlight.Field indexes this order).
func (e Entry) Document() search.Document {
	d := search.Document{ID: string(e.Kind) + ":" + e.ID, Popularity: e.Popularity}
	d.Fields = append(d.Fields, search.Field{Attr: search.AttrTitle, Text: e.Title})
	for _, a := range e.Artists {
		d.Fields = append(d.Fields, search.Field{Attr: search.AttrArtist, Text: a})
	}
	if e.Album != "" {
		d.Fields = append(d.Fields, search.Field{Attr: search.AttrAlbum, Text: e.Album})
	}
	return d
}

// Key returns e's key in the index: "<kind>:<id>".
func (e Entry) Key() string { return string(e.Kind) + ":" + e.ID }

// StoreKey returns where e is persisted: search/entry/<kind>:<id>.
func (e Entry) StoreKey() []byte { return store.Key("search", "entry", e.Key()) }

// Encode checks e and returns its stored value (CBOR), for a caller that
// writes entries in its own transaction and then calls Apply.
func (e Entry) Encode() ([]byte, error) {
	if err := e.Check(); err != nil {
		return nil, err
	}
	v, err := cborx.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("search: encode entry: %w", err)
	}
	return v, nil
}

// Errors of the index.
var (
	ErrInvalidEntry = errors.New("search: invalid entry")
	// ErrIndexFull is returned when an index would hold more than
	// MaxEntries slots; reopening it compacts the slots.
	ErrIndexFull = errors.New("search: index full")
)

// Options configures an Index. Start from DefaultOptions.
type Options struct {
	freshLimit    int
	maxCandidates int
	termCache     int
	exactTotal    int
	snapshot      string
	log           *slog.Logger
}

// WithSnapshot sets the file the index's dictionaries are persisted in
// (default none: every open tokenises every stored entry). OpenIndex
// loads it and tokenises only the stored entries it does not cover, and
// writes it again when it had to tokenise any; SaveSnapshot writes it
// (the relay does at shutdown and after a catalog import).
func (o Options) WithSnapshot(path string) Options { o.snapshot = path; return o }

// WithLogger sets the logger of snapshot notices (default
// slog.Default()).
func (o Options) WithLogger(l *slog.Logger) Options { o.log = l; return o }

func (o Options) logger() *slog.Logger {
	if o.log == nil {
		return slog.Default()
	}
	return o.log
}

// DefaultOptions returns the defaults: the FST is rebuilt when more than
// 1024 new terms (or a sixteenth of the dictionary) have arrived since the
// last build, at most 200 candidates are
// ranked per query (fewer for a small page, see Search), and a 32 MiB
// term cache.
func DefaultOptions() Options {
	return Options{freshLimit: 1024, maxCandidates: 200, termCache: 32 << 20, exactTotal: 10_000}
}

// WithExactTotal sets up to how many postings a one-word query's total
// is exact (default 10,000; below 0 becomes 0). Above it, the query reads
// only the best postings of each term (in ranking order, stopping once
// none can reach the page) and its total is the terms' posting count, an
// upper bound of the entries it matches (with a Request.Viewer, without
// the postings of private playlists, the viewer's own too).
func (o Options) WithExactTotal(n int) Options { o.exactTotal = max(n, 0); return o }

// WithTermCache sets the byte budget of the cache of each query word's
// matching dictionary terms (default 32 MiB; 0 turns it off). Building a
// Levenshtein automaton costs about a millisecond, so words typed again
// (every keystroke repeats the words before the last) are served from
// it; a change to the dictionary's terms invalidates it.
func (o Options) WithTermCache(bytes int) Options { o.termCache = max(bytes, 0); return o }

// WithFreshLimit sets how many terms new since the last FST build are
// searched linearly before the FST is rebuilt (default 1024; values below
// 1 become 1).
func (o Options) WithFreshLimit(n int) Options { o.freshLimit = max(n, 1); return o }

// WithMaxCandidates sets how many candidates, those matching the most
// query words and then the most popular, are ranked with core/search per
// query (default 200; values below 1 become 1).
func (o Options) WithMaxCandidates(n int) Options { o.maxCandidates = max(n, 1); return o }

// entryPrefix is the store namespace of the index's entries:
// search/entry/<kind>:<id> → CBOR Entry.
var entryPrefix = store.Prefix("search", "entry")

// entryDec decodes stored entries within bounds.
var entryDec = cborx.Limits{MaxArrayElements: 1024, MaxMapPairs: 16, MaxNestedLevels: 4}.DecMode()

// slot is one indexed entry; its search.Document is made from the entry
// when it is ranked (Entry.Document), not kept.
type slot struct {
	entry Entry
	alive bool
}

// kindIndex is the number of k in postings and kind masks: track 0,
// album 1, artist 2, playlist 3.
func kindIndex(k Kind) uint32 {
	switch k {
	case KindTrack:
		return 0
	case KindAlbum:
		return 1
	case KindArtist:
		return 2
	default:
		return 3
	}
}

// kindBit is the bit of k in a kind mask.
func kindBit(k Kind) uint8 { return 1 << kindIndex(k) }

// Postings hold slot<<4 | kind<<2 | attribute: the entry's kindIndex and
// the best (lowest) Attribute the term has in the slot's document, so a
// query filters kinds and weighs attributes without reading the slot.
const (
	attrBits  = 2
	attrMask  = 1<<attrBits - 1
	kindShift = attrBits
	slotShift = attrBits + 2
	// MaxEntries is the most entries one index holds over its lifetime
	// (slots are not reused until the index is reopened).
	MaxEntries = 1 << (32 - slotShift)
)

// Index is a persisted, incrementally updated search index. It is safe for
// concurrent use.
type Index struct {
	opts Options
	st   store.Store
	// maxEntries is MaxEntries (lowered by tests).
	maxEntries int
	// popMin is the fewest slots found for every word for which a query
	// of several words scans them in popularity order (rankByPop;
	// lowered by tests).
	popMin int

	// wmu serialises the writers that add slots (Upsert, Apply); mu
	// guards everything below against the readers.
	wmu   sync.Mutex
	mu    sync.RWMutex
	slots []slot
	// dead has bit n set when slot n is dead (a bit set, so that the
	// check of every posting stays in cache); pops (popularity) is what
	// the pre-rank reads of a candidate, kept apart from the slots.
	dead []uint64
	pops []float64
	// kinds holds each slot's kindIndex, for the lookups that find a
	// slot through a term's bit sets instead of its postings.
	kinds []uint8
	// ones holds each slot's oneWordFields, read only for the
	// candidates that can enter the pre-rank's heap.
	ones []uint8
	// byPop holds the slots alive at the last rebuild, most popular first
	// (then by slot); the slots from popSorted on came after it.
	byPop     []uint32
	popSorted int
	byKey     map[string]uint32
	// words holds the documents' folded words, pairs each two adjacent
	// words written together (apart, so that a prefix query skips the
	// pairs its words already cover).
	words, pairs dict
	// nDead counts the slots that died since the postings were last
	// filtered (rebuild).
	nDead int

	lev [3]*levenshtein.LevenshteinAutomatonBuilder
	// tokenised is how many stored entries OpenIndex tokenised (those its
	// snapshot did not cover).
	tokenised int

	// gen changes whenever the dictionary's set of terms does; the term
	// cache's entries of another generation are stale.
	gen       atomic.Uint64
	termCache *otter.Cache[termsKey, cachedTerms]

	// paths counts the queries answered by each path (pathOne, pathFewer,
	// pathFull, pathPop), for tests.
	paths [4]atomic.Int64

	// version changes with every slot added or removed; short holds the
	// answers to one- and two-letter prefixes as of a version.
	version atomic.Uint64
	short   shortAnswers
}

// The query paths counted in Index.paths.
const (
	pathOne   = iota // one word, postings read in ranking order
	pathFewer        // several words, the slots found for the most words
	pathFull         // every matching slot
	pathPop          // several words, their slots in popularity order
)

// shortAnswers caches the answers to one-word queries of one or two
// letters typed as a prefix (the first keystrokes, matching the most
// entries), as of the index's version; a change to the index drops them.
type shortAnswers struct {
	mu      sync.Mutex
	version uint64
	m       map[shortKey]shortAnswer
}

// shortKey is what a short query's answer depends on.
type shortKey struct {
	word          string
	kinds         uint8
	viewer        string
	offset, limit int
}

type shortAnswer struct {
	hits  []Hit
	total int
}

// maxShortAnswers bounds the cached short answers (each at most a page).
const maxShortAnswers = 4096

// shortKeyOf returns the cache key of req when it is a one-word query of
// at most two letters typed as a prefix.
func shortKeyOf(req Request, kinds uint8) (shortKey, bool) {
	q := req.Query
	if len(q.Words) != 1 || !q.LastIsPrefix || len(q.Words[0].Runes) > 2 || req.Limit <= 0 || req.Limit > 100 {
		return shortKey{}, false
	}
	return shortKey{string(q.Words[0].Runes), kinds, req.Viewer, req.Offset, req.Limit}, true
}

// cachedShort returns the cached answer of k at version v.
func (ix *Index) cachedShort(k shortKey, v uint64) ([]Hit, int, bool) {
	ix.short.mu.Lock()
	defer ix.short.mu.Unlock()
	a, ok := ix.short.m[k]
	if !ok || ix.short.version != v {
		return nil, 0, false
	}
	return slices.Clone(a.hits), a.total, true
}

// keepShort caches the answer of k computed at version v.
func (ix *Index) keepShort(k shortKey, v uint64, hits []Hit, total int) {
	ix.short.mu.Lock()
	defer ix.short.mu.Unlock()
	if ix.short.version != v || ix.short.m == nil || len(ix.short.m) >= maxShortAnswers {
		ix.short.version, ix.short.m = v, map[shortKey]shortAnswer{}
	}
	ix.short.m[k] = shortAnswer{slices.Clone(hits), total}
}

// OpenIndex loads the entries stored in st and builds the index over them:
// with a snapshot file (Options.WithSnapshot) it reuses the snapshot's
// postings of the entries whose stored bytes it was built from and
// tokenises only the others. The index writes its entries to st; it does
// not close st.
func OpenIndex(ctx context.Context, st store.Store, opts Options) (*Index, error) {
	ix := &Index{opts: opts, st: st, maxEntries: MaxEntries, popMin: popMinDefault, byKey: map[string]uint32{}, words: newDict(), pairs: newDict()}
	if opts.termCache > 0 {
		c, err := otter.New(&otter.Options[termsKey, cachedTerms]{
			MaximumWeight: uint64(opts.termCache),
			Weigher: func(k termsKey, v cachedTerms) uint32 {
				w := 64 + len(k.word) + 40*len(v.terms)
				for _, t := range v.terms {
					w += len(t.term)
				}
				return uint32(min(w, math.MaxUint32))
			},
		})
		if err != nil {
			return nil, fmt.Errorf("search: term cache: %w", err)
		}
		ix.termCache = c
	}
	for d := 1; d <= 2; d++ {
		b, err := levenshtein.NewLevenshteinAutomatonBuilder(uint8(d), true)
		if err != nil {
			return nil, fmt.Errorf("search: build levenshtein automaton builder: %w", err)
		}
		ix.lev[d] = b
	}
	var snap *snapshot
	if opts.snapshot != "" {
		var err error
		if snap, err = readSnapshot(opts.snapshot); err != nil && !errors.Is(err, fs.ErrNotExist) {
			opts.logger().Warn("search: index snapshot not used, rebuilding", "path", opts.snapshot, "err", err)
		}
	}
	// Decoding runs on every core, a batch at a time; slots are added in
	// store order.
	var batch []stored
	var digests [][digestBytes]byte
	err := st.Iterate(ctx, entryPrefix, false, func(key, value []byte) error {
		batch = append(batch, stored{bytes.Clone(key), bytes.Clone(value)})
		if len(batch) < loadBatch {
			return nil
		}
		var err error
		digests, err = ix.load(batch, digests)
		batch = batch[:0]
		return err
	})
	if err == nil {
		digests, err = ix.load(batch, digests)
	}
	if err != nil {
		return nil, err
	}
	var covered []bool
	if snap != nil {
		if covered, err = ix.useSnapshot(snap, digests); err != nil {
			opts.logger().Warn("search: index snapshot not used, rebuilding", "path", opts.snapshot, "err", err)
		}
	}
	tokenised := ix.tokenise(covered)
	ix.tokenised = tokenised
	if err := ix.rebuild(); err != nil {
		return nil, err
	}
	if opts.snapshot != "" && (snap == nil || tokenised > 0 || len(snap.digests) != len(ix.slots)) {
		if err := ix.SaveSnapshot(ctx); err != nil {
			opts.logger().Warn("search: save index snapshot", "path", opts.snapshot, "err", err)
		}
	}
	opts.logger().Debug("search: index opened", "entries", len(ix.slots), "tokenised", tokenised, "snapshot", snap != nil)
	return ix, nil
}

// Limits of an entry.
const (
	MaxIDBytes   = 128
	MaxTextBytes = 512
	MaxArtists   = 32
)

// Check returns a wrapped ErrInvalidEntry when e cannot be indexed.
func (e Entry) Check() error {
	switch {
	case !e.Kind.Valid():
		return fmt.Errorf("%w: kind %q", ErrInvalidEntry, e.Kind)
	case e.ID == "" || len(e.ID) > MaxIDBytes || bytes.ContainsRune([]byte(e.ID), store.Sep):
		return fmt.Errorf("%w: id %q", ErrInvalidEntry, e.ID)
	case e.Title == "" || len(e.Title) > MaxTextBytes:
		return fmt.Errorf("%w: title of %d bytes", ErrInvalidEntry, len(e.Title))
	case len(e.Album) > MaxTextBytes:
		return fmt.Errorf("%w: album of %d bytes", ErrInvalidEntry, len(e.Album))
	case len(e.Artists) > MaxArtists:
		return fmt.Errorf("%w: %d artists", ErrInvalidEntry, len(e.Artists))
	case len(e.Audio) > MaxIDBytes:
		return fmt.Errorf("%w: audio id of %d bytes", ErrInvalidEntry, len(e.Audio))
	case len(e.Owner) > MaxIDBytes:
		return fmt.Errorf("%w: owner of %d bytes", ErrInvalidEntry, len(e.Owner))
	}
	for _, a := range e.Artists {
		if a == "" || len(a) > MaxTextBytes {
			return fmt.Errorf("%w: artist of %d bytes", ErrInvalidEntry, len(a))
		}
	}
	return nil
}

// Upsert adds entries or replaces those with the same kind and id, in one
// store transaction: all or none are written.
func (ix *Index) Upsert(ctx context.Context, entries ...Entry) error {
	for _, e := range entries {
		if err := e.Check(); err != nil {
			return err
		}
	}
	// Writers are serialised so that the slot limit checked before the
	// store write still holds when the entries are added.
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	ix.mu.RLock()
	full := len(ix.slots)+len(entries) > ix.maxEntries
	ix.mu.RUnlock()
	if full {
		return fmt.Errorf("%w: %d entries", ErrIndexFull, ix.maxEntries)
	}
	err := ix.st.Update(ctx, func(tx store.Txn) error {
		for _, e := range entries {
			v, err := cborx.Marshal(e)
			if err != nil {
				return fmt.Errorf("search: encode entry: %w", err)
			}
			if err := tx.Set(store.Key("search", "entry", e.Key()), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("search: store entries: %w", err)
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, e := range entries {
		ix.remove(e.Key())
		ix.add(e)
	}
	return ix.maybeRebuild()
}

// Apply replaces in memory only entries the caller has already persisted
// (with Entry.StoreKey and Entry.Encode), in batches of applyBatch so
// that queries are not held off for long. Past MaxEntries it returns
// ErrIndexFull before applying anything, and the persisted entries are
// indexed when the index is next opened.
func (ix *Index) Apply(entries []Entry) error {
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	ix.mu.RLock()
	full := len(ix.slots)+len(entries) > ix.maxEntries
	ix.mu.RUnlock()
	if full {
		return fmt.Errorf("%w: %d entries", ErrIndexFull, ix.maxEntries)
	}
	for len(entries) > 0 {
		n := min(len(entries), applyBatch)
		ix.mu.Lock()
		for _, e := range entries[:n] {
			ix.remove(e.Key())
			ix.add(e)
		}
		err := ix.maybeRebuild()
		ix.mu.Unlock()
		if err != nil {
			return err
		}
		entries = entries[n:]
	}
	return nil
}

// applyBatch bounds the entries applied under one lock.
const applyBatch = 4096

// Remove deletes the entries of kind with the given ids; unknown ids are
// ignored.
func (ix *Index) Remove(ctx context.Context, kind Kind, ids ...string) error {
	err := ix.st.Update(ctx, func(tx store.Txn) error {
		for _, id := range ids {
			if err := tx.Delete(store.Key("search", "entry", string(kind)+":"+id)); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("search: delete entries: %w", err)
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, id := range ids {
		ix.remove(string(kind) + ":" + id)
	}
	return ix.maybeRebuild()
}

// Changed returns the entries of batch not indexed exactly as they are
// (reusing batch's array).
func (ix *Index) Changed(batch []Entry) []Entry {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return slices.DeleteFunc(batch, func(e Entry) bool {
		n, ok := ix.byKey[e.Key()]
		if !ok {
			return false
		}
		cur := ix.slots[n].entry
		return cur.Title == e.Title && cur.Album == e.Album && cur.Popularity == e.Popularity &&
			cur.Audio == e.Audio && cur.Owner == e.Owner && cur.Public == e.Public && slices.Equal(cur.Artists, e.Artists)
	})
}

// Forget removes in memory only the entries with the given keys
// (Entry.Key), which the caller has already deleted from the store.
func (ix *Index) Forget(keys ...string) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, k := range keys {
		ix.remove(k)
	}
	return ix.maybeRebuild()
}

// Lookup returns the indexed entry of kind and id.
func (ix *Index) Lookup(kind Kind, id string) (Entry, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	n, ok := ix.byKey[string(kind)+":"+id]
	if !ok {
		return Entry{}, false
	}
	return ix.slots[n].entry, true
}

// Store returns the store the index persists its entries in (not owned:
// the index never closes it).
func (ix *Index) Store() store.Store { return ix.st }

// Len returns the number of entries indexed.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.byKey)
}

// termAttr is a dictionary term of a document with the best attribute it
// occurs in; first is 0 for a word and, for a pair of words written
// together, the fewest runes of its first word (at most 255).
type termAttr struct {
	term  string
	attr  search.Attribute
	first uint8
}

// terms returns the dictionary terms of a document: each folded word and
// each pair of adjacent words written together (so "daytripper" finds "Day
// Tripper"), each once with its best attribute, words first.
func terms(d search.Document) []termAttr {
	var out []termAttr
	for _, f := range d.Fields {
		toks := search.Tokenize(f.Text)
		for i, t := range toks {
			out = append(out, termAttr{t.String(), f.Attr, 0})
			if i+1 < len(toks) {
				out = append(out, termAttr{t.String() + toks[i+1].String(), f.Attr, uint8(min(len(t.Runes), 255))})
			}
		}
	}
	isPair := func(t termAttr) bool { return t.first != 0 }
	slices.SortFunc(out, func(a, b termAttr) int {
		if a, b := isPair(a), isPair(b); a != b {
			if b {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(a.term, b.term); c != 0 {
			return c
		}
		return cmp.Compare(a.attr, b.attr)
	})
	// Keep the best attribute (sorted first) and the shortest first word.
	w := 0
	for _, t := range out {
		if w > 0 && out[w-1].term == t.term && isPair(out[w-1]) == isPair(t) {
			out[w-1].first = min(out[w-1].first, t.first)
			continue
		}
		out[w] = t
		w++
	}
	return out[:w]
}

// add indexes e in a new slot; the caller holds mu (or owns ix) and has
// checked MaxEntries.
func (ix *Index) add(e Entry) {
	ix.addPrepared(e, terms(e.Document()))
}

// loadBatch is how many stored entries OpenIndex decodes at once.
const loadBatch = 8192

// stored is a stored entry's key and value.
type stored struct{ key, value []byte }

// decoded is a stored entry decoded, with its digest.
type decoded struct {
	e      Entry
	digest [digestBytes]byte
	err    error
}

// load decodes stored entries on every core (with their digests when the
// index has a snapshot file, appended to digests), then adds them in
// order as slots without terms (tokenise adds those); the caller owns ix.
func (ix *Index) load(values []stored, digests [][digestBytes]byte) ([][digestBytes]byte, error) {
	out := make([]decoded, len(values))
	workers := min(runtime.GOMAXPROCS(0), len(values))
	digest := ix.opts.snapshot != ""
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(values); i += workers {
				p := &out[i]
				if err := entryDec.Unmarshal(values[i].value, &p.e); err != nil {
					p.err = fmt.Errorf("search: decode entry: %w", err)
					continue
				}
				if digest {
					p.digest = entryDigest(values[i].key, values[i].value)
				}
			}
		})
	}
	wg.Wait()
	if len(ix.slots)+len(out) > ix.maxEntries {
		return nil, fmt.Errorf("%w: %d entries", ErrIndexFull, ix.maxEntries)
	}
	for i, p := range out {
		if p.err != nil {
			// A damaged entry (disk error, hand edit) must not take the
			// whole index down: it is left out, and the next Put of its
			// key replaces it.
			ix.opts.logger().Warn("search: stored entry damaged; left out of the index", "key", string(values[i].key), "err", p.err)
			continue
		}
		ix.addSlot(p.e)
		if digest {
			digests = append(digests, p.digest)
		}
	}
	return digests, nil
}

// tokenise adds the terms of every slot not covered (by a snapshot; nil:
// none is), tokenising on every core a batch at a time and adding in slot
// order, and returns how many slots it tokenised; the caller owns ix.
func (ix *Index) tokenise(covered []bool) int {
	var todo []uint32
	for n := range ix.slots {
		if covered == nil || !covered[n] {
			todo = append(todo, uint32(n))
		}
	}
	ts := make([][]termAttr, loadBatch)
	for start := 0; start < len(todo); start += loadBatch {
		chunk := todo[start:min(start+loadBatch, len(todo))]
		workers := min(runtime.GOMAXPROCS(0), len(chunk))
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := w; i < len(chunk); i += workers {
					ts[i] = terms(ix.slots[chunk[i]].entry.Document())
				}
			})
		}
		wg.Wait()
		for i, n := range chunk {
			ix.addTerms(n, ix.slots[n].entry.Kind, ts[i])
		}
	}
	return len(todo)
}

// addPrepared indexes e, whose terms are ts, in a new slot; the caller
// holds mu (or owns ix) and has checked MaxEntries.
func (ix *Index) addPrepared(e Entry, ts []termAttr) {
	ix.addTerms(ix.addSlot(e), e.Kind, ts)
}

// addSlot adds e in a new slot without terms and returns the slot; the
// caller holds mu (or owns ix) and has checked MaxEntries.
func (ix *Index) addSlot(e Entry) uint32 {
	n := uint32(len(ix.slots))
	ix.slots = append(ix.slots, slot{entry: e, alive: true})
	if int(n>>6) >= len(ix.dead) {
		ix.dead = append(ix.dead, 0)
	}
	ix.pops = append(ix.pops, e.Popularity)
	ix.kinds = append(ix.kinds, uint8(kindIndex(e.Kind)))
	ix.ones = append(ix.ones, oneWordFields(e))
	ix.byKey[e.Key()] = n
	ix.version.Add(1)
	return n
}

// oneWordFields returns bit a set when e has a field of attribute a
// (title, artist, album) of one word.
func oneWordFields(e Entry) uint8 {
	bit := func(a search.Attribute, text string) uint8 {
		if search.CountWords(text) == 1 {
			return 1 << a
		}
		return 0
	}
	l := bit(search.AttrTitle, e.Title)
	for _, a := range e.Artists {
		l |= bit(search.AttrArtist, a)
	}
	if e.Album != "" {
		l |= bit(search.AttrAlbum, e.Album)
	}
	return l
}

// sameLength is core/search's Result.SameLength, as 0 or 1, of slot n
// matched by a one-word query with attribute attr.
func (ix *Index) sameLength(n uint32, attr uint8) uint8 {
	return ix.ones[n] >> attr & 1
}

// addTerms adds the postings of slot n, of kind k, for its terms ts; the
// caller holds mu (or owns ix).
func (ix *Index) addTerms(n uint32, k Kind, ts []termAttr) {
	kind := kindIndex(k) << kindShift
	hidden := ix.hides(n)
	for _, t := range ts {
		d := &ix.words
		if t.first != 0 {
			d = &ix.pairs
		}
		if d.add(t.term, t.first, n<<slotShift|kind|uint32(min(t.attr, attrMask)), hidden) {
			ix.gen.Add(1)
		}
	}
}

// dict is a term dictionary: each term's postings, and an FST over the
// terms (its values: termList.first) with the terms new since it was
// built.
type dict struct {
	postings map[string]termList
	fst      *vellum.FST
	fresh    map[string]struct{}
	// unsorted counts the postings appended since the last rebuild;
	// total all postings as of then.
	unsorted, total int
}

// termList is a term's postings; first is the fewest runes of the first
// word of a pair term (0 for words). The first sorted postings are in
// ranking order (scoreOrder: attribute, then popularity), so a query can
// stop reading them once none can enter its page; those appended since
// the last sort follow in slot order.
type termList struct {
	p      []uint32
	sorted int
	first  uint8
	// hidden counts the postings of p whose slot is a private playlist
	// (hides): a search with a viewer leaves them out of the posting
	// counts it reports as the total, so the total says nothing about
	// other users' private playlists.
	hidden int32
	// dense holds the slots of a common term as bit sets (termBits), so
	// that a query of several words reads a machine word per 64 slots
	// instead of a posting per slot; nil for the others.
	dense *termBits
}

// termBits is a common term's postings as bit sets over the slots: has
// has bit n set when slot n has the term, and a0 and a1 the bits 0 and 1
// of its attribute there (dead slots may stay set until the next
// rebuild; readers check the dead set).
type termBits struct {
	has, a0, a1 []uint64
}

// denseMin is the fewest postings of a term kept as bit sets too; with
// at least a sixteenth of the slots (denseShare) as well, the bit sets
// (three bits per slot) take at most 1.5 times the postings' memory.
const (
	denseMin   = 64
	denseShare = 16
)

// isDense reports whether a term with postings p in an index of slots
// slots is kept as bit sets too.
func isDense(postings, slots int) bool {
	return postings >= max(denseMin, slots/denseShare)
}

// newTermBits returns the bit sets of postings p over slots slots.
func newTermBits(p []uint32, slots int) *termBits {
	blocks := (slots + 63) / 64
	blocks += blocks / 8
	tb := &termBits{has: make([]uint64, blocks), a0: make([]uint64, blocks), a1: make([]uint64, blocks)}
	for _, v := range p {
		tb.set(v)
	}
	return tb
}

// set adds posting v, growing the bit sets when its slot is beyond them.
func (tb *termBits) set(v uint32) {
	n := v >> slotShift
	b := int(n >> 6)
	if b >= len(tb.has) {
		grow := b + 1 - len(tb.has) + b/8
		tb.has = append(tb.has, make([]uint64, grow)...)
		tb.a0 = append(tb.a0, make([]uint64, grow)...)
		tb.a1 = append(tb.a1, make([]uint64, grow)...)
	}
	bit := uint64(1) << (n & 63)
	tb.has[b] |= bit
	if v&1 != 0 {
		tb.a0[b] |= bit
	}
	if v&2 != 0 {
		tb.a1[b] |= bit
	}
}

func newDict() dict {
	return dict{postings: map[string]termList{}, fresh: map[string]struct{}{}}
}

// add appends posting v to term (hidden: its slot is a private playlist)
// and reports whether the term is new.
func (d *dict) add(term string, first uint8, v uint32, hidden bool) bool {
	l, ok := d.postings[term]
	if ok {
		l.first = min(l.first, first)
	} else {
		l.first = first
		d.fresh[term] = struct{}{}
	}
	l.p = append(l.p, v)
	if hidden {
		l.hidden++
	}
	if l.dense != nil {
		l.dense.set(v) // a term becomes dense at a rebuild
	}
	d.postings[term] = l
	d.unsorted++
	return !ok
}

// hides reports whether slot n is a private playlist, which the totals
// of a search with a viewer do not count (termList.hidden).
func (ix *Index) hides(n uint32) bool {
	e := &ix.slots[n].entry
	return e.Kind == KindPlaylist && !e.Public
}

// countHidden returns how many of postings p are of slots that hide.
func (ix *Index) countHidden(p []uint32) int32 {
	var h int32
	for _, v := range p {
		if ix.hides(v >> slotShift) {
			h++
		}
	}
	return h
}

// counted returns how many postings of l a search with filter f counts
// in a total above the exact limit: all of them on the device (no
// viewer), else all but the private playlists' (the viewer's own among
// them: an approximate total never tells whether one exists).
func (f filter) counted(l termList) int {
	if f.viewer == "" {
		return len(l.p)
	}
	return len(l.p) - int(l.hidden)
}

// remove marks the slot of key dead; the caller holds mu.
func (ix *Index) remove(key string) {
	n, ok := ix.byKey[key]
	if !ok {
		return
	}
	delete(ix.byKey, key)
	ix.version.Add(1)
	ix.slots[n].alive = false
	ix.dead[n>>6] |= 1 << (n & 63)
	ix.nDead++
}

// maybeRebuild rebuilds the FST when too many terms are fresh or half
// the slots are dead; the caller holds mu. The fresh-term threshold grows with the dictionary (a sixteenth of its
// terms, at least the configured limit), so a large import applied in
// batches rebuilds the FST a logarithmic number of times, not once per
// batch.
func (ix *Index) maybeRebuild() error {
	if !ix.words.stale(ix.opts.freshLimit) && !ix.pairs.stale(ix.opts.freshLimit) && ix.nDead <= len(ix.slots)/2 {
		return nil
	}
	return ix.rebuild()
}

// stale reports whether more than max(limit, a sixteenth of the terms)
// terms arrived since d's FST was built, or more than max(16 × limit, a
// quarter of the postings) postings (out of ranking order) since they
// were sorted.
func (d *dict) stale(limit int) bool {
	return len(d.fresh) > max(limit, len(d.postings)/16) || d.unsorted > max(16*limit, d.total/4)
}

// rebuild drops dead slots from the postings and builds the FSTs over
// all terms; the caller holds mu (or owns ix).
func (ix *Index) rebuild() error {
	for _, d := range []*dict{&ix.words, &ix.pairs} {
		if err := d.rebuild(ix); err != nil {
			return err
		}
	}
	ix.nDead = 0
	ix.sortByPop()
	return nil
}

// sortByPop orders the live slots by popularity (byPop); the caller
// holds mu (or owns ix).
func (ix *Index) sortByPop() {
	ix.byPop = ix.byPop[:0]
	for n := range ix.slots {
		if ix.dead[n>>6]&(1<<(n&63)) == 0 {
			ix.byPop = append(ix.byPop, uint32(n))
		}
	}
	slices.SortFunc(ix.byPop, func(a, b uint32) int {
		if pa, pb := ix.pops[a], ix.pops[b]; pa != pb {
			if pa > pb {
				return -1
			}
			return 1
		}
		return cmp.Compare(a, b)
	})
	ix.popSorted = len(ix.slots)
}

// rebuild drops ix's dead slots from d's postings and builds d's FST.
func (d *dict) rebuild(ix *Index) error {
	keys := make([]string, 0, len(d.postings))
	var tmp []scored
	d.total = 0
	for t, l := range d.postings {
		changed := false
		if ix.nDead > 0 {
			before := len(l.p)
			l.p = slices.DeleteFunc(l.p, func(v uint32) bool { return !ix.slots[v>>slotShift].alive })
			if len(l.p) == 0 {
				delete(d.postings, t)
				ix.gen.Add(1)
				continue
			}
			changed = len(l.p) != before
			l.sorted = min(l.sorted, len(l.p))
			if changed && l.hidden > 0 {
				l.hidden = ix.countHidden(l.p)
			}
		}
		if l.sorted < len(l.p) || changed {
			tmp = ix.scoreOrder(l.p, tmp)
			l.sorted = len(l.p)
		}
		switch {
		case !isDense(len(l.p), len(ix.slots)):
			l.dense = nil
		case l.dense == nil || changed:
			l.dense = newTermBits(l.p, len(ix.slots))
		}
		d.postings[t] = l
		d.total += len(l.p)
		keys = append(keys, t)
	}
	d.unsorted = 0
	sort.Strings(keys)
	var buf bytes.Buffer
	b, err := vellum.New(&buf, nil)
	if err != nil {
		return fmt.Errorf("search: new fst: %w", err)
	}
	for _, k := range keys {
		if err := b.Insert([]byte(k), uint64(d.postings[k].first)); err != nil {
			return fmt.Errorf("search: build fst: %w", err)
		}
	}
	if err := b.Close(); err != nil {
		return fmt.Errorf("search: build fst: %w", err)
	}
	f, err := vellum.Load(buf.Bytes())
	if err != nil {
		return fmt.Errorf("search: load fst: %w", err)
	}
	d.fst = f
	clear(d.fresh)
	return nil
}

// scored is a posting with its slot's popularity and sameLength for one
// word, for sorting.
type scored struct {
	pop  float64
	v    uint32
	same uint8
}

// scoreOrder sorts postings p in ranking order: best attribute first,
// then the slots with a one-word field of that attribute (sameLength),
// then most popular, then lowest slot (cand.better's order for one query
// word); tmp is scratch space, returned for reuse.
func (ix *Index) scoreOrder(p []uint32, tmp []scored) []scored {
	tmp = tmp[:0]
	for _, v := range p {
		n := v >> slotShift
		tmp = append(tmp, scored{ix.pops[n], v, ix.sameLength(n, uint8(v&attrMask))})
	}
	slices.SortFunc(tmp, func(a, b scored) int {
		if c := cmp.Compare(a.v&attrMask, b.v&attrMask); c != 0 {
			return c
		}
		if c := cmp.Compare(b.same, a.same); c != 0 {
			return c
		}
		if a.pop != b.pop {
			if a.pop > b.pop {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.v>>slotShift, b.v>>slotShift)
	})
	for i, s := range tmp {
		p[i] = s.v
	}
	return tmp
}

// prefixAutomaton matches every key that has a prefix the wrapped
// automaton matches: once the wrapped automaton is in a matching state,
// every continuation matches.
type prefixAutomaton struct{ a vellum.Automaton }

// matched is prefixAutomaton's state after a match; automaton states of
// vellum's DFAs are small non-negative numbers.
const matched = -1 << 30

func (p prefixAutomaton) Start() int { return p.a.Start() }
func (p prefixAutomaton) IsMatch(s int) bool {
	return s == matched || p.a.IsMatch(s)
}
func (p prefixAutomaton) CanMatch(s int) bool {
	return s == matched || p.a.CanMatch(s)
}
func (p prefixAutomaton) WillAlwaysMatch(s int) bool { return s == matched }
func (p prefixAutomaton) Accept(s int, b byte) int {
	if s == matched || p.a.IsMatch(s) {
		return matched
	}
	return p.a.Accept(s, b)
}

// automaton returns the automaton matching the terms within word's typo
// budget (as a prefix when prefix is set), or nil when the budget is 0 and
// an exact or range lookup serves.
func (ix *Index) automaton(word string, budget int, prefix bool) (vellum.Automaton, error) {
	if budget == 0 {
		return nil, nil
	}
	dfa, err := ix.lev[budget].BuildDfa(word, uint8(budget))
	if err != nil {
		return nil, fmt.Errorf("search: build automaton: %w", err)
	}
	if prefix {
		return prefixAutomaton{dfa}, nil
	}
	return dfa, nil
}

// matchTerms calls fn with each term of d that aut accepts (nil: that
// equals w, or starts with it when prefix is set) and its termList.first.
// The caller holds mu.
func (d *dict) matchTerms(w string, aut vellum.Automaton, prefix bool, fn func(term string, first uint8)) error {
	var it *vellum.FSTIterator
	var err error
	switch {
	case aut != nil:
		it, err = d.fst.Search(aut, nil, nil)
	case prefix:
		it, err = d.fst.Iterator([]byte(w), store.PrefixEnd([]byte(w)))
	default:
		if v, ok, gerr := d.fst.Get([]byte(w)); gerr != nil {
			return fmt.Errorf("search: look up term: %w", gerr)
		} else if ok {
			fn(w, uint8(v))
		}
		err = vellum.ErrIteratorDone
	}
	for err == nil {
		k, v := it.Current()
		fn(string(k), uint8(v))
		err = it.Next()
	}
	if !errors.Is(err, vellum.ErrIteratorDone) {
		return fmt.Errorf("search: iterate terms: %w", err)
	}
	for t := range d.fresh {
		tb := []byte(t)
		switch {
		case aut != nil:
			if !vellum.AutomatonContains(aut, tb) {
				continue
			}
		case prefix:
			if !bytes.HasPrefix(tb, []byte(w)) {
				continue
			}
		case t != w:
			continue
		}
		fn(t, d.postings[t].first)
	}
	return nil
}

// slotState is one slot's per-query candidate state, valid only when
// epoch is the scratch's: mask has bit i set when the slot has a term
// matching query word i, typos sums the fewest typos of each matched
// word, attr the attribute of each matched word's best term, exact counts
// the words matched exactly. Six bytes: the array is read at random
// once per posting, so its size decides the cache misses.
type slotState struct {
	mask  uint16
	epoch uint8
	typos uint8
	attr  uint8
	exact uint8
}

// scratch holds per-query candidate state indexed by slot; touched lists
// the slots of this query's epoch (the slots matching a word, of a
// requested kind, alive and visible). Bumping the epoch clears the state
// without writing it; it is cleared for real when the epoch wraps.
type scratch struct {
	st      []slotState
	epoch   uint8
	touched []uint32
	heap    []cand
	// keys holds each touched slot's pre-rank key (packKey), in touched's
	// order (Search).
	keys []uint32
	// mark is a bit set of slots and count per-slot counters of matched
	// query words, bit-sliced (countWords, restrict).
	mark  []uint64
	count [counterBits][]uint64
}

type termTypos struct {
	term  string
	typos int
	exact bool
	pair  bool
}

// scratchPool keeps cleared scratches for reuse. Unlike a sync.Pool it
// is not emptied by garbage collections, which would make queries
// allocate and clear arrays of a million slots again.
var scratchPool = make(chan *scratch, 16)

// scratch returns a scratch of a new epoch sized for the slots; the
// caller holds mu.
func (ix *Index) scratch() *scratch {
	var sc *scratch
	select {
	case sc = <-scratchPool:
	default:
		sc = &scratch{}
	}
	if len(sc.st) < len(ix.slots) {
		sc.st = make([]slotState, len(ix.slots)+len(ix.slots)/8)
		sc.epoch = 0
	}
	sc.next()
	return sc
}

// next starts a new epoch: every slot's state is unset.
func (sc *scratch) next() {
	sc.epoch++
	if sc.epoch == 0 {
		clear(sc.st)
		sc.epoch = 1
	}
}

func (ix *Index) release(sc *scratch) {
	sc.touched, sc.heap, sc.keys = sc.touched[:0], sc.heap[:0], sc.keys[:0]
	select {
	case scratchPool <- sc:
	default:
	}
}

// termsKey identifies a query word's matching terms.
type termsKey struct {
	word   string
	budget int
	prefix bool
	pairs  bool
}

// cachedTerms are a word's matching terms in the dictionary of
// generation gen, best first.
type cachedTerms struct {
	gen   uint64
	terms []termTypos
}

// wordTerms returns the terms within budget typos of word (as a prefix
// when prefix is set), the exact term first, then by typos: the words'
// and, with pairs set, the pairs' whose match reaches into their second
// word (a prefix within the first is the first word's term, found with
// the same typos and an attribute as good). The returned slice is shared
// (read only). The caller holds mu.
func (ix *Index) wordTerms(word []rune, budget int, prefix, pairs bool) ([]termTypos, error) {
	key := termsKey{string(word), budget, prefix, pairs}
	gen := ix.gen.Load()
	if ix.termCache != nil {
		if c, ok := ix.termCache.GetIfPresent(key); ok && c.gen == gen {
			return c.terms, nil
		}
	}
	var terms []termTypos
	aut, err := ix.automaton(key.word, budget, prefix)
	if err != nil {
		return nil, err
	}
	err = ix.words.matchTerms(key.word, aut, prefix, func(t string, _ uint8) {
		typos, _, _ := search.WordTypos(word, []rune(t), budget, prefix)
		terms = append(terms, termTypos{t, typos, t == key.word, false})
	})
	if err == nil && pairs {
		err = ix.pairs.matchTerms(key.word, aut, prefix, func(t string, first uint8) {
			if typos, n, _ := search.WordTypos(word, []rune(t), budget, prefix); n > int(first) {
				terms = append(terms, termTypos{t, typos, false, true})
			}
		})
	}
	if err == nil && aut != nil && !isASCII(key.word) {
		// vellum's UTF-8 Levenshtein automaton misses terms of long words
		// of many multi-byte letters (16 kana: not even the word itself),
		// so such a word also takes the terms a budget-0 lookup finds.
		err = ix.exactTerms(word, key, &terms)
	}
	if err != nil {
		return nil, err
	}
	slices.SortFunc(terms, func(a, b termTypos) int {
		if a.exact != b.exact {
			if a.exact {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(a.typos, b.typos); c != 0 {
			return c
		}
		// A stable order whatever the dictionary's state (FST or terms
		// not yet in it): a slot's pre-rank attribute is its first term's.
		if a.pair != b.pair {
			if b.pair {
				return -1
			}
			return 1
		}
		return strings.Compare(a.term, b.term)
	})
	if ix.termCache != nil {
		ix.termCache.Set(key, cachedTerms{gen: gen, terms: terms})
	}
	return terms, nil
}

// exactTerms adds to terms the words' terms (and, with key.pairs, the
// pairs') equal to word, or starting with it when key.prefix is set, that
// terms lacks; the caller holds mu.
func (ix *Index) exactTerms(word []rune, key termsKey, terms *[]termTypos) error {
	have := make(map[termTypos]bool, len(*terms))
	for _, tt := range *terms {
		have[termTypos{term: tt.term, pair: tt.pair}] = true
	}
	err := ix.words.matchTerms(key.word, nil, key.prefix, func(t string, _ uint8) {
		if !have[termTypos{term: t}] {
			*terms = append(*terms, termTypos{t, 0, t == key.word, false})
		}
	})
	if err == nil && key.pairs {
		err = ix.pairs.matchTerms(key.word, nil, key.prefix, func(t string, first uint8) {
			if _, n, _ := search.WordTypos(word, []rune(t), 0, key.prefix); n > int(first) && !have[termTypos{term: t, pair: true}] {
				*terms = append(*terms, termTypos{t, 0, false, true})
			}
		})
	}
	return err
}

// b2u8 is 1 for true, 0 for false.
func b2u8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// isASCII reports whether s is all ASCII.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// filter is what a query lets through: the kinds (a kindBit mask) and,
// with a viewer, only the playlists public or the viewer's.
type filter struct {
	kinds  uint8
	viewer string
}

// gather is one dictionary lookup of a query: a query word (bits: its
// bit) or two adjacent ones written together (their two bits), with its
// matching terms and their posting count (filter.counted).
type gather struct {
	word     []rune
	prefix   bool
	bits     uint16
	terms    []termTypos
	postings int
}

// gathers returns q's lookups in order: each word, then it written
// together with the next one. A single query word has search.TypoBudget,
// two written together search.PairTypoBudget and are not looked up among
// the pairs (core/search matches them only against one document word).
// The caller holds mu.
func (ix *Index) gathers(q search.Query, f filter) ([]gather, error) {
	last := len(q.Words) - 1
	gs := make([]gather, 0, 2*len(q.Words))
	for i, w := range q.Words {
		gs = append(gs, gather{word: w.Runes, prefix: q.LastIsPrefix && i == last || len(w.Runes) == search.MaxWordRunes, bits: 1 << i})
		if i < last {
			cat := append(slices.Clone(w.Runes), q.Words[i+1].Runes...)
			gs = append(gs, gather{word: cat, prefix: q.LastIsPrefix && i+1 == last, bits: 3 << i})
		}
	}
	for i := range gs {
		g := &gs[i]
		budget := search.TypoBudget(len(g.word))
		if g.bits&(g.bits-1) != 0 {
			budget = search.PairTypoBudget(len(g.word))
		}
		terms, err := ix.wordTerms(g.word, budget, g.prefix, g.bits&(g.bits-1) == 0)
		if err != nil {
			return nil, err
		}
		g.terms = terms
		for _, tt := range terms {
			g.postings += f.counted(ix.list(tt))
		}
	}
	return gs, nil
}

// list returns tt's postings; the caller holds mu.
func (ix *Index) list(tt termTypos) termList {
	if tt.pair {
		return ix.pairs.postings[tt.term]
	}
	return ix.words.postings[tt.term]
}

// collect marks the slots having one of g's terms with g.bits, adding the
// fewest typos of the lookup (and that term's attribute) to each slot
// once; dead slots, those f refuses and, when only is set, those whose
// bit in only is clear are skipped. A term counts as exact only for a
// single query word. inOnly is how many bits only has set: a common
// term's slots are then read from its bit sets when that is fewer than
// its postings (the same state in another slot order).
func (ix *Index) collect(sc *scratch, f filter, g gather, only []uint64, inOnly int) {
	words := uint8(bits.OnesCount16(g.bits))
	single := words == 1
	playlist := kindBit(KindPlaylist)
	epoch := sc.epoch
	for _, tt := range g.terms {
		exact := uint8(0)
		if single && tt.exact {
			exact = 1
		}
		typos := uint8(min(tt.typos, 255))
		l := ix.list(tt)
		if only != nil && l.dense != nil && inOnly < len(l.p) {
			ix.collectBits(sc, f, g.bits, l.dense, only, typos, exact, words)
			continue
		}
		for _, v := range l.p {
			kb := uint8(1) << (v >> kindShift & 3)
			if kb&f.kinds == 0 {
				continue
			}
			n := v >> slotShift
			if only != nil && only[n>>6]&(1<<(n&63)) == 0 {
				continue
			}
			st := &sc.st[n]
			if st.epoch != epoch {
				if ix.dead[n>>6]&(1<<(n&63)) != 0 || kb == playlist && f.viewer != "" && !ix.visible(n, f.viewer) {
					continue
				}
				*st = slotState{epoch: epoch}
				sc.touched = append(sc.touched, n)
			}
			if st.mask&g.bits != 0 {
				continue
			}
			st.mask |= g.bits
			st.typos = satAdd(st.typos, typos)
			st.attr = satAdd(st.attr, uint8(v&attrMask)*words)
			st.exact += exact
		}
	}
}

// collectBits is collect of one common term's slots within only, read
// from its bit sets tb.
func (ix *Index) collectBits(sc *scratch, f filter, gbits uint16, tb *termBits, only []uint64, typos, exact, words uint8) {
	playlist := kindBit(KindPlaylist)
	epoch := sc.epoch
	only = only[:min(len(only), len(tb.has))]
	for b, w := range only {
		x := w & tb.has[b]
		for x != 0 {
			i := bits.TrailingZeros64(x)
			x &= x - 1
			n := uint32(b<<6 | i)
			kb := uint8(1) << ix.kinds[n]
			if kb&f.kinds == 0 {
				continue
			}
			st := &sc.st[n]
			if st.epoch != epoch {
				if ix.dead[b]&(1<<i) != 0 || kb == playlist && f.viewer != "" && !ix.visible(n, f.viewer) {
					continue
				}
				*st = slotState{epoch: epoch}
				sc.touched = append(sc.touched, n)
			}
			if st.mask&gbits != 0 {
				continue
			}
			attr := uint8(tb.a0[b]>>i&1 | tb.a1[b]>>i&1<<1)
			st.mask |= gbits
			st.typos = satAdd(st.typos, typos)
			st.attr = satAdd(st.attr, attr*words)
			st.exact += exact
		}
	}
}

// counterBits is the width of the per-slot count of matched query words
// (bit-sliced, 64 slots per word): up to 15 ≥ MaxWords.
const counterBits = 4

// countWords sets sc.count to, per slot, how many query words (of n) one
// of its lookups in gs finds — at least the words the slot's state will
// match — in bit-sliced counters: each word's slots are marked in a bit
// set (its postings read in order, no per-slot state touched), then added.
func (ix *Index) countWords(sc *scratch, gs []gather, n int) {
	blocks := (len(ix.slots) + 63) / 64
	if len(sc.mark) < blocks {
		sc.mark = make([]uint64, blocks+blocks/8)
		for j := range sc.count {
			sc.count[j] = make([]uint64, len(sc.mark))
		}
	}
	for j := range sc.count {
		clear(sc.count[j][:blocks])
	}
	clear(sc.mark[:blocks]) // restrict's answer to the last query
	for i := range n {
		for _, g := range gs {
			if g.bits&(1<<i) == 0 {
				continue
			}
			for _, tt := range g.terms {
				l := ix.list(tt)
				if l.dense != nil {
					for b, w := range l.dense.has[:min(len(l.dense.has), blocks)] {
						sc.mark[b] |= w
					}
					continue
				}
				for _, v := range l.p {
					m := v >> slotShift
					sc.mark[m>>6] |= 1 << (m & 63)
				}
			}
		}
		for b, carry := range sc.mark[:blocks] {
			for j := 0; j < counterBits && carry != 0; j++ {
				c := sc.count[j][b]
				sc.count[j][b], carry = c^carry, c&carry
			}
		}
		clear(sc.mark[:blocks])
	}
}

// atLeast returns the lanes of the bit-sliced counters c (block b) whose
// count is at least m.
func (sc *scratch) atLeast(b, m int) uint64 {
	gt, eq := uint64(0), ^uint64(0)
	for j := counterBits - 1; j >= 0; j-- {
		c := sc.count[j][b]
		if m>>j&1 == 1 {
			eq &= c
		} else {
			gt |= eq & c
			eq &^= c
		}
	}
	return gt | eq
}

// restrict returns in sc.mark the slots counted (countWords) with at
// least m words, and how many there are.
func (ix *Index) restrict(sc *scratch, m int) ([]uint64, int) {
	blocks := (len(ix.slots) + 63) / 64
	total := 0
	for b := range blocks {
		w := sc.atLeast(b, m)
		sc.mark[b] = w
		total += bits.OnesCount64(w)
	}
	return sc.mark[:blocks], total
}

// satAdd returns a+b, at most 255.
func satAdd(a, b uint8) uint8 {
	if s := a + b; s >= a {
		return s
	}
	return 255
}

// cand is a candidate slot with what is known before matching.
type cand struct {
	n     uint32
	words uint8
	typos uint8
	attr  uint8
	same  uint8 // sameLength
	exact uint8
	pop   float64
}

// better orders candidates by the ranking criteria known before matching,
// in ranking order without proximity: words matched, typos, attribute,
// a field as long as what matched, words matched exactly, then popularity (and
// slot for a stable order).
func (a cand) better(b cand) bool {
	if a.words != b.words {
		return a.words > b.words
	}
	if a.typos != b.typos {
		return a.typos < b.typos
	}
	if a.attr != b.attr {
		return a.attr < b.attr
	}
	if a.same != b.same {
		return a.same > b.same
	}
	if a.exact != b.exact {
		return a.exact > b.exact
	}
	if a.pop != b.pop {
		return a.pop > b.pop
	}
	return a.n < b.n
}

// aheadOf reports whether a ranks before b on a criterion before
// popularity (so whatever their popularity).
func (a cand) aheadOf(b cand) bool {
	if a.words != b.words {
		return a.words > b.words
	}
	if a.typos != b.typos {
		return a.typos < b.typos
	}
	if a.attr != b.attr {
		return a.attr < b.attr
	}
	if a.same != b.same {
		return a.same > b.same
	}
	return a.exact > b.exact
}

// topK keeps the k best candidates offered, in a worst-at-root heap held
// in h (reused across queries).
type topK struct {
	h []cand
	k int
}

func (t *topK) down(i int) {
	h, k := t.h, len(t.h)
	for {
		l, w := 2*i+1, i
		if l < k && h[w].better(h[l]) {
			w = l
		}
		if r := l + 1; r < k && h[w].better(h[r]) {
			w = r
		}
		if w == i {
			return
		}
		h[i], h[w] = h[w], h[i]
		i = w
	}
}

func (t *topK) offer(c cand) {
	if len(t.h) < t.k {
		t.h = append(t.h, c)
		if len(t.h) == t.k {
			for i := t.k/2 - 1; i >= 0; i-- {
				t.down(i)
			}
		}
		return
	}
	if c.better(t.h[0]) {
		t.h[0] = c
		t.down(0)
	}
}

// bestCandidates returns the k best of cands in no particular order.
func bestCandidates(cands []cand, k int) []cand {
	t := topK{k: k}
	for _, c := range cands {
		t.offer(c)
	}
	return t.h
}

// Request is a search request.
type Request struct {
	Query search.Query
	// Kinds limits the result to these kinds; empty means all.
	Kinds []Kind
	// Limit and Offset page through the ranked results.
	Limit, Offset int
	// Viewer, when set, restricts playlists to the public ones and those
	// Viewer owns (Entry.Owner); without it every playlist matches (the
	// device's own index).
	Viewer string
}

// Hit is one ranked result.
type Hit struct {
	Entry  Entry
	Result search.Result
}

// ranked is how many candidates Search ranks with core/search for a page
// ending at need: the page's candidates by every criterion but
// proximity, and as many again (at least 32) whose proximity may lift
// them into the page; never more than the index's maximum.
func (ix *Index) ranked(need int) int {
	return min(max(2*need, need+32), max(ix.opts.maxCandidates, need))
}

// MaxWords is the most query words a Search ranks (core/search's limit).
const MaxWords = search.MaxQueryWords

// maxTypoBucket caps the typo count of the ranking buckets.
const maxTypoBucket = 7

// cutoff returns the worst (words, typos) bucket that ranking must look
// at for k candidates: buckets better than it hold fewer than k.
func cutoff(b *[MaxWords + 1][maxTypoBucket + 1]int, k int) (minWords, maxTypos int) {
	sum := 0
	for w := MaxWords; w >= 1; w-- {
		for t := 0; t <= maxTypoBucket; t++ {
			sum += b[w][t]
			if sum >= k {
				return w, t
			}
		}
	}
	return 0, maxTypoBucket
}

// visible reports whether the playlist in slot n is public or viewer's;
// the caller holds mu.
func (ix *Index) visible(n uint32, viewer string) bool {
	e := &ix.slots[n].entry
	return e.Public || e.Owner == viewer
}

// Search returns one page of the ranked results of req and how many
// entries matched at least one query word.
func (ix *Index) Search(req Request) ([]Hit, int, error) {
	q := req.Query
	if len(q.Words) == 0 {
		return nil, 0, nil
	}
	var kinds uint8
	for _, k := range req.Kinds {
		kinds |= kindBit(k)
	}
	if kinds == 0 {
		kinds = 0xff
	}
	f := filter{kinds: kinds, viewer: req.Viewer}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	sk, short := shortKeyOf(req, kinds)
	version := ix.version.Load()
	if short {
		if hits, total, ok := ix.cachedShort(sk, version); ok {
			return hits, total, nil
		}
	}
	sc := ix.scratch()
	defer ix.release(sc)
	need := req.Offset + max(req.Limit, 1)
	if req.Limit <= 0 {
		need = ix.opts.maxCandidates
	}
	if len(q.Words) == 1 {
		if hits, total, ok, err := ix.searchOne(sc, f, q, need); err != nil || ok {
			ix.paths[pathOne].Add(1)
			hits = page(hits, req)
			if short && err == nil {
				ix.keepShort(sk, version, hits, total)
			}
			return hits, total, err
		}
	}
	gs, err := ix.gathers(q, f)
	if err != nil {
		return nil, 0, err
	}
	// With more than exactTotal postings, a query of several words first
	// counts, per slot, the words its lookups find (bit sets over the
	// postings, read in order), then ranks only the slots found for the
	// most words m that at least the candidates to rank reach: their state
	// is collected in the full path's order, so it is the full path's, and
	// when at least that many of them match m words, no other slot (found
	// for fewer) can rank before them. Otherwise m is lowered; at m = 1
	// every slot is ranked. The total is then the posting count of the
	// lookups, an upper bound.
	postings := 0
	for _, g := range gs {
		postings += g.postings
	}
	if len(q.Words) > 1 && postings > ix.opts.exactTotal {
		ix.countWords(sc, gs, len(q.Words))
		k := ix.ranked(need)
		for m := len(q.Words); m >= 1; m-- {
			only, n := ix.restrict(sc, m)
			if n < k {
				continue
			}
			if n >= ix.popMin {
				if hits, ok := ix.rankByPop(sc, f, q, gs, only, n, m, need); ok {
					ix.paths[pathPop].Add(1)
					return page(hits, req), postings, nil
				}
			}
			if m == 1 {
				break // the full path below
			}
			for _, g := range gs {
				ix.collect(sc, f, g, only, n)
			}
			if hits, ok := ix.rank(sc, q, need, m); ok {
				ix.paths[pathFewer].Add(1)
				return page(hits, req), postings, nil
			}
			sc.next()
			sc.touched = sc.touched[:0]
		}
	}
	for _, g := range gs {
		ix.collect(sc, f, g, nil, 0)
	}
	// Every touched slot is of a requested kind, alive and visible.
	hits, _ := ix.rank(sc, q, need, 0)
	ix.paths[pathFull].Add(1)
	hits = page(hits, req)
	if short {
		ix.keepShort(sk, version, hits, len(sc.touched))
	}
	return hits, len(sc.touched), nil
}

// popMinDefault is Index.popMin's default: below it, collecting the slots
// found for every word is cheap enough.
const popMinDefault = 4096

// rankByPop reads at most popSparseMax postings of the terms not kept as
// bit sets, and keeps at most popMapMax of them (those of the slots it
// ranks) in a map; more leave the query to collect.
const (
	popSparseMax = 1 << 16
	popMapMax    = 4096
)

// rankByPop ranks the slots in only (inOnly of them, counted for at least
// m words of q) as rank would after collecting them all, without
// touching them all: it takes the slots counted for more words first,
// then the others most popular first (byPop; the slots
// added since it was sorted before them), computes each one's state as
// collect would (common terms from their bit sets, the others' few
// postings from a map), and stops once no slot left can enter the
// candidates — a bound with m words, the fewest typos and attribute sum
// any slot matching m words can have (the best lookups covering m of the
// query's words), the most exact words and the next slot's popularity no
// longer ranks before the heap's worst.
// ok is false when the query is better left to collect: too many postings
// of uncommon terms, no early stop within a quarter of the slots (at least 4k), or
// fewer matches than need.
func (ix *Index) rankByPop(sc *scratch, f filter, q search.Query, gs []gather, only []uint64, inOnly, m int, need int) (hits []Hit, ok bool) {
	type lookup struct {
		g     gather
		dense []*termBits
		words uint8
	}
	ls := make([]lookup, len(gs))
	var sparse map[uint64]uint32
	sparseN := 0
	// Per lookup, the fewest typos and attribute sum of its terms, for
	// the bound; a lookup without terms covers nothing.
	const none = math.MaxInt32
	minTypos, minAttr := make([]int, len(gs)), make([]int, len(gs))
	exactMax := 0
	for gi, g := range gs {
		l := &ls[gi]
		l.g, l.words = g, uint8(bits.OnesCount16(g.bits))
		l.dense = make([]*termBits, len(g.terms))
		minTypos[gi], minAttr[gi] = none, none
		exact := false
		for ti, tt := range g.terms {
			tl := ix.list(tt)
			if len(tl.p) == 0 {
				continue
			}
			minTypos[gi] = min(minTypos[gi], tt.typos)
			exact = exact || tt.exact && l.words == 1
			a := 0
			if tl.sorted == len(tl.p) {
				a = int(tl.p[0] & attrMask) // sorted by attribute first
			}
			minAttr[gi] = min(minAttr[gi], a*int(l.words))
			if tl.dense != nil {
				l.dense[ti] = tl.dense
				continue
			}
			if sparseN += len(tl.p); sparseN > popSparseMax {
				return nil, false
			}
			if sparse == nil {
				sparse = make(map[uint64]uint32, min(sparseN, popMapMax))
			}
			for _, v := range tl.p {
				n := v >> slotShift
				if only[n>>6]&(1<<(n&63)) == 0 {
					continue
				}
				key := uint64(gi)<<32 | uint64(n)
				if _, seen := sparse[key]; !seen {
					if len(sparse) == popMapMax {
						return nil, false
					}
					sparse[key] = uint32(ti)<<attrBits | v&attrMask
				}
			}
		}
		if exact {
			exactMax++
		}
	}
	// The cheapest lookups covering m of the words, each word once
	// (collect skips a lookup whose words are already matched), for typos
	// and for the attribute sum apart: lower bounds of every candidate's
	// matching m words. best[i][c] covers c of the first i words.
	nw := len(q.Words)
	tile := func(cost []int) int {
		best := make([][MaxWords + 1]int, nw+1)
		for i := range best {
			for c := range best[i] {
				best[i][c] = none
			}
		}
		best[0][0] = 0
		for i := range nw {
			for c := 0; c <= i; c++ {
				if best[i][c] == none {
					continue
				}
				best[i+1][c] = min(best[i+1][c], best[i][c]) // word i not matched
				for gi, g := range gs {
					if bits.TrailingZeros16(g.bits) != i || cost[gi] == none {
						continue
					}
					w := bits.OnesCount16(g.bits)
					best[i+w][c+w] = min(best[i+w][c+w], best[i][c]+cost[gi])
				}
			}
		}
		return best[nw][m]
	}
	lbTypos, lbAttr := tile(minTypos), tile(minAttr)
	if lbTypos == none || lbAttr == none {
		return nil, false
	}
	playlist := kindBit(KindPlaylist)
	// state computes slot n's candidate as collect would: each lookup in
	// order adds its first term (in its terms' order) the slot has,
	// unless one of its words is matched already.
	state := func(n uint32) (cand, bool) {
		kb := uint8(1) << ix.kinds[n]
		if kb&f.kinds == 0 || ix.dead[n>>6]&(1<<(n&63)) != 0 || kb == playlist && f.viewer != "" && !ix.visible(n, f.viewer) {
			return cand{}, false
		}
		var mask uint16
		c := cand{n: n}
		b, bit := n>>6, uint64(1)<<(n&63)
		for gi := range ls {
			l := &ls[gi]
			if mask&l.g.bits != 0 {
				continue
			}
			best, attr := len(l.dense), uint8(0)
			if sparse != nil {
				if v, ok := sparse[uint64(gi)<<32|uint64(n)]; ok {
					best, attr = int(v>>attrBits), uint8(v&attrMask)
				}
			}
			for ti, tb := range l.dense[:best] {
				if tb != nil && int(b) < len(tb.has) && tb.has[b]&bit != 0 {
					best, attr = ti, uint8(tb.a0[b]&bit>>(n&63)|tb.a1[b]&bit>>(n&63)<<1)
					break
				}
			}
			if best == len(l.dense) {
				continue
			}
			tt := l.g.terms[best]
			mask |= l.g.bits
			c.typos = satAdd(c.typos, uint8(min(tt.typos, 255)))
			c.attr = satAdd(c.attr, attr*l.words)
			if l.words == 1 && tt.exact {
				c.exact++
			}
		}
		c.words = uint8(bits.OnesCount16(mask))
		c.pop = ix.pops[n]
		return c, int(c.words) >= m
	}
	// counted reports whether slot n was counted for more than m words
	// (those are taken first).
	counted := func(n uint32) bool {
		return m < nw && sc.atLeast(int(n>>6), m+1)&(1<<(n&63)) != 0
	}
	k := ix.ranked(need)
	top := topK{h: sc.heap[:0], k: k}
	defer func() { sc.heap = top.h }()
	if m < nw {
		for b, w := range only {
			for x := w & sc.atLeast(b, m+1); x != 0; x &= x - 1 {
				if c, ok := state(uint32(b<<6 | bits.TrailingZeros64(x))); ok {
					top.offer(c)
				}
			}
		}
	}
	for n := uint32(ix.popSorted); int(n) < len(ix.slots); n++ {
		if only[n>>6]&(1<<(n&63)) != 0 && !counted(n) {
			if c, ok := state(n); ok {
				top.offer(c)
			}
		}
	}
	bound := cand{words: uint8(m), typos: uint8(min(lbTypos, 255)), attr: uint8(min(lbAttr, 255)), exact: uint8(min(exactMax, m))}
	budget := max(inOnly/4, 4*k)
	stopped := false
	for _, n := range ix.byPop {
		if only[n>>6]&(1<<(n&63)) == 0 || counted(n) {
			continue
		}
		if len(top.h) == k {
			bound.n, bound.pop = n, ix.pops[n]
			if !bound.better(top.h[0]) {
				stopped = true
				break
			}
		}
		if budget--; budget < 0 {
			return nil, false
		}
		if c, ok := state(n); ok {
			top.offer(c)
		}
	}
	if !stopped && len(top.h) < k {
		return nil, false
	}
	for _, c := range top.h {
		e := &ix.slots[c.n].entry
		if r, ok := search.Match(q, e.Document()); ok {
			hits = append(hits, Hit{Entry: *e, Result: r})
		}
	}
	return hits, len(hits) >= need
}

// rank pre-ranks the touched slots and matches the best with
// core/search until need match. With minWords above 0 (the touched slots
// are those found for at least minWords words), it gives up (ok false)
// when that would take candidates matching fewer words.
func (ix *Index) rank(sc *scratch, q search.Query, need int, minWords int) (hits []Hit, ok bool) {
	// Count the candidates per (words, typos) bucket, noting each one's
	// pre-rank key in order (sequential writes), then pre-rank only the
	// buckets that can reach the page from the keys: the slot state is
	// read once per candidate, and the popularity (a cache miss each) only
	// for candidates that can enter the heap.
	var buckets [MaxWords + 1][maxTypoBucket + 1]int
	sc.keys = slices.Grow(sc.keys[:0], len(sc.touched))[:len(sc.touched)]
	for i, n := range sc.touched {
		st := &sc.st[n]
		w := bits.OnesCount16(st.mask)
		buckets[w][min(st.typos, maxTypoBucket)]++
		sc.keys[i] = uint32(w)<<24 | uint32(st.typos)<<16 | uint32(st.attr)<<8 | uint32(st.exact)
	}
	all := 0
	for w := max(minWords, 1); w <= MaxWords; w++ {
		for _, c := range buckets[w] {
			all += c
		}
	}
	restricted := minWords > 0
	k := ix.ranked(need)
	oneWord := len(q.Words) == 1
	for {
		if restricted && k > all {
			return nil, false
		}
		minWords, maxTypos := cutoff(&buckets, k)
		top := topK{h: sc.heap[:0], k: k}
		for i, key := range sc.keys {
			// same at best until the slot can enter the heap
			c := cand{sc.touched[i], uint8(key >> 24), uint8(key >> 16), uint8(key >> 8), b2u8(oneWord), uint8(key), 0}
			if int(c.words) < minWords || int(c.words) == minWords && int(min(c.typos, maxTypoBucket)) > maxTypos {
				continue // cannot reach the page
			}
			if len(top.h) == k && top.h[0].aheadOf(c) {
				continue // its field lengths and popularity (cache misses) cannot help it
			}
			if oneWord {
				c.same = ix.sameLength(c.n, c.attr)
			}
			c.pop = ix.pops[c.n]
			top.offer(c)
		}
		sc.heap = top.h
		hits = hits[:0]
		for _, c := range top.h {
			e := &ix.slots[c.n].entry
			if r, ok := search.Match(q, e.Document()); ok {
				hits = append(hits, Hit{Entry: *e, Result: r})
			}
		}
		// A candidate the index found through a dictionary term may
		// still fail core/search's match (rare: split words with typos);
		// when too few matched, rank more.
		if len(hits) >= need || !restricted && (len(top.h) < k || k >= len(sc.touched)) {
			return hits, true
		}
		k *= 4
	}
}

// page sorts hits in ranking order and returns req's page of them.
func page(hits []Hit, req Request) []Hit {
	slices.SortFunc(hits, func(a, b Hit) int {
		if search.Less(a.Result, b.Result) {
			return -1
		}
		if search.Less(b.Result, a.Result) {
			return 1
		}
		return 0
	})
	if req.Offset >= len(hits) {
		return nil
	}
	hits = hits[req.Offset:]
	if req.Limit > 0 && len(hits) > req.Limit {
		hits = hits[:req.Limit]
	}
	return hits
}

// searchOne ranks a one-word query whose terms have more than
// Options.exactTotal postings without touching them all: each term's
// postings are read in ranking order (termList.sorted) and left as soon
// as the next one cannot enter the candidates. A slot matching several
// terms may be offered once per term; the candidates are the best (slot,
// term) pairs, so their distinct slots are the best slots by their best
// term, exactly (one word has no proximity; typos and exactness are the
// term's). The total it returns is the terms' posting count, an upper
// bound of the entries matched. ok is false when the query is left to
// the full path.
func (ix *Index) searchOne(sc *scratch, f filter, q search.Query, need int) (hits []Hit, total int, ok bool, err error) {
	w := q.Words[0].Runes
	prefix := q.LastIsPrefix || len(w) == search.MaxWordRunes
	terms, err := ix.wordTerms(w, search.TypoBudget(len(w)), prefix, true)
	if err != nil {
		return nil, 0, false, err
	}
	lists := make([]termList, len(terms))
	for i, tt := range terms {
		d := &ix.words
		if tt.pair {
			d = &ix.pairs
		}
		lists[i] = d.postings[tt.term]
		total += f.counted(lists[i])
	}
	if total <= ix.opts.exactTotal {
		return nil, 0, false, nil
	}
	playlist := kindBit(KindPlaylist)
	k := ix.ranked(need)
	for {
		top := topK{h: sc.heap[:0], k: k}
		for i, tt := range terms {
			c := cand{words: 1, typos: uint8(min(tt.typos, 255))}
			if tt.exact {
				c.exact = 1
			}
			l := lists[i]
			for j := 0; j < len(l.p); j++ {
				v := l.p[j]
				c.n, c.attr = v>>slotShift, uint8(v&attrMask)
				c.pop, c.same = ix.pops[c.n], ix.sameLength(c.n, c.attr)
				if j < l.sorted && len(top.h) == k && !c.better(top.h[0]) {
					j = l.sorted - 1 // the rest of the sorted part ranks lower
					continue
				}
				kb := uint8(1) << (v >> kindShift & 3)
				if kb&f.kinds == 0 || ix.dead[c.n>>6]&(1<<(c.n&63)) != 0 ||
					kb == playlist && f.viewer != "" && !ix.visible(c.n, f.viewer) {
					continue
				}
				top.offer(c)
			}
		}
		sc.heap = top.h
		hits = hits[:0]
		epoch := sc.epoch
		for _, c := range top.h {
			if st := &sc.st[c.n]; st.epoch != epoch {
				st.epoch = epoch
				e := &ix.slots[c.n].entry
				if r, ok := search.Match(q, e.Document()); ok {
					hits = append(hits, Hit{Entry: *e, Result: r})
				}
			}
		}
		if len(hits) >= need || len(top.h) < k {
			return hits, total, true, nil
		}
		k *= 4
		sc.next()
	}
}

// JSON returns h as a result of GET /v1/search: the entry's display
// fields with the highlights naming their field (Entry.Document's order:
// title, artists, album).
func (h Hit) JSON() api.SearchResult {
	e := h.Entry
	r := api.SearchResult{Kind: string(e.Kind), ID: e.ID, Title: e.Title, Artists: e.Artists, Album: e.Album, Audio: e.Audio,
		Highlights: make([]api.SearchHighlight, 0, len(h.Result.Highlights))}
	for _, hl := range h.Result.Highlights {
		out := api.SearchHighlight{Start: hl.Start, End: hl.End}
		switch {
		case hl.Field == 0:
			out.Field = "title"
		case hl.Field <= len(e.Artists):
			out.Field, out.Index = "artists", hl.Field-1
		default:
			out.Field = "album"
		}
		r.Highlights = append(r.Highlights, out)
	}
	return r
}
