package recs

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player/shuffle"
)

// Item is one catalog track as the playlist builders see it. Items are
// addressed by their index in Universe.Items, which is also the column
// of the play matrix the factors were trained on.
type Item struct {
	Track model.TrackID
	// Artist is the track's primary artist.
	Artist model.ArtistID
	// Features are the track's audio features; nil when unmeasured.
	Features *model.AudioFeatures
	// Released is the track's (or its album's) release day, or the
	// instant its embargo ended when that is all the catalog knows; zero
	// when unknown or known only to the year.
	Released time.Time
}

// Universe is what every listener's playlists are built from: the
// catalog, how often each item was played overall, and the trained item
// factors. Build it once per training run; it is read-only afterwards
// and safe for concurrent use.
type Universe struct {
	Items []Item
	// Plays[i] is item i's total plays over every listener (0 for a
	// track no one has played, such as a new release).
	Plays []float64
	// Factors are the ALS item factors (items × k); nil when there were
	// no plays to train on. Rows of unplayed items stay near their
	// random initialisation and are not used.
	Factors *mat.Dense

	// listeners[i] is how many distinct listeners played item i (nil:
	// not known). Similar uses an item's factors only when it has at
	// least MinSimilarListeners (nil: none has), and the popularity that
	// stands in for a listener's missing factors ranks by it (nil: by
	// Plays).
	listeners []int
	artist    []int // item → dense artist index
}

// MinSimilarListeners is how many distinct listeners an item needs before
// its play factors count in Similar. Similar's answer is the same for
// every caller, and the factors of an item few people played are shaped by
// their histories alone: the items "similar" to a track only one user
// played were that user's other plays.
const MinSimilarListeners = 5

// NewUniverse checks the slices' lengths and indexes artists. listeners
// holds each item's number of distinct listeners, or is nil when they are
// not known: then Similar uses no play factors and popularity is total
// plays.
func NewUniverse(items []Item, plays []float64, listeners []int, factors *mat.Dense) (*Universe, error) {
	if len(plays) != len(items) {
		return nil, fmt.Errorf("%w: %d play totals for %d items", ErrInvalidOptions, len(plays), len(items))
	}
	if listeners != nil && len(listeners) != len(items) {
		return nil, fmt.Errorf("%w: %d listener counts for %d items", ErrInvalidOptions, len(listeners), len(items))
	}
	if factors != nil {
		if r, _ := factors.Dims(); r != len(items) {
			return nil, fmt.Errorf("%w: %d factor rows for %d items", ErrInvalidOptions, r, len(items))
		}
	}
	u := &Universe{Items: items, Plays: plays, Factors: factors, listeners: listeners, artist: make([]int, len(items))}
	ids := map[model.ArtistID]int{}
	for i, it := range items {
		a, ok := ids[it.Artist]
		if !ok {
			a = len(ids)
			ids[it.Artist] = a
		}
		u.artist[i] = a
	}
	return u, nil
}

// Listener is one listener's input to the builders.
type Listener struct {
	// Plays maps item index → the listener's play count (> 0).
	Plays map[int]float64
	// Factors is the listener's ALS user factors; nil when the listener
	// was not in the training matrix (no plays yet).
	Factors []float64
	// Followed are the artists the listener follows.
	Followed []model.ArtistID
	// Known are items the listener already has without a play in the
	// history (saved tracks, tracks of saved albums): Discover Weekly
	// leaves them out like played ones.
	Known []int
}

// played returns the listener's played items sorted ascending.
func (l Listener) played() []int {
	out := make([]int, 0, len(l.Plays))
	for i, n := range l.Plays {
		if n > 0 {
			out = append(out, i)
		}
	}
	slices.Sort(out)
	return out
}

// cfScores returns the listener's collaborative-filtering scores for
// every item: Y·x when both factors exist, otherwise popularity, with
// unplayed items at 0.
func (u *Universe) cfScores(l Listener) []float64 {
	if u.Factors == nil || l.Factors == nil {
		return u.popularity()
	}
	_, k := u.Factors.Dims()
	if len(l.Factors) != k {
		return u.popularity()
	}
	s := make([]float64, len(u.Items))
	for i := range s {
		if u.Plays[i] == 0 {
			continue // an untrained row is noise
		}
		s[i] = floats.Dot(u.Factors.RawRowView(i), l.Factors)
	}
	return s
}

