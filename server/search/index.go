package search

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"sort"
	"sync"

	"github.com/blevesearch/vellum"
	"github.com/blevesearch/vellum/levenshtein"

	"github.com/segue-fm/segue/core/search"
	"github.com/segue-fm/segue/internal/cborx"
	"github.com/segue-fm/segue/server/metadata"
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

func (e Entry) key() string { return string(e.Kind) + ":" + e.ID }

// storeKey is where e is persisted.
func (e Entry) storeKey() []byte { return store.Key("search", "entry", e.key()) }

// write returns the store write that persists e.
func (e Entry) write() (metadata.KV, error) {
	if err := e.Check(); err != nil {
		return metadata.KV{}, err
	}
	v, err := cborx.Marshal(e)
	if err != nil {
		return metadata.KV{}, fmt.Errorf("search: encode entry: %w", err)
	}
	return metadata.KV{Key: e.storeKey(), Value: v}, nil
}

// Errors of the index.
var (
	ErrInvalidEntry = errors.New("search: invalid entry")
)

// Options configures an Index. Start from DefaultOptions.
type Options struct {
	freshLimit    int
	maxCandidates int
}

// DefaultOptions returns the defaults: the FST is rebuilt when 1024 new
// terms have arrived since the last build, and at most 200 candidates are
// ranked per query.
func DefaultOptions() Options { return Options{freshLimit: 1024, maxCandidates: 200} }

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

type slot struct {
	entry Entry
	doc   search.Document
	alive bool
}

// Index is a persisted, incrementally updated search index. It is safe for
// concurrent use.
type Index struct {
	opts Options
	st   store.Store

	mu       sync.RWMutex
	slots    []slot
	byKey    map[string]uint32
	postings map[string][]uint32
	fst      *vellum.FST
	fresh    map[string]struct{}
	dead     int

	lev [3]*levenshtein.LevenshteinAutomatonBuilder
}

