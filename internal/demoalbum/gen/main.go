// Command gen regenerates the demo album fixtures in internal/demoalbum/data:
// it synthesises the piece, cuts it into four float WAV masters in a
// temporary directory, resamples the piece once to 16 kHz and cuts it the
// same way for the low tier, encodes the four tiers with oggenc, measures
// loudness on the masters, and writes the .ogg files and album.json.
//
//	go run ./internal/demoalbum/gen [-out internal/demoalbum/data]
//
// It needs oggenc (vorbis-tools) on PATH. The output is committed, so
// nothing else in Segue needs an encoder for the demo.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/player/loudness"
)

// tierArgs are the oggenc settings per tier (DESIGN §3): low is 16 kHz
// stereo at -q -1, whose nominal bitrate is 24 kbps.
var tierArgs = map[model.Tier][]string{
	model.TierVeryHigh: {"-q", "9"},
	model.TierHigh:     {"-q", "5"},
	model.TierNormal:   {"-q", "2"},
	model.TierLow:      {"-q", "-1"},
}

// lowRate is the low tier's rate. Like ingest, the generator resamples
// the whole piece once and cuts it at each track's span
// (model.ResampledSpan), so the low tier is the piece resampled once and
// ingest records its timing (model.Timing).
const lowRate = 16000

// lowTracks resamples the piece to lowRate in one pass and cuts it at the
// tracks' spans.
func lowTracks(piece []float32) ([4][]float32, error) {
	var out [4][]float32
	r, err := player.NewResampler(demoalbum.Rate, lowRate, demoalbum.Channels)
	if err != nil {
		return out, err
	}
	low, err := r.Write(nil, piece)
	if err != nil {
		return out, err
	}
	low = r.Flush(low)
	bounds := []int64{0, demoalbum.Cuts[0], demoalbum.Cuts[1], demoalbum.Cuts[2], demoalbum.TotalSamples}
	for i := range 4 {
		first, n := model.ResampledSpan(bounds[i], bounds[i+1]-bounds[i], demoalbum.Rate, lowRate)
		out[i] = low[first*demoalbum.Channels : (first+n)*demoalbum.Channels]
	}
	return out, nil
}

var titles = [4]string{"Arrival", "Crossing", "Harbour Lights", "Segue"}

func main() {
	out := flag.String("out", "internal/demoalbum/data", "output directory")
	flag.Parse()
	if err := run(context.Background(), *out); err != nil {
		slog.Error("gen failed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out string) error {
	tmp, err := os.MkdirTemp("", "segue-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	piece := demoalbum.Synthesize()
	tracks := demoalbum.Split(piece)
	lows, err := lowTracks(piece)
	if err != nil {
		return err
	}
	meta := demoalbum.Meta{
		Album:        "Segue Demo",
		AlbumArtists: []string{"Segue Ensemble"},
		ReleaseDate:  "2026-01-01",
		Rights: []model.RightsShare{
			{Party: "Segue Ensemble", Role: model.RolePerformer, Share: 700_000_000},
			{Party: "Segue Records", Role: model.RoleLabel, Share: 300_000_000},
		},
	}
	offset := int64(0)
	for i, pcm := range tracks {
		var wav bytes.Buffer
		if err := demoalbum.WriteWAV(&wav, pcm, demoalbum.Rate, demoalbum.Channels); err != nil {
			return err
		}
		master := filepath.Join(tmp, fmt.Sprintf("%02d.wav", i+1))
		if err := os.WriteFile(master, wav.Bytes(), 0o644); err != nil {
			return err
		}
		var lowWAV bytes.Buffer
		if err := demoalbum.WriteWAV(&lowWAV, lows[i], lowRate, demoalbum.Channels); err != nil {
			return err
		}
		lowMaster := filepath.Join(tmp, fmt.Sprintf("%02d.low.wav", i+1))
		if err := os.WriteFile(lowMaster, lowWAV.Bytes(), 0o644); err != nil {
			return err
		}
		sum := sha256.Sum256(wav.Bytes())
		loud, err := loudness.Measure(pcm, demoalbum.Rate, demoalbum.Channels)
		if err != nil {
			return fmt.Errorf("measure %s: %w", master, err)
		}
		n := int64(len(pcm) / demoalbum.Channels)
		tm := demoalbum.TrackMeta{
			Title:        titles[i],
			Artists:      []string{"Segue Ensemble"},
			TrackNumber:  i + 1,
			DiscNumber:   1,
			ISRC:         fmt.Sprintf("XXSEG2600%03d", i+1),
			MasterSHA256: hex.EncodeToString(sum[:]),
			SampleRate:   demoalbum.Rate,
			Channels:     demoalbum.Channels,
			Samples:      n,
			Loudness:     loud,
			Tiers:        map[model.Tier]string{},
			CutOffset:    offset,
		}
		for _, tier := range model.Tiers {
			name := fmt.Sprintf("%02d.%s.ogg", i+1, tier)
			args := append([]string{"-Q", "--serial", fmt.Sprint(1000 + 10*i + tier.Index())}, tierArgs[tier]...)
			in := master
			if tier == model.TierLow {
				in = lowMaster
			}
			args = append(args, "-o", filepath.Join(out, name), in)
			if b, err := exec.CommandContext(ctx, "oggenc", args...).CombinedOutput(); err != nil {
				return fmt.Errorf("oggenc %s: %w: %s", name, err, b)
			}
			tm.Tiers[tier] = name
		}
		meta.Tracks = append(meta.Tracks, tm)
		offset += n
		slog.Info("track", "n", i+1, "samples", n, "lufs", loud.IntegratedLUFS)
	}
	b, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "album.json"), append(b, '\n'), 0o644)
}
