package social

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/player/vorbis"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/store"
)

// WaveBars is the number of bars of a waveform summary.
const WaveBars = 96

// waveTimeout bounds one waveform computation.
const waveTimeout = 30 * time.Second

// waveKey is the store key of a track's waveform summary,
// shr/wave/<trackID>: WaveBars bytes, each the loudest RMS of its
// slice of the track scaled to 0–255 (the loudest bar is 255).
func waveKey(id model.TrackID) []byte { return store.Key("shr", "wave", string(id)) }

// waveCache computes waveform summaries from the relay's own encrypted
// audio (the lowest tier: verified manifest, content key, blobs,
// decrypted and decoded in memory) the first time a card needs one, and
// keeps them in the store. One computation runs at a time (each decodes
// a whole track: the lock bounds the CPU a burst of new cards can take).
type waveCache struct {
	s   *Service
	pub ed25519.PublicKey
	mu  sync.Mutex
}

func newWaveCache(s *Service, pub ed25519.PublicKey) *waveCache { return &waveCache{s: s, pub: pub} }

// get returns track's summary, computing and storing it when missing.
// The caller owns the returned slice.
func (w *waveCache) get(ctx context.Context, track model.TrackID) ([]byte, error) {
	st := w.s.st
	if b, err := st.Get(ctx, waveKey(track)); err == nil && len(b) == WaveBars {
		return b, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if b, err := st.Get(ctx, waveKey(track)); err == nil && len(b) == WaveBars {
		return b, nil
	}
	ctx, cancel := context.WithTimeout(ctx, waveTimeout)
	defer cancel()
	b, err := w.compute(ctx, track)
	if err != nil {
		return nil, err
	}
	if err := st.Set(ctx, waveKey(track), b); err != nil {
		return nil, err
	}
	return b, nil
}

// compute decodes track's lowest published tier and summarises it.
func (w *waveCache) compute(ctx context.Context, track model.TrackID) ([]byte, error) {
	cat := w.s.cat
	var env []byte
	var tier model.Tier
	for _, t := range model.Tiers {
		b, err := cat.Manifest(ctx, track, t)
		if errors.Is(err, catalog.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		env, tier = b, t
		break
	}
	if env == nil {
		return nil, fmt.Errorf("waveform of %s: no tier published", track)
	}
	m, err := crypto.OpenManifest(w.pub, env)
	if err != nil {
		return nil, err
	}
	key, err := cat.ContentKey(ctx, track, tier)
	if err != nil {
		return nil, err
	}
	blob := func(ref model.BlobRef, idx uint64, skip int64) ([]byte, error) {
		b, err := cat.Blob(ctx, ref.SHA256)
		if err != nil {
			return nil, err
		}
		if crypto.BlobHash(b) != ref.SHA256 {
			return nil, fmt.Errorf("waveform of %s: blob hash mismatch", track)
		}
		crypto.XORKeyStream(key, idx, 0, b, b)
		if skip > int64(len(b)) {
			return nil, fmt.Errorf("waveform of %s: primer past chunk end", track)
		}
		return b[skip:], nil
	}
	var ogg bytes.Buffer
	h, err := blob(m.Header, 0, 0)
	if err != nil {
		return nil, err
	}
	ogg.Write(h)
	for i, c := range m.Chunks {
		skip := c.PrimerSize
		if i == 0 {
			skip = 0
		}
		b, err := blob(c.Blob, uint64(i)+1, skip)
		if err != nil {
			return nil, err
		}
		ogg.Write(b)
	}
	return summarize(ctx, &ogg, m.TotalSamples)
}

// summarize decodes the Ogg Vorbis stream r of total sample frames into
// WaveBars bars: the RMS over all channels of each slice, scaled so the
// loudest bar is 255 (all zero for silence).
func summarize(ctx context.Context, r io.Reader, total int64) ([]byte, error) {
	if total <= 0 {
		return nil, errors.New("waveform: empty stream")
	}
	sr := vorbis.NewStreamReader(r, vorbis.DefaultOptions())
	var sums [WaveBars]float64
	var counts [WaveBars]int64
	var pos int64
	for {
		pcm, err := sr.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("waveform: decode: %w", err)
		}
		if len(pcm) == 0 {
			continue
		}
		for i := range pcm[0] {
			bar := min(pos*WaveBars/total, WaveBars-1)
			for _, ch := range pcm {
				v := float64(ch[i])
				sums[bar] += v * v
			}
			counts[bar] += int64(len(pcm))
			pos++
		}
	}
	var rms [WaveBars]float64
	peak := 0.0
	for i := range rms {
		if counts[i] > 0 {
			rms[i] = math.Sqrt(sums[i] / float64(counts[i]))
		}
		peak = max(peak, rms[i])
	}
	out := make([]byte, WaveBars)
	if peak == 0 {
		return out, nil
	}
	for i, v := range rms {
		out[i] = byte(math.Round(255 * v / peak))
	}
	return out, nil
}
