// Package edgetrace generates seeded request traces with the popularity
// skew and listening sessions of a music service, and replays them against
// cache policies: LRU, Bélády's offline optimum, and any Cache (the edge's
// W-TinyLFU policy is replayed by server/edge's tests). It is pure: no
// clock, no I/O; the same Options give the same trace.
package edgetrace

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// ErrBadOptions is returned by Generate for unusable options.
var ErrBadOptions = errors.New("edgetrace: bad options")

// Options shape a trace. Start from DefaultOptions.
type Options struct {
	seed       uint64
	tracks     int
	plays      int
	albumLen   int
	sessions   int
	albumProb  float64
	skipProb   float64
	spikeShare float64
	spikeAt    float64
}

// DefaultOptions returns the defaults: seed 1, 1,000 tracks in albums of
// 10, 100,000 plays, 200 sessions interleaved, a session continues in
// album order after a track with probability 0.3, a play is skipped
// (stops after a uniform number of chunks) with probability 0.25, no
// release spike.
func DefaultOptions() Options {
	return Options{seed: 1, tracks: 1000, plays: 100_000, albumLen: 10, sessions: 200, albumProb: 0.3, skipProb: 0.25}
}

// WithSeed sets the seed (default 1).
func (o Options) WithSeed(s uint64) Options { o.seed = s; return o }

// WithTracks sets the catalog size, a multiple of the album length ≥ 100
// (default 1,000).
func (o Options) WithTracks(n int) Options { o.tracks = n; return o }

// WithPlays sets the number of plays (default 100,000).
func (o Options) WithPlays(n int) Options { o.plays = n; return o }

// WithReleaseSpike adds a new album, absent before the play at fraction at
// of the trace (0 < at < 1), that gets share of the sessions started from
// then on (default none). The spike is share 0.1.
func (o Options) WithReleaseSpike(share, at float64) Options {
	o.spikeShare, o.spikeAt = share, at
	return o
}

// Request is one GET of an object: a track's header (Chunk -1) or chunk.
type Request struct {
	Key   uint64 // unique per object
	Size  int64  // bytes
	Track int32
	Chunk int32
}

// Trace is a generated trace. Plays lists the track of every play in
// order (a skipped play counts).
type Trace struct {
	Requests []Request
	Plays    []int32
	Tracks   int // tracks in the catalog, the spike album included
}

// track is one catalog entry: its chunk count and chunk size.
type track struct {
	chunks    int
	chunkSize int64
}

// Popularity segments of the seed: the top 1 % of tracks get 30 % of the
// session starts, the next 9 % get 40 %, the remaining 90 % get 30 %, each
// segment Zipf-like (exponent zipfS) inside.
const (
	zipfS       = 0.6
	headerBytes = 4 << 10
	chunkSecs   = 8
)

// weights returns the session-start weight of each popularity rank.
func weights(n int) []float64 {
	w := make([]float64, n)
	segs := []struct {
		from, to int
		share    float64
	}{{0, n / 100, 0.30}, {n / 100, n / 10, 0.40}, {n / 10, n, 0.30}}
	for _, s := range segs {
		var sum float64
		for i := s.from; i < s.to; i++ {
			w[i] = math.Pow(float64(i-s.from+1), -zipfS)
			sum += w[i]
		}
		for i := s.from; i < s.to; i++ {
			w[i] *= s.share / sum
		}
	}
	return w
}