// popularity scores every item by its distinct listeners, ties broken by
// total plays (each item's plays over 1 + all plays, less than one
// listener), or by total plays alone without listener counts. Not by plays
// first: one account streaming one track all month would otherwise put it
// first for every listener without factors of their own.
func (u *Universe) popularity() []float64 {
	s := slices.Clone(u.Plays)
	if u.listeners == nil {
		return s
	}
	all := 1.0
	for _, p := range u.Plays {
		all += p
	}
	for i := range s {
		s[i] = float64(u.listeners[i]) + u.Plays[i]/all
	}
	return s
}

// tasteTracks returns up to n of the listener's most played items that
// have features, most played first.
func (u *Universe) tasteTracks(l Listener, n int) []int {
	out := make([]int, 0, len(l.Plays))
	for i, c := range l.Plays {
		if c > 0 && u.Items[i].Features != nil {
			out = append(out, i)
		}
	}
	slices.SortFunc(out, func(a, b int) int {
		if c := cmp.Compare(l.Plays[b], l.Plays[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	return out[:min(n, len(out))]
}

// DiscoverOptions shape Discover Weekly. Start from DefaultDiscoverOptions.
type DiscoverOptions struct {
	// Size is the number of tracks (default 30).
	Size int
	// PerArtist caps tracks per artist (default 2).
	PerArtist int
	// FreshShare is the share of slots reserved for audio-feature
	// neighbours among tracks no one has played yet (new releases), which
	// collaborative filtering cannot score (default 1/3); unused slots go
	// back to CF.
	FreshShare float64
	// TasteTracks is how many of the listener's most played tracks the
	// audio-feature stage measures distances to (default 20).
	TasteTracks int
}

// DefaultDiscoverOptions returns the defaults documented on each field.
func DefaultDiscoverOptions() DiscoverOptions {
	return DiscoverOptions{Size: 30, PerArtist: 2, FreshShare: 1.0 / 3, TasteTracks: 20}
}

// DiscoverWeekly picks the listener's Discover Weekly: Size items the
// listener has never played and does not know (Listener.Known), at most
// PerArtist per artist, mixing the top collaborative-filtering
// candidates with the unplayed-by-anyone items closest in audio features
// to the listener's most played tracks (so new releases with no plays
// appear). Fresh picks are spread through
// the list (one after every two CF picks while both last). Deterministic.
func (u *Universe) DiscoverWeekly(l Listener, o DiscoverOptions) ([]int, error) {
	if o.Size < 0 || o.PerArtist < 1 || o.FreshShare < 0 || o.FreshShare > 1 || o.TasteTracks < 1 {
		return nil, fmt.Errorf("%w: discover weekly %+v", ErrInvalidOptions, o)
	}
	exclude := l.played()
	for _, i := range l.Known {
		if i >= 0 && i < len(u.Items) {
			exclude = append(exclude, i)
		}
	}
	slices.Sort(exclude)
	exclude = slices.Compact(exclude)
	taste := u.tasteTracks(l, o.TasteTracks)
	// Feature vectors are mapped once per track, not once per pair
	// (shuffle.FeatureDistance would map both sides every time).
	tasteVecs := make([][shuffle.FeatureDims]float64, len(taste))
	for j, t := range taste {
		tasteVecs[j] = shuffle.FeatureVector(*u.Items[t].Features)
	}
	fresh := make([]float64, len(u.Items))
	freshN := 0
	for i, it := range u.Items {
		fresh[i] = math.Inf(-1)
		if u.Plays[i] > 0 || it.Features == nil || len(taste) == 0 {
			continue
		}
		v := shuffle.FeatureVector(*it.Features)
		d := math.Inf(1)
		for j := range tasteVecs {
			d = math.Min(d, vectorDistance(&v, &tasteVecs[j]))
		}
		fresh[i] = -d
		freshN++
	}
	cf := u.cfScores(l)
	for i := range cf {
		if u.Plays[i] == 0 {
			cf[i] = math.Inf(-1) // fresh items are the feature stage's
		}
	}
	per := map[int]int{}
	// pick takes the n best items by scores that are not taken and whose
	// artist is under the cap.
	pick := func(scores []float64, n int, taken map[int]bool) []int {
		return takeRanked(scores, exclude, n, func(i int) bool {
			if taken[i] || per[u.artist[i]] >= o.PerArtist {
				return false
			}
			per[u.artist[i]]++
			taken[i] = true
			return true
		})
	}
	taken := map[int]bool{}
	nFresh := min(freshN, int(math.Round(float64(o.Size)*o.FreshShare)))
	freshPicks := pick(fresh, nFresh, taken)
	cfPicks := pick(cf, o.Size-len(freshPicks), taken)
	if short := o.Size - len(freshPicks) - len(cfPicks); short > 0 {
		freshPicks = append(freshPicks, pick(fresh, short, taken)...)
	}
	out := make([]int, 0, len(cfPicks)+len(freshPicks))
	for len(cfPicks) > 0 || len(freshPicks) > 0 {
		for range 2 {
			if len(cfPicks) > 0 {
				out, cfPicks = append(out, cfPicks[0]), cfPicks[1:]
			}
		}
		if len(freshPicks) > 0 {
			out, freshPicks = append(out, freshPicks[0]), freshPicks[1:]
		}
	}
	return out, nil
}

// vectorDistance is shuffle.FeatureDistance on vectors already mapped by
// shuffle.FeatureVector (the same arithmetic, so the same result).
func vectorDistance(a, b *[shuffle.FeatureDims]float64) float64 {
	var s float64
	for i := range a {
		s += (a[i] - b[i]) * (a[i] - b[i])
	}
	return math.Sqrt(s)
}

// MixOptions shape the Daily Mixes. Start from DefaultMixOptions.
type MixOptions struct {
	// Max is the most mixes (default 6).
	Max int
	// Size is the target length of one mix (default 50).
	Size int
	// NewShare is the share of a mix that the listener has not played
	// (default 0.2).
	NewShare float64
	// TopArtists is how many of the listener's most played artists are
	// clustered (default 30).
	TopArtists int
	// ArtistsPerMix is the fewest artists a mix is made of: k = min(Max,
	// ⌈artists / ArtistsPerMix⌉) clusters (default 3).
	ArtistsPerMix int
	// MaxStep is the largest flow step between neighbours (FlowStep:
	// tempo and energy); tracks that cannot be placed within it are
	// left out (default 0.15).
	MaxStep float64
	// MinFamiliar is the fewest familiar tracks a mix is built on;
	// smaller clusters make no mix (default 5).
	MinFamiliar int
	// Seed seeds k-means++ (default 1).
	Seed uint64
}

// DefaultMixOptions returns the defaults documented on each field.
func DefaultMixOptions() MixOptions {
	return MixOptions{Max: 6, Size: 50, NewShare: 0.2, TopArtists: 30, ArtistsPerMix: 3, MaxStep: 0.15, MinFamiliar: 5, Seed: 1}
}

// FlowStep is the Daily Mix ordering's distance between neighbours: the
// Euclidean distance of the tempo (log scale) and energy coordinates of
// shuffle.FeatureVector. 0.15 is about a 40 % tempo change at equal energy, or an
// RMS change of 0.075 at equal tempo.
func FlowStep(a, b model.AudioFeatures) float64 {
	return flowDistance(flowPoint(a), flowPoint(b))
}

// flowPoint is the (tempo, energy) coordinates FlowStep measures, for
// callers that map each track once.
func flowPoint(f model.AudioFeatures) [2]float64 {
	v := shuffle.FeatureVector(f)
	return [2]float64{v[0], v[2]}
}

// flowDistance is FlowStep between two flowPoints.
func flowDistance(a, b [2]float64) float64 { return math.Hypot(a[0]-b[0], a[1]-b[1]) }

// DailyMixes builds up to Max mixes: the listener's TopArtists most played
// artists are clustered by k-means over their factor vectors (the mean
// of their played tracks' item factors; audio feature vectors when there
// are no factors). The number of clusters is what the history fills:
// k = min(Max, ⌈artists/ArtistsPerMix⌉, ⌊familiar/((1−NewShare)·Size)⌋),
// at least 1, where familiar counts the listener's played tracks (with
// features) of those artists; k then drops further until a seeded
// k-means gives every cluster (1−NewShare)·Size familiar tracks. Each mix
// takes its cluster's most played tracks, (1−NewShare)·Size of them, and
// NewShare·Size unplayed tracks closest to the cluster's centroid that
// can be placed in the flow (at most 2 per artist), ordered by OrderFlow
// so no step exceeds MaxStep; tracks the flow leaves out are replaced by
// the next most played or next closest and the order made again. So a
// listener with enough history gets mixes of Size tracks; a thin one gets
// fewer mixes, and a mix with only f familiar tracks has about
// f/(1−NewShare) tracks. Items without audio features are not used; a
// cluster with fewer than MinFamiliar played tracks makes no mix. Mixes
// come out largest first.
func (u *Universe) DailyMixes(l Listener, o MixOptions) ([][]int, error) {
	if o.Max < 1 || o.Size < 1 || o.NewShare < 0 || o.NewShare > 1 || o.TopArtists < 1 || o.ArtistsPerMix < 1 || o.MaxStep <= 0 || o.MinFamiliar < 1 {
		return nil, fmt.Errorf("%w: daily mixes %+v", ErrInvalidOptions, o)
	}
	// The listener's artists by plays.
	byArtist := map[int]float64{}
	for i, n := range l.Plays {
		if n > 0 && u.Items[i].Features != nil {
			byArtist[u.artist[i]] += n
		}
	}
	artists := make([]int, 0, len(byArtist))
	for a := range byArtist {
		artists = append(artists, a)
	}
	slices.SortFunc(artists, func(a, b int) int {
		if c := cmp.Compare(byArtist[b], byArtist[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	artists = artists[:min(len(artists), o.TopArtists)]
	if len(artists) == 0 {
		return nil, nil
	}
	vec := u.itemVector(l)
	dim := len(vec(0))
	points := make([][]float64, len(artists))
	idx := map[int]int{}
	for j, a := range artists {
		idx[a] = j
		points[j] = make([]float64, dim)
	}
	weight := make([]float64, len(artists))
	fam := make([]int, len(artists)) // familiar tracks per artist
	for i, n := range l.Plays {
		j, ok := idx[u.artist[i]]
		if !ok || n <= 0 || u.Items[i].Features == nil {
			continue
		}
		floats.AddScaled(points[j], n, vec(i))
		weight[j] += n
		fam[j]++
	}
	for j := range points {
		floats.Scale(1/weight[j], points[j])
	}
	// As many clusters as the history fills: a mix wants
	// (1−NewShare)·Size familiar tracks, so a thin history makes fewer,
	// fuller mixes rather than many short ones.
	familiarTotal := 0
	for i, n := range l.Plays {
		if _, ok := idx[u.artist[i]]; ok && n > 0 && u.Items[i].Features != nil {
			familiarTotal++
		}
	}
	wantFamiliar := max(1, int(math.Round(float64(o.Size)*(1-o.NewShare))))
	k := min(o.Max, (len(artists)+o.ArtistsPerMix-1)/o.ArtistsPerMix, max(1, familiarTotal/wantFamiliar))
	assign, centroids := balancedKMeans(points, fam, k, max(o.MinFamiliar, wantFamiliar), o.Seed)
	k = len(centroids)
	played := l.played()
	// Each item's flow coordinates (those FlowStep measures), mapped once
	// rather than for every (item, familiar track) pair of every cluster.
	flow := make([][2]float64, len(u.Items))
	for i, it := range u.Items {
		if it.Features != nil {
			flow[i] = flowPoint(*it.Features)
		}
	}
	mixes := make([][]int, 0, k)
	for c := range k {
		var familiar []int
		for i, n := range l.Plays {
			if j, ok := idx[u.artist[i]]; ok && n > 0 && assign[j] == c && u.Items[i].Features != nil {
				familiar = append(familiar, i)
			}
		}
		if len(familiar) < o.MinFamiliar {
			continue
		}
		slices.SortFunc(familiar, func(a, b int) int {
			if c := cmp.Compare(l.Plays[b], l.Plays[a]); c != 0 {
				return c
			}
			return cmp.Compare(a, b)
		})
		nNew := int(math.Round(float64(o.Size) * o.NewShare))
		nFam := min(len(familiar), o.Size-nNew)
		// Keep the ~NewShare proportion when there are few familiar tracks.
		if want := int(math.Round(float64(nFam) * o.NewShare / (1 - o.NewShare))); o.NewShare < 1 && want < nNew {
			nNew = max(1, want)
		}
		near := make([]float64, len(u.Items))
		for i := range near {
			near[i] = math.Inf(-1)
			if u.Items[i].Features == nil || !slices.ContainsFunc(familiar, func(j int) bool {
				return flowDistance(flow[i], flow[j]) <= o.MaxStep
			}) {
				continue // it could not be placed in the flow
			}
			near[i] = -floats.Distance(vec(i), centroids[c], 2)
		}
		// Spare new tracks replace those the flow leaves out.
		freshPool, err := TopNPerArtist(near, played, u.artist, 3*nNew, 2)
		if err != nil {
			return nil, err
		}
		mixes = append(mixes, fillFlow(u, familiar, freshPool, nFam, nNew, o.MaxStep))
	}
	slices.SortStableFunc(mixes, func(a, b []int) int { return cmp.Compare(len(b), len(a)) })
	return mixes, nil
}

// balancedKMeans clusters the artists' points into at most k clusters,
// each holding at least minTracks of the listener's familiar tracks
// (tracks[j] per artist): from k down, it tries the seeds seed …
// seed+7 and returns the first clustering in which every cluster has
// enough (deterministic); k-means alone may split one taste and merge two others, which
// leaves a mix too short to fill. One cluster is the last resort.
func balancedKMeans(points [][]float64, tracks []int, k, minTracks int, seed uint64) ([]int, [][]float64) {
	for ; k > 1; k-- {
		for s := range uint64(8) {
			assign, centroids := KMeans(points, k, 50, seed+s)
			per := make([]int, len(centroids))
			for j, c := range assign {
				per[c] += tracks[j]
			}
			if slices.Min(per) >= minTracks {
				return assign, centroids
			}
		}
	}
	return KMeans(points, 1, 50, seed)
}

// fillFlow orders nFam tracks of familiar (most played first) and nNew of
// fresh (best first) by OrderFlow; the tracks the flow leaves out are
// replaced by the next ones of their pool and the order is made again
// (at most 4 rounds, while a pool has spares), so a mix stays near its
// size when a few tracks do not fit the tempo/energy flow. The result
// keeps OrderFlow's guarantee: no step exceeds maxStep.
func fillFlow(u *Universe, familiar, fresh []int, nFam, nNew int, maxStep float64) []int {
	fam, fr := familiar[:nFam], fresh[:min(nNew, len(fresh))]
	nextFam, nextFresh := nFam, len(fr)
	var mix []int
	for round := 0; ; round++ {
		all := append(slices.Clone(fam), fr...)
		feats := make([]model.AudioFeatures, len(all))
		for j, i := range all {
			feats[j] = *u.Items[i].Features
		}
		order := OrderFlow(feats, maxStep)
		mix = make([]int, len(order))
		in := make(map[int]bool, len(order))
		for j, p := range order {
			mix[j] = all[p]
			in[all[p]] = true
		}
		if len(order) == len(all) || round == 3 || (nextFam == len(familiar) && nextFresh == len(fresh)) {
			return mix
		}
		keep := func(pool []int, next *int, src []int) []int {
			out := make([]int, 0, len(pool))
			for _, i := range pool {
				if in[i] {
					out = append(out, i)
				} else if *next < len(src) {
					out = append(out, src[*next])
					*next++
				}
			}
			return out
		}
		fam, fr = keep(fam, &nextFam, familiar), keep(fr, &nextFresh, fresh)
	}
}

// itemVector returns the space tracks and artists are clustered in: ALS
// item factors when the universe and listener have them (unplayed items
// fall back to zero vectors there, which puts them far from every
// cluster), otherwise audio feature vectors.
func (u *Universe) itemVector(l Listener) func(i int) []float64 {
	if u.Factors != nil && l.Factors != nil {
		_, k := u.Factors.Dims()
		zero := make([]float64, k)
		return func(i int) []float64 {
			if u.Plays[i] == 0 {
				return zero
			}
			return u.Factors.RawRowView(i)
		}
	}
	return func(i int) []float64 {
		if u.Items[i].Features == nil {
			return make([]float64, shuffle.FeatureDims)
		}
		v := shuffle.FeatureVector(*u.Items[i].Features)
		return v[:]
	}
}

// KMeans clusters points into k groups (Lloyd's algorithm, k-means++
// seeding from seed, at most iters rounds) and returns each point's
// cluster and the centroids. k is clamped to [1, len(points)].
// Deterministic for a seed.
func KMeans(points [][]float64, k, iters int, seed uint64) (assign []int, centroids [][]float64) {
	n := len(points)
	if n == 0 {
		return nil, nil
	}
	k = max(1, min(k, n))
	rng := rand.New(rand.NewPCG(seed, 0x6b6d65616e73))
	centroids = [][]float64{slices.Clone(points[rng.IntN(n)])}
	d2 := make([]float64, n)
	for len(centroids) < k {
		var sum float64
		for i, p := range points {
			d2[i] = math.Inf(1)
			for _, c := range centroids {
				d2[i] = math.Min(d2[i], sqDist(p, c))
			}
			sum += d2[i]
		}
		next := 0
		if sum > 0 {
			r := rng.Float64() * sum
			for next = 0; next < n-1 && r >= d2[next]; next++ {
				r -= d2[next]
			}
		} else {
			next = len(centroids) // identical points: any distinct index
		}
		centroids = append(centroids, slices.Clone(points[next]))
	}
	assign = make([]int, n)
	for it := 0; it < iters; it++ {
		changed := it == 0
		for i, p := range points {
			best := 0
			for c := range centroids {
				if sqDist(p, centroids[c]) < sqDist(p, centroids[best]) {
					best = c
				}
			}
			if assign[i] != best {
				assign[i], changed = best, true
			}
		}
		if !changed {
			break
		}
		counts := make([]int, k)
		for c := range centroids {
			clear(centroids[c])
		}
		for i, p := range points {
			floats.Add(centroids[assign[i]], p)
			counts[assign[i]]++
		}
		for c := range centroids {
			if counts[c] > 0 {
				floats.Scale(1/float64(counts[c]), centroids[c])
			}
		}
	}
	return assign, centroids
}

func sqDist(a, b []float64) float64 {
	d := floats.Distance(a, b, 2)
	return d * d
}

// OrderFlow orders tracks so tempo and energy flow: from a start track
// it repeatedly appends the unplaced track nearest (FlowStep) to the
// tail, or prepends the one nearest the head when that is closer, until
// every remaining track is further than maxStep from both ends; those
// are left out, so every step of the result is ≤ maxStep. Every track is
// tried as the start and the longest order wins (ties: the calmest
// start, lowest energy then tempo). It returns indices into feats.
// Cost O(n³) FlowSteps: meant for playlists of tens of tracks.
func OrderFlow(feats []model.AudioFeatures, maxStep float64) []int {
	var best []int
	starts := make([]int, len(feats))
	for i := range starts {
		starts[i] = i
	}
	slices.SortStableFunc(starts, func(a, b int) int {
		return cmp.Or(cmp.Compare(feats[a].Energy, feats[b].Energy), cmp.Compare(feats[a].TempoBPM, feats[b].TempoBPM))
	})
	pts := make([][2]float64, len(feats))
	for i, f := range feats {
		pts[i] = flowPoint(f)
	}
	for _, s := range starts {
		if o := flowFrom(pts, s, maxStep); len(o) > len(best) {
			best = o
		}
		if len(best) == len(feats) {
			break
		}
	}
	return best
}

// flowFrom is OrderFlow's greedy chain from start over the tracks'
// flowPoints.
func flowFrom(pts [][2]float64, start int, maxStep float64) []int {
	placed := make([]bool, len(pts))
	placed[start] = true
	order := []int{start}
	for {
		head, tail := order[0], order[len(order)-1]
		best, bestD, atHead := -1, math.Inf(1), false
		for i, p := range pts {
			if placed[i] {
				continue
			}
			if d := flowDistance(pts[tail], p); d < bestD {
				best, bestD, atHead = i, d, false
			}
			if d := flowDistance(p, pts[head]); d < bestD {
				best, bestD, atHead = i, d, true
			}
		}
		if best < 0 || bestD > maxStep {
			return order
		}
		placed[best] = true
		if atHead {
			order = slices.Insert(order, 0, best)
		} else {
			order = append(order, best)
		}
	}
}

// RadarOptions shape Release Radar. Start from DefaultRadarOptions.
type RadarOptions struct {
	// Window is how recent a release must be (default 14 days).
	Window time.Duration
	// Size caps the playlist (default 50).
	Size int
	// OftenPlayed is how many of the listener's most played artists count
	// besides the followed ones (default 20).
	OftenPlayed int
}

// DefaultRadarOptions returns the defaults documented on each field.
func DefaultRadarOptions() RadarOptions {
	return RadarOptions{Window: 14 * 24 * time.Hour, Size: 50, OftenPlayed: 20}
}

// ReleaseRadar returns the items released in (now − Window, now] by
// artists the listener follows or is among their OftenPlayed most played,
// newest release first (then catalog order), at most Size.
func (u *Universe) ReleaseRadar(l Listener, now time.Time, o RadarOptions) ([]int, error) {
	if o.Window <= 0 || o.Size < 0 || o.OftenPlayed < 0 {
		return nil, fmt.Errorf("%w: release radar %+v", ErrInvalidOptions, o)
	}
	want := map[model.ArtistID]bool{}
	for _, a := range l.Followed {
		want[a] = true
	}
	byArtist := map[model.ArtistID]float64{}
	for i, n := range l.Plays {
		byArtist[u.Items[i].Artist] += n
	}
	often := make([]model.ArtistID, 0, len(byArtist))
	for a := range byArtist {
		often = append(often, a)
	}
	slices.SortFunc(often, func(a, b model.ArtistID) int {
		if c := cmp.Compare(byArtist[b], byArtist[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	for _, a := range often[:min(len(often), o.OftenPlayed)] {
		want[a] = true
	}
	from := now.Add(-o.Window)
	var out []int
	for i, it := range u.Items {
		if want[it.Artist] && !it.Released.IsZero() && it.Released.After(from) && !it.Released.After(now) {
			out = append(out, i)
		}
	}
	slices.SortStableFunc(out, func(a, b int) int { return u.Items[b].Released.Compare(u.Items[a].Released) })
	return out[:min(len(out), o.Size)], nil
}

// Similar returns up to n items most similar to item: cosine similarity
// of ALS item factors when both items have at least MinSimilarListeners
// listeners, plus audio feature similarity 1/(1 + FeatureDistance) when
// both have features. Items with neither signal are not returned; item
// itself never is.
func (u *Universe) Similar(item, n int) ([]int, error) {
	if item < 0 || item >= len(u.Items) {
		return nil, fmt.Errorf("%w: item %d of %d", ErrInvalidOptions, item, len(u.Items))
	}
	shared := func(i int) bool { return u.listeners != nil && u.listeners[i] >= MinSimilarListeners }
	scores := make([]float64, len(u.Items))
	src := u.Items[item]
	useCF := u.Factors != nil && shared(item)
	var srcNorm float64
	if useCF {
		srcNorm = floats.Norm(u.Factors.RawRowView(item), 2)
	}
	var srcVec [shuffle.FeatureDims]float64
	if src.Features != nil {
		srcVec = shuffle.FeatureVector(*src.Features)
	}
	for i, it := range u.Items {
		scores[i] = math.Inf(-1)
		if i == item {
			continue
		}
		s, has := 0.0, false
		if useCF && shared(i) {
			row := u.Factors.RawRowView(i)
			if nn := floats.Norm(row, 2) * srcNorm; nn > 0 {
				s += floats.Dot(row, u.Factors.RawRowView(item)) / nn
				has = true
			}
		}
		if src.Features != nil && it.Features != nil {
			v := shuffle.FeatureVector(*it.Features)
			s += 1 / (1 + vectorDistance(&srcVec, &v))
			has = true
		}
		if has {
			scores[i] = s
		}
	}
	return TopN(scores, nil, n), nil
}
