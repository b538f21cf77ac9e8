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
// audio (the lowest tier: verified manifest, content key by
// catalog.ContentKeyAt, blobs, decrypted and decoded in memory) the first
// time a card of a released track needs one, and
// keeps them in the store. One computation runs at a time (each decodes
// a whole track: the lock bounds the CPU a burst of new cards can take).
type waveCache struct {
	s   *Service
	pub ed25519.PublicKey
	mu  sync.Mutex
}

func newWaveCache(s *Service, pub ed25519.PublicKey) *waveCache { return &waveCache{s: s, pub: pub} }

// get returns track's summary, computing and storing it when missing.
// While the track's album is embargoed at the service's clock it returns
// catalog.ErrEmbargoed, stored summary or not: a waveform is drawn from
// the audio, so it is shown no earlier than the audio is played. The
// caller owns the returned slice.
func (w *waveCache) get(ctx context.Context, track model.TrackID) ([]byte, error) {
	st := w.s.st
	if err := w.s.cat.CheckReleased(ctx, track, w.s.opts.now()); err != nil {
		return nil, fmt.Errorf("waveform of %s: %w", track, err)
	}
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
	m, key, err := w.s.openStream(ctx, track, model.Tiers...)
	if err != nil {
		return nil, fmt.Errorf("waveform of %s: %w", track, err)
	}
	ogg, err := w.s.plainStream(ctx, m, key, len(m.Chunks))
	if err != nil {
		return nil, fmt.Errorf("waveform of %s: %w", track, err)
	}
	return summarize(ctx, bytes.NewReader(ogg), m.TotalSamples)
}

// openStream returns the verified manifest and content key of track's
// first published tier of tiers. The key comes from
// catalog.ContentKeyAt at the service's clock (the relay's, NewForRelay):
// while the track's album is embargoed it fails with
// catalog.ErrEmbargoed, so nothing is decrypted from it (no preview, no
// waveform) before its release.
func (s *Service) openStream(ctx context.Context, track model.TrackID, tiers ...model.Tier) (*model.Manifest, crypto.ContentKey, error) {
	var key crypto.ContentKey
	for _, t := range tiers {
		env, err := s.cat.Manifest(ctx, track, t)
		if errors.Is(err, catalog.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, key, err
		}
		m, err := crypto.OpenManifest(s.waves.pub, env)
		if err != nil {
			return nil, key, err
		}
		if m.TrackID != track || m.Tier != t {
			return nil, key, fmt.Errorf("manifest is of %s/%s", m.TrackID, m.Tier)
		}
		key, err = s.cat.ContentKeyAt(ctx, track, t, s.opts.now())
		return m, key, err
	}
	return nil, key, errors.New("no tier published")
}

// plainStream returns the relay's own audio of m in clear: header ‖
// chunk 0 ‖ chunk 1 without its primer ‖ … up to chunk n-1, each blob
// hash-checked against the manifest before it is decrypted. The caller
// owns the result, which is clear audio: it must not be stored.
func (s *Service) plainStream(ctx context.Context, m *model.Manifest, key crypto.ContentKey, n int) ([]byte, error) {
	var out []byte
	add := func(ref model.BlobRef, idx uint64, skip int64) error {
		b, err := s.cat.Blob(ctx, ref.SHA256)
		if err != nil {
			return err
		}
		if crypto.BlobHash(b) != ref.SHA256 {
			return errors.New("blob hash mismatch")
		}
		if skip > int64(len(b)) {
			return errors.New("primer past chunk end")
		}
		crypto.XORKeyStream(key, idx, 0, b, b)
		out = append(out, b[skip:]...)
		return nil
	}
	if err := add(m.Header, 0, 0); err != nil {
		return nil, err
	}
	for i, c := range m.Chunks[:min(n, len(m.Chunks))] {
		skip := c.PrimerSize
		if i == 0 {
			skip = 0
		}
		if err := add(c.Blob, uint64(i)+1, skip); err != nil {
			return nil, err
		}
	}
	return out, nil
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