// Generate returns the trace o describes. Track t belongs to album
// t/albumLen and popularity rank t (albums are rank-adjacent, so an album's
// tracks are about equally popular). Sessions run interleaved: each step
// advances a random active session by one request.
func Generate(o Options) (*Trace, error) {
	switch {
	case o.tracks < 100 || o.albumLen <= 0 || o.tracks%o.albumLen != 0:
		return nil, fmt.Errorf("%w: %d tracks in albums of %d", ErrBadOptions, o.tracks, o.albumLen)
	case o.plays <= 0 || o.sessions <= 0:
		return nil, fmt.Errorf("%w: %d plays, %d sessions", ErrBadOptions, o.plays, o.sessions)
	case o.spikeShare < 0 || o.spikeShare >= 1 || (o.spikeShare > 0 && (o.spikeAt <= 0 || o.spikeAt >= 1)):
		return nil, fmt.Errorf("%w: release spike %v at %v", ErrBadOptions, o.spikeShare, o.spikeAt)
	}
	rng := rand.New(rand.NewPCG(o.seed, o.seed^0x5e9e))
	n := o.tracks
	if o.spikeShare > 0 {
		n += o.albumLen
	}
	cat := make([]track, n)
	for i := range cat {
		secs := 150 + rng.IntN(181) // 2:30 to 5:30
		kbps := []int64{24, 96, 96, 96, 96, 96, 160, 160, 160, 320}[rng.IntN(10)]
		cat[i] = track{chunks: (secs + chunkSecs - 1) / chunkSecs, chunkSize: kbps * 1000 / 8 * chunkSecs}
	}
	cum := weights(o.tracks)
	for i := 1; i < len(cum); i++ {
		cum[i] += cum[i-1]
	}
	pick := func() int {
		i, _ := slices.BinarySearch(cum, rng.Float64()*cum[len(cum)-1])
		return min(i, o.tracks-1)
	}

	tr := &Trace{Tracks: n}
	spikeFrom := int(o.spikeAt * float64(o.plays))
	start := func() play {
		t := pick()
		if o.spikeShare > 0 && len(tr.Plays) >= spikeFrom && rng.Float64() < o.spikeShare {
			t = o.tracks + rng.IntN(o.albumLen)
		}
		return begin(rng, cat, t, o.skipProb)
	}
	active := make([]play, o.sessions)
	for i := range active {
		active[i] = start()
		tr.Plays = append(tr.Plays, int32(active[i].track))
	}
	for len(tr.Plays) < o.plays {
		i := rng.IntN(len(active))
		s := &active[i]
		tr.Requests = append(tr.Requests, request(cat, s.track, s.next))
		s.next++
		if s.next <= s.stop {
			continue
		}
		// The play ended: next track of the album, or a new session.
		if rng.Float64() < o.albumProb && (s.track+1)%o.albumLen != 0 {
			*s = begin(rng, cat, s.track+1, o.skipProb)
		} else {
			*s = start()
		}
		tr.Plays = append(tr.Plays, int32(s.track))
	}
	return tr, nil
}

// play is a play in progress: it requests the header (next = -1), then
// chunks 0..stop.
type play struct {
	track, next, stop int
}

// begin starts a play of t, skipped after a uniform number of chunks with
// probability skip.
func begin(rng *rand.Rand, cat []track, t int, skip float64) play {
	stop := cat[t].chunks - 1
	if rng.Float64() < skip {
		stop = rng.IntN(cat[t].chunks)
	}
	return play{track: t, next: -1, stop: stop}
}

func request(cat []track, t, chunk int) Request {
	size := int64(headerBytes)
	if chunk >= 0 {
		size = cat[t].chunkSize
	}
	return Request{Key: uint64(t)<<20 | uint64(chunk+1), Size: size, Track: int32(t), Chunk: int32(chunk)}
}

// PlayShare returns the fraction of plays that went to the top frac of
// tracks by play count (frac 0.01 = the top 1 %).
func (t *Trace) PlayShare(frac float64) float64 {
	counts := make([]int, t.Tracks)
	for _, p := range t.Plays {
		counts[p]++
	}
	slices.SortFunc(counts, func(a, b int) int { return b - a })
	top := 0
	for _, c := range counts[:max(1, int(frac*float64(t.Tracks)))] {
		top += c
	}
	return float64(top) / float64(len(t.Plays))
}

// Bytes returns the bytes requested and the bytes of distinct objects.
func (t *Trace) Bytes() (requested, distinct int64) {
	seen := make(map[uint64]bool)
	for _, r := range t.Requests {
		requested += r.Size
		if !seen[r.Key] {
			seen[r.Key] = true
			distinct += r.Size
		}
	}
	return requested, distinct
}