// OpenIndex loads the entries stored in st and builds the index over them. The
// index writes its entries to st; it does not close st.
func OpenIndex(ctx context.Context, st store.Store, opts Options) (*Index, error) {
	ix := &Index{opts: opts, st: st, byKey: map[string]uint32{}, postings: map[string][]uint32{}, fresh: map[string]struct{}{}}
	for d := 1; d <= 2; d++ {
		b, err := levenshtein.NewLevenshteinAutomatonBuilder(uint8(d), true)
		if err != nil {
			return nil, fmt.Errorf("search: build levenshtein automaton builder: %w", err)
		}
		ix.lev[d] = b
	}
	err := st.Iterate(ctx, entryPrefix, false, func(key, value []byte) error {
		var e Entry
		if err := entryDec.Unmarshal(value, &e); err != nil {
			return fmt.Errorf("search: decode entry %q: %w", key, err)
		}
		ix.add(e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := ix.rebuild(); err != nil {
		return nil, err
	}
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
	err := ix.st.Update(ctx, func(tx store.Txn) error {
		for _, e := range entries {
			v, err := cborx.Marshal(e)
			if err != nil {
				return fmt.Errorf("search: encode entry: %w", err)
			}
			if err := tx.Set(store.Key("search", "entry", e.key()), v); err != nil {
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
		ix.remove(e.key())
		ix.add(e)
	}
	return ix.maybeRebuild()
}

// apply replaces entries already persisted in memory only, in batches
// of applyBatch so that queries are not held off for long.
func (ix *Index) apply(entries []Entry) error {
	for len(entries) > 0 {
		n := min(len(entries), applyBatch)
		ix.mu.Lock()
		for _, e := range entries[:n] {
			ix.remove(e.key())
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

// changed returns the entries of batch not indexed exactly as they are.
func (ix *Index) changed(batch []Entry) []Entry {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return slices.DeleteFunc(batch, func(e Entry) bool {
		n, ok := ix.byKey[e.key()]
		if !ok {
			return false
		}
		cur := ix.slots[n].entry
		return cur.Title == e.Title && cur.Album == e.Album && cur.Popularity == e.Popularity &&
			cur.Audio == e.Audio && slices.Equal(cur.Artists, e.Artists)
	})
}

// Len returns the number of entries indexed.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.byKey)
}

// terms returns the dictionary terms of a document: each folded word and
// each pair of adjacent words written together (so "daytripper" finds "Day
// Tripper").
func terms(d search.Document) []string {
	var out []string
	for _, f := range d.Fields {
		toks := search.Tokenize(f.Text)
		for i, t := range toks {
			out = append(out, t.String())
			if i+1 < len(toks) {
				out = append(out, t.String()+toks[i+1].String())
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// add indexes e in a new slot; the caller holds mu (or owns ix).
func (ix *Index) add(e Entry) {
	n := uint32(len(ix.slots))
	doc := e.Document()
	ix.slots = append(ix.slots, slot{entry: e, doc: doc, alive: true})
	ix.byKey[e.key()] = n
	for _, t := range terms(doc) {
		p, ok := ix.postings[t]
		if !ok {
			ix.fresh[t] = struct{}{}
		}
		ix.postings[t] = append(p, n)
	}
}

// remove marks the slot of key dead; the caller holds mu.
func (ix *Index) remove(key string) {
	n, ok := ix.byKey[key]
	if !ok {
		return
	}
	delete(ix.byKey, key)
	ix.slots[n].alive = false
	ix.slots[n].doc = search.Document{}
	ix.dead++
}

func (ix *Index) maybeRebuild() error {
	if len(ix.fresh) <= ix.opts.freshLimit && ix.dead <= len(ix.slots)/2 {
		return nil
	}
	return ix.rebuild()
}

// rebuild drops dead slots from the postings and builds the FST over all
// terms; the caller holds mu (or owns ix).
func (ix *Index) rebuild() error {
	keys := make([]string, 0, len(ix.postings))
	for t, p := range ix.postings {
		if ix.dead > 0 {
			p = slices.DeleteFunc(p, func(n uint32) bool { return !ix.slots[n].alive })
			if len(p) == 0 {
				delete(ix.postings, t)
				continue
			}
			ix.postings[t] = p
		}
		keys = append(keys, t)
	}
	sort.Strings(keys)
	var buf bytes.Buffer
	b, err := vellum.New(&buf, nil)
	if err != nil {
		return fmt.Errorf("search: new fst: %w", err)
	}
	for _, k := range keys {
		if err := b.Insert([]byte(k), 0); err != nil {
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
	ix.fst = f
	clear(ix.fresh)
	return nil
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

// matchTerms calls fn with each dictionary term within word's typo budget.
// The caller holds mu.
func (ix *Index) matchTerms(word []rune, prefix bool, fn func(term string)) error {
	w := string(word)
	budget := search.TypoBudget(len(word))
	aut, err := ix.automaton(w, budget, prefix)
	if err != nil {
		return err
	}
	var it *vellum.FSTIterator
	switch {
	case aut != nil:
		it, err = ix.fst.Search(aut, nil, nil)
	case prefix:
		it, err = ix.fst.Iterator([]byte(w), store.PrefixEnd([]byte(w)))
	default:
		if ok, gerr := ix.fst.Contains([]byte(w)); gerr != nil {
			return fmt.Errorf("search: look up term: %w", gerr)
		} else if ok {
			fn(w)
		}
		err = vellum.ErrIteratorDone
	}
	for err == nil {
		k, _ := it.Current()
		fn(string(k))
		err = it.Next()
	}
	if !errors.Is(err, vellum.ErrIteratorDone) {
		return fmt.Errorf("search: iterate terms: %w", err)
	}
	for t := range ix.fresh {
		tb := []byte(t)
		switch {
		case aut != nil:
			if vellum.AutomatonContains(aut, tb) {
				fn(t)
			}
		case prefix:
			if bytes.HasPrefix(tb, []byte(w)) {
				fn(t)
			}
		case t == w:
			fn(t)
		}
	}
	return nil
}

// scratch holds per-query candidate state indexed by slot: mask has bit i
// set when the slot has a term matching query word i, typos sums the
// fewest typos of each matched word; touched lists the slots set.
type scratch struct {
	mask    []uint32
	typos   []uint8
	exact   []uint8
	touched []uint32
	terms   []termTypos
}

type termTypos struct {
	term  string
	typos int
	exact bool
}

var scratchPool sync.Pool

// scratch returns a cleared scratch sized for the slots; the caller holds
// mu.
func (ix *Index) scratch() *scratch {
	sc, _ := scratchPool.Get().(*scratch)
	if sc == nil {
		sc = &scratch{}
	}
	if len(sc.mask) < len(ix.slots) {
		sc.mask = make([]uint32, len(ix.slots))
		sc.typos = make([]uint8, len(ix.slots))
		sc.exact = make([]uint8, len(ix.slots))
	}
	return sc
}

func (ix *Index) release(sc *scratch) {
	for _, n := range sc.touched {
		sc.mask[n], sc.typos[n], sc.exact[n] = 0, 0, 0
	}
	sc.touched, sc.terms = sc.touched[:0], sc.terms[:0]
	scratchPool.Put(sc)
}

// collect marks the slots having a term within word's typo budget with
// bitsSet, adding the fewest typos of the word to each slot once.
func (ix *Index) collect(sc *scratch, word []rune, prefix bool, bitsSet uint32) error {
	sc.terms = sc.terms[:0]
	err := ix.matchTerms(word, prefix, func(t string) {
		typos, _ := search.WordTypos(word, []rune(t), prefix)
		sc.terms = append(sc.terms, termTypos{t, typos, bitsSet&(bitsSet-1) == 0 && t == string(word)})
	})
	if err != nil {
		return err
	}
	// The exact term first, then by typos, so each slot gets its best.
	slices.SortFunc(sc.terms, func(a, b termTypos) int {
		if a.exact != b.exact {
			if a.exact {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.typos, b.typos)
	})
	for _, tt := range sc.terms {
		for _, n := range ix.postings[tt.term] {
			m := sc.mask[n]
			if m&bitsSet != 0 {
				continue
			}
			if m == 0 {
				sc.touched = append(sc.touched, n)
			}
			sc.mask[n] = m | bitsSet
			sc.typos[n] = uint8(min(int(sc.typos[n])+tt.typos, 255))
			if tt.exact {
				sc.exact[n]++
			}
		}
	}
	return nil
}

// cand is a candidate slot with what is known before matching.
type cand struct {
	n     uint32
	words int
	typos int
	exact int
	pop   float64
}

// better orders candidates by the ranking criteria known before matching:
// words matched, typos, words matched exactly, then popularity (and slot
// for a stable order).
func (a cand) better(b cand) bool {
	if a.words != b.words {
		return a.words > b.words
	}
	if a.typos != b.typos {
		return a.typos < b.typos
	}
	if a.exact != b.exact {
		return a.exact > b.exact
	}
	if a.pop != b.pop {
		return a.pop > b.pop
	}
	return a.n < b.n
}

// bestCandidates returns the k best of cands (k < len(cands)), in no
// particular order, keeping a bounded min-heap instead of sorting them
// all (a frequent word has tens of thousands).
func bestCandidates(cands []cand, k int) []cand {
	h := slices.Clone(cands[:k])
	// worst-at-root heap: parent is worse than its children.
	down := func(i int) {
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
	for i := k/2 - 1; i >= 0; i-- {
		down(i)
	}
	for _, c := range cands[k:] {
		if c.better(h[0]) {
			h[0] = c
			down(0)
		}
	}
	return h
}

// Request is a search request.
type Request struct {
	Query search.Query
	// Kinds limits the result to these kinds; empty means all.
	Kinds []Kind
	// Limit and Offset page through the ranked results.
	Limit, Offset int
}

// Hit is one ranked result.
type Hit struct {
	Entry  Entry
	Result search.Result
}

// Search returns one page of the ranked results of req and how many
// candidates were ranked in all.
func (ix *Index) Search(req Request) ([]Hit, int, error) {
	q := req.Query
	if len(q.Words) == 0 {
		return nil, 0, nil
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	sc := ix.scratch()
	defer ix.release(sc)
	last := len(q.Words) - 1
	for i, w := range q.Words {
		prefix := q.LastIsPrefix && i == last || len(w.Runes) == search.MaxWordRunes
		if err := ix.collect(sc, w.Runes, prefix, 1<<i); err != nil {
			return nil, 0, err
		}
		if i < last {
			cat := append(slices.Clone(w.Runes), q.Words[i+1].Runes...)
			if err := ix.collect(sc, cat, q.LastIsPrefix && i+1 == last, 3<<i); err != nil {
				return nil, 0, err
			}
		}
	}
	cands := make([]cand, 0, len(sc.touched))
	for _, n := range sc.touched {
		s := &ix.slots[n]
		if !s.alive || (len(req.Kinds) > 0 && !slices.Contains(req.Kinds, s.entry.Kind)) {
			continue
		}
		cands = append(cands, cand{n, bits.OnesCount32(sc.mask[n]), int(sc.typos[n]), int(sc.exact[n]), s.entry.Popularity})
	}
	if len(cands) > ix.opts.maxCandidates {
		cands = bestCandidates(cands, ix.opts.maxCandidates)
	}
	hits := make([]Hit, 0, len(cands))
	for _, c := range cands {
		s := &ix.slots[c.n]
		if r, ok := search.Match(q, s.doc); ok {
			hits = append(hits, Hit{Entry: s.entry, Result: r})
		}
	}
	slices.SortFunc(hits, func(a, b Hit) int {
		if search.Less(a.Result, b.Result) {
			return -1
		}
		if search.Less(b.Result, a.Result) {
			return 1
		}
		return 0
	})
	total := len(hits)
	if req.Offset >= len(hits) {
		return nil, total, nil
	}
	hits = hits[req.Offset:]
	if req.Limit > 0 && len(hits) > req.Limit {
		hits = hits[:req.Limit]
	}
	return hits, total, nil
}
