package ingest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player"
)

// LowTierRate is the sample rate of the low tier (DESIGN §3: libvorbis
// cannot reach ≈24 kbps at 44.1 kHz; at 16 kHz stereo, quality −1 has a
// nominal bitrate of 24 kbps).
const LowTierRate = 16000

// MaxTierRate caps the other tiers' rate: masters above 48 kHz are
// resampled to 48 kHz for Vorbis.
const MaxTierRate = 48000

// tierQuality is the Vorbis quality per tier (oggenc -q, ffmpeg -q:a).
var tierQuality = map[model.Tier]string{
	model.TierLow:      "-1",
	model.TierNormal:   "2",
	model.TierHigh:     "5",
	model.TierVeryHigh: "9",
}

// tierRate returns the sample rate a tier is encoded at from a master at
// rate.
func tierRate(t model.Tier, rate int) int {
	if t == model.TierLow {
		return min(rate, LowTierRate)
	}
	return min(rate, MaxTierRate)
}

// playbackRates are the output rates every tier must resample to: the
// rates sound devices and browsers' audio contexts open (segue play's WAV
// output and ALSA request are 44.1 kHz, browsers mostly 48 kHz). The
// player's resampler takes a ratio whose reduced numerator is at most
// 4096 (player.CheckRates): every standard rate passes, 44056 Hz does not.
var playbackRates = [...]int{44100, 48000, 88200, 96000, 176400, 192000}

// checkPlayable refuses a tier rate the player cannot resample to every
// playback rate: such a tier would fail in every player.
func checkPlayable(rate int) error {
	for _, out := range playbackRates {
		if err := player.CheckRates(rate, out); err != nil {
			return fmt.Errorf("%w: sample rate %d Hz: players could not resample it to %d Hz (%v); resample it to a standard rate such as 44100 or 48000 Hz",
				ErrUnsupportedFormat, rate, out, err)
		}
	}
	return nil
}

// checkMasterRate refuses a master rate that ingest cannot resample to a
// tier's rate, or whose tiers players cannot resample (checkPlayable).
func checkMasterRate(rate int) error {
	for _, t := range model.Tiers {
		tr := tierRate(t, rate)
		if err := player.CheckRates(rate, tr); err != nil {
			return fmt.Errorf("%w: sample rate %d Hz: the %s tier at %d Hz cannot be cut from it (%v); resample it to a standard rate such as 44100 or 48000 Hz",
				ErrUnsupportedFormat, rate, t, tr, err)
		}
		if err := checkPlayable(tr); err != nil {
			return err
		}
	}
	return nil
}

// expectedSamples is the length of a tier at rate to from a master of n
// frames at rate from: resamplers round up.
func expectedSamples(n int64, from, to int) int64 {
	if from == to {
		return n
	}
	return (n*int64(to) + int64(from) - 1) / int64(from)
}

// encoder runs one external Vorbis encoder.
type encoder struct {
	name string // "oggenc" or "ffmpeg"
	path string
}

// findEncoder returns the first available encoder: oggenc, then ffmpeg.
func findEncoder(o Options) (encoder, error) {
	if p, err := exec.LookPath(o.oggenc); err == nil {
		return encoder{"oggenc", p}, nil
	}
	if p, err := exec.LookPath(o.ffmpeg); err == nil {
		return encoder{"ffmpeg", p}, nil
	}
	return encoder{}, fmt.Errorf("%w: neither %s nor %s found on PATH (install vorbis-tools or ffmpeg)", ErrEncoderMissing, o.oggenc, o.ffmpeg)
}

// encode encodes the audio file at in, already at the tier's rate (the
// master, or its run resampled by resampleRun: the encoders' own
// resamplers are never used, so an album's tracks stay on one resampling
// grid), and returns the Ogg Vorbis bytes and the encoder's wall time.
func (e encoder) encode(ctx context.Context, in string, tier model.Tier, serial uint32, tmpDir string) ([]byte, time.Duration, error) {
	out := filepath.Join(tmpDir, fmt.Sprintf("%08x.%s.ogg", serial, tier))
	defer os.Remove(out)
	var args []string
	switch e.name {
	case "oggenc":
		args = []string{"-Q", "--serial", strconv.FormatUint(uint64(serial), 10), "-q", tierQuality[tier], "-o", out, in}
	default:
		args = []string{"-nostdin", "-v", "error", "-y", "-i", in, "-map", "0:a:0", "-map_metadata", "-1",
			"-c:a", "libvorbis", "-q:a", tierQuality[tier], "-f", "ogg", out}
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, e.path, args...)
	cmd.Stderr = &stderr
	dieWithIngest(cmd)
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if err != nil {
		if ctx.Err() != nil {
			return nil, took, ctx.Err()
		}
		return nil, took, fmt.Errorf("%w: %s %s: %v: %s", ErrEncoder, e.name, tier, err, bytes.TrimSpace(stderr.Bytes()))
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, took, fmt.Errorf("read %s output: %w", e.name, err)
	}
	return b, took, nil
}
