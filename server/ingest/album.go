package ingest

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/player/wav"
)

// probed is a track whose master is decoded and metadata validated,
// waiting for its gapless run to be resampled and its tiers encoded.
type probed struct {
	i   int
	t   TrackRequest
	m   *master // nil without a master
	sha [32]byte
	id  model.TrackID

	// Place in the gapless run (see placeRuns).
	runOffset int64
	follows   model.TrackID
	// resampled holds, per tier rate other than the master's, the WAV of
	// this track's span of its run resampled once (see resampleRun).
	resampled map[int]string
}

// encodes reports whether tier is encoded here (not pre-encoded).
func (p *probed) encodes(tier model.Tier) bool {
	_, pre := p.t.Tiers[tier]
	return p.m != nil && !pre
}

// timing returns the track's model.Timing for a tier at rate.
func (p *probed) timing(rate int) *model.Timing {
	if rate == p.t.SampleRate {
		return nil
	}
	return &model.Timing{SourceRate: p.t.SampleRate, RunOffset: p.runOffset, SourceSamples: p.t.Samples, Follows: p.follows}
}

// placeRuns groups tracks into gapless runs and sets each track's place in
// its run. A run is a maximal sequence of tracks of one album that follow
// each other by (disc, track number) — track n+1 of the same disc, or
// track 1 of the next disc — with the same master rate and channels, and
// either all with a master or all without (a run is resampled from its
// masters as one signal). Tracks of the album that are not in the request
// (already ingested, or missing) end a run. It returns the runs, each in
// play order.
func placeRuns(ps []*probed) [][]*probed {
	sorted := slices.Clone(ps)
	album := func(p *probed) model.AlbumID { return albumID(&p.t) }
	slices.SortStableFunc(sorted, func(a, b *probed) int {
		return cmp.Or(cmp.Compare(album(a), album(b)), cmp.Compare(a.t.DiscNumber, b.t.DiscNumber),
			cmp.Compare(a.t.TrackNumber, b.t.TrackNumber), cmp.Compare(a.i, b.i))
	})
	var runs [][]*probed
	for j, p := range sorted {
		if j > 0 {
			prev := sorted[j-1]
			next := p.t.DiscNumber == prev.t.DiscNumber && p.t.TrackNumber == prev.t.TrackNumber+1 ||
				p.t.DiscNumber == prev.t.DiscNumber+1 && p.t.TrackNumber == 1
			if album(p) == album(prev) && next && p.t.SampleRate == prev.t.SampleRate &&
				p.t.Channels == prev.t.Channels && (p.m == nil) == (prev.m == nil) &&
				prev.runOffset+prev.t.Samples+p.t.Samples <= model.MaxRunFrames {
				p.runOffset, p.follows = prev.runOffset+prev.t.Samples, prev.id
				runs[len(runs)-1] = append(runs[len(runs)-1], p)
				continue
			}
		}
		p.runOffset, p.follows = 0, ""
		runs = append(runs, []*probed{p})
	}
	return runs
}

// resampleRates returns the rates other than the masters' that the run's
// encoded tiers need.
func resampleRates(run []*probed) []int {
	var rates []int
	for _, p := range run {
		for _, tier := range model.Tiers {
			if r := tierRate(tier, p.t.SampleRate); r != p.t.SampleRate && p.encodes(tier) && !slices.Contains(rates, r) {
				rates = append(rates, r)
			}
		}
	}
	slices.Sort(rates)
	return rates
}

// resampleRun resamples the run's masters, in order, as one signal to
// rate with one player.Resampler, and cuts the result at the tracks'
// spans (model.ResampledSpan of each track's frames in the run): the
// resampler's state and phase carry across every cut, so the tracks'
// resampled samples are exactly the run resampled once. Each track that
// encodes a tier at rate gets its span as a float WAV in the ingest's
// temporary directory (probed.resampled).
func (in *ingester) resampleRun(ctx context.Context, run []*probed, rate int) error {
	first := run[0].m
	r, err := player.NewResampler(first.rate, rate, first.channels)
	if err != nil {
		return fmt.Errorf("resample to %d Hz: %w", rate, err)
	}
	w := &runWriter{run: run, rate: rate, dir: in.tmp, channels: first.channels}
	defer w.abort()
	var out []float32
	for _, p := range run {
		err := p.m.readPCM(ctx, func(buf []float32) error {
			if out, err = r.Write(out[:0], buf); err != nil {
				return err
			}
			return w.write(out)
		})
		if err != nil {
			return fmt.Errorf("%s: %w", in.label(&p.t), err)
		}
	}
	if err := w.write(r.Flush(out[:0])); err != nil {
		return err
	}
	return w.finish()
}

// runWriter distributes a run's resampled frames to its tracks' files.
type runWriter struct {
	run      []*probed
	rate     int
	dir      string
	channels int

	cur  int   // member receiving frames
	left int64 // frames the current member still takes
	f    *os.File
	w    *wav.Writer
	done bool
}

// open starts member cur: its file when it encodes a tier at the rate.
func (rw *runWriter) open() error {
	p := rw.run[rw.cur]
	_, rw.left = model.ResampledSpan(p.runOffset, p.t.Samples, p.t.SampleRate, rw.rate)
	need := false
	for _, tier := range model.Tiers {
		need = need || tierRate(tier, p.t.SampleRate) == rw.rate && p.encodes(tier)
	}
	if !need {
		return nil
	}
	name := filepath.Join(rw.dir, fmt.Sprintf("track%04d-%d.wav", p.i, rw.rate))
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("resample: %w", err)
	}
	w, err := wav.NewWriter(f, rw.rate, rw.channels, wav.F32)
	if err != nil {
		f.Close()
		return fmt.Errorf("resample: %w", err)
	}
	rw.f, rw.w = f, w
	if p.resampled == nil {
		p.resampled = map[int]string{}
	}
	p.resampled[rw.rate] = name
	return nil
}

// close ends the current member's file.
func (rw *runWriter) close() error {
	if rw.f == nil {
		return nil
	}
	err := rw.w.Close()
	if cerr := rw.f.Close(); err == nil {
		err = cerr
	}
	rw.f, rw.w = nil, nil
	if err != nil {
		return fmt.Errorf("resample: %w", err)
	}
	return nil
}

func (rw *runWriter) write(buf []float32) error {
	c := rw.channels
	for len(buf) > 0 {
		if rw.done {
			return fmt.Errorf("resample: %d frames beyond the run's end", len(buf)/c)
		}
		if rw.left == 0 && rw.f == nil {
			if err := rw.open(); err != nil {
				return err
			}
		}
		n := min(int64(len(buf)/c), rw.left)
		if rw.w != nil {
			if err := rw.w.WriteFloat32(buf[:n*int64(c)]); err != nil {
				return fmt.Errorf("resample: %w", err)
			}
		}
		buf = buf[n*int64(c):]
		rw.left -= n
		if rw.left == 0 {
			if err := rw.close(); err != nil {
				return err
			}
			rw.cur++
			rw.done = rw.cur == len(rw.run)
		}
	}
	return nil
}

// finish checks every member got its whole span.
func (rw *runWriter) finish() error {
	if !rw.done {
		return fmt.Errorf("resample: the run ended %d frames early in track %d", rw.left, rw.cur+1)
	}
	return nil
}

// abort closes a file left open by an error.
func (rw *runWriter) abort() {
	if rw.f != nil {
		rw.f.Close()
	}
}
