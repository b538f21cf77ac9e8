package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/mewkiz/flac"
	"github.com/mewkiz/flac/meta"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player/loudness"
	pwav "github.com/segue-fm/segue/player/wav"
	"github.com/segue-fm/segue/server/ingest/features"
	"github.com/segue-fm/segue/server/ingest/wav"
)

// Limits on masters.
const (
	MaxMasterBytes = 2 << 30
	MaxChannels    = 8
	MinRate        = 8000
	MaxRate        = 192000
	MaxSeconds     = 3 * 3600
)

// MaxFLACBits is the largest FLAC sample size read: the FLAC decoder does
// not read the frames of 32-bit files (FLAC 1.4), which it took for
// corrupt.
const MaxFLACBits = 24

// Largest track and disc numbers, of a sidecar (larger is ErrBadMetadata)
// or a FLAC tag (larger is dropped with a warning).
const (
	MaxTrackNumber = 9999
	MaxDiscNumber  = 999
)

// master is a decoded master's description.
type master struct {
	sha      [32]byte
	rate     int
	channels int
	frames   int64
	loud     model.Loudness
	feat     model.AudioFeatures
	tags     map[string]string // FLAC Vorbis comments, upper-case keys
	path     string            // copy on disk for the encoder
	flac     bool              // the copy is FLAC (else WAV)

	// enc, while a WAV master is decoded, receives its frames: the copy
	// for the encoder is written from the decoded samples (see
	// decodeMaster), in copyFormat(format) of the master.
	encFile io.WriteSeeker
	enc     *pwav.Writer

	// pcm, when set, receives the decoded frames instead of the loudness
	// meter (rereading the copy for the album resampler).
	pcm   func([]float32) error
	meter *loudness.Meter
	ext   *features.Extractor
}

// begin starts measuring once the format is known.
func (m *master) begin() error {
	if err := m.checkFormat(); err != nil {
		return err
	}
	if m.pcm != nil {
		return nil
	}
	meter, err := loudness.NewMeter(m.rate, m.channels)
	if err != nil {
		return fmt.Errorf("measure loudness: %w", err)
	}
	m.meter = meter
	if m.ext, err = features.New(m.rate, m.channels); err != nil {
		return fmt.Errorf("measure features: %w", err)
	}
	return nil
}

// write takes decoded interleaved frames.
func (m *master) write(buf []float32) error {
	m.frames += int64(len(buf) / m.channels)
	if m.enc != nil {
		if err := m.enc.WriteFloat32(buf); err != nil {
			return fmt.Errorf("copy master: %w", err)
		}
	}
	if m.pcm != nil {
		return m.pcm(buf)
	}
	m.meter.Write(buf)
	m.ext.Write(buf)
	return nil
}

// end finishes measuring.
func (m *master) end() {
	if m.meter != nil {
		m.loud = m.meter.Result()
		m.feat = m.ext.Result()
	}
}

// readPCM decodes the master's copy again, passing its frames in order to
// fn; the frame count must match the first decode.
func (m *master) readPCM(ctx context.Context, fn func([]float32) error) error {
	f, err := os.Open(m.path)
	if err != nil {
		return fmt.Errorf("reread master: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("reread master: %w", err)
	}
	re := &master{pcm: fn}
	r := ctxReader{ctx, f}
	if m.flac {
		err = re.decodeFLAC(r)
	} else {
		err = re.decodeWAV(r, st.Size())
	}
	switch {
	case err != nil:
		return fmt.Errorf("reread master: %w", err)
	case re.frames != m.frames || re.rate != m.rate || re.channels != m.channels:
		return fmt.Errorf("%w: master copy changed while being ingested", ErrCorrupt)
	}
	return nil
}

// hashFile returns the SHA-256 and size of name in fsys.
func hashFile(ctx context.Context, fsys fs.FS, name string) ([32]byte, int64, error) {
	var sum [32]byte
	f, err := open(fsys, name)
	if err != nil {
		return sum, 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, ctxReader{ctx, io.LimitReader(f, MaxMasterBytes+1)})
	if err != nil {
		return sum, n, err
	}
	if n > MaxMasterBytes {
		return sum, n, fmt.Errorf("%w: over %d bytes", ErrTooLarge, int64(MaxMasterBytes))
	}
	copy(sum[:], h.Sum(nil))
	return sum, n, nil
}

// ctxReader fails reads once ctx is done, so long copies are cancellable.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// decodeMaster reads the master name from fsys once: it copies it to
// tmpDir for the encoder, checks the SHA-256 is still sha, decodes it
// (WAV or FLAC, by content; the extension must agree), measures its
// loudness and reads its tags. A FLAC master is copied byte for byte; a
// WAV master's copy is a plain WAV written from the decoded samples, in
// the same sample format (32-bit integer as float), so the encoder reads
// only what this reader read: oggenc refuses 32-bit integer PCM and loses
// its way after an odd-sized chunk before the data, both valid WAV.
func decodeMaster(ctx context.Context, fsys fs.FS, name string, size int64, sha [32]byte, tmpDir string) (*master, error) {
	ext := strings.ToLower(path.Ext(name))
	if ext != ".wav" && ext != ".wave" && ext != ".flac" {
		return nil, fmt.Errorf("%w: extension %q (want .wav or .flac)", ErrUnsupportedFormat, ext)
	}
	f, err := open(fsys, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tmp, err := os.CreateTemp(tmpDir, "master-*"+ext)
	if err != nil {
		return nil, fmt.Errorf("copy master: %w", err)
	}
	defer tmp.Close()
	h := sha256.New()
	var magic [4]byte
	if _, err := io.ReadFull(io.TeeReader(ctxReader{ctx, f}, h), magic[:]); err != nil {
		return nil, fmt.Errorf("%w: %d-byte file", ErrCorrupt, size)
	}
	m := &master{path: tmp.Name(), flac: string(magic[:]) == "fLaC"}
	var src io.Reader
	if m.flac {
		if _, err := tmp.Write(magic[:]); err != nil {
			return nil, fmt.Errorf("copy master: %w", err)
		}
		src = io.TeeReader(ctxReader{ctx, f}, io.MultiWriter(h, tmp))
	} else {
		src = io.TeeReader(ctxReader{ctx, f}, h)
		m.encFile = tmp
	}
	body := io.MultiReader(bytes.NewReader(magic[:]), src)
	switch {
	case string(magic[:]) == "RIFF" && ext != ".flac":
		err = m.decodeWAV(body, size)
	case string(magic[:]) == "fLaC" && ext == ".flac":
		err = m.decodeFLAC(body)
	case string(magic[:]) == "RIFF" || string(magic[:]) == "fLaC":
		return nil, fmt.Errorf("%w: %s content in a %s file", ErrUnsupportedFormat, magicName(magic), ext)
	default:
		return nil, fmt.Errorf("%w: not a WAV or FLAC file (starts % x)", ErrUnsupportedFormat, magic)
	}
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(io.Discard, src); err != nil { // trailing chunks
		return nil, fmt.Errorf("read master: %w", err)
	}
	if [32]byte(h.Sum(nil)) != sha {
		return nil, fmt.Errorf("%w: master changed while being ingested", ErrCorrupt)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("copy master: %w", err)
	}
	m.sha = sha
	return m, nil
}

func magicName(m [4]byte) string {
	if string(m[:]) == "RIFF" {
		return "WAV"
	}
	return "FLAC"
}

func (m *master) checkFormat() error {
	switch {
	case m.channels < 1 || m.channels > MaxChannels:
		return fmt.Errorf("%w: %d channels (1..%d)", ErrUnsupportedFormat, m.channels, MaxChannels)
	case m.rate < MinRate || m.rate > MaxRate:
		return fmt.Errorf("%w: sample rate %d (%d..%d)", ErrUnsupportedFormat, m.rate, MinRate, MaxRate)
	}
	return checkMasterRate(m.rate)
}

func (m *master) decodeWAV(r io.Reader, size int64) error {
	wr, err := wav.NewReader(r, size)
	if err != nil {
		return wavErr(err)
	}
	f := wr.Format()
	m.rate, m.channels = f.Rate, f.Channels
	if err := m.begin(); err != nil {
		return err
	}
	if m.encFile != nil {
		if m.enc, err = pwav.NewWriter(m.encFile, m.rate, m.channels, copyFormat(f)); err != nil {
			return fmt.Errorf("copy master: %w", err)
		}
	}
	buf := make([]float32, 8192*m.channels)
	for {
		n, err := wr.Read(buf)
		if werr := m.write(buf[:n]); werr != nil {
			return werr
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return wavErr(err)
		}
	}
	if m.enc != nil {
		if err := m.enc.Close(); err != nil {
			return fmt.Errorf("copy master: %w", err)
		}
	}
	m.end()
	return nil
}

// copyFormat is the sample format of the encoder's copy of a WAV master
// in format f: 16- and 24-bit integer samples are kept exactly, 32-bit
// integer and float samples are written as float.
func copyFormat(f wav.Format) pwav.Format {
	switch {
	case !f.Float && f.BitsPerSample == 16:
		return pwav.S16
	case !f.Float && f.BitsPerSample == 24:
		return pwav.S24
	}
	return pwav.F32
}

func wavErr(err error) error {
	switch {
	case errors.Is(err, wav.ErrTruncated):
		return fmt.Errorf("%w: %v", ErrTruncated, err)
	case errors.Is(err, wav.ErrUnsupported):
		return fmt.Errorf("%w: %v", ErrUnsupportedFormat, err)
	default:
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
}

func (m *master) decodeFLAC(r io.Reader) error {
	st, err := flac.Parse(r)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: flac metadata ends early", ErrTruncated)
	}
	if err != nil {
		return fmt.Errorf("%w: flac: %v", ErrCorrupt, err)
	}
	info := st.Info
	m.rate, m.channels = int(info.SampleRate), int(info.NChannels)
	if err := m.begin(); err != nil {
		return err
	}
	if info.BitsPerSample < 4 || info.BitsPerSample > MaxFLACBits {
		return fmt.Errorf("%w: %d-bit FLAC (4 to %d bits per sample)", ErrUnsupportedFormat, info.BitsPerSample, MaxFLACBits)
	}
	if info.NSamples > uint64(MaxSeconds)*uint64(m.rate) {
		return fmt.Errorf("%w: %d samples is over %d s", ErrTooLarge, info.NSamples, MaxSeconds)
	}
	m.tags = map[string]string{}
	for _, b := range st.Blocks {
		if vc, ok := b.Body.(*meta.VorbisComment); ok {
			for _, kv := range vc.Tags {
				k := strings.ToUpper(kv[0])
				if _, dup := m.tags[k]; !dup {
					m.tags[k] = kv[1]
				}
			}
		}
	}
	scale := 1 / float32(int64(1)<<(info.BitsPerSample-1))
	var buf []float32
	for {
		fr, err := st.ParseNext()
		if err == io.EOF {
			break
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("%w: flac frame after sample %d: %v", ErrTruncated, m.frames, err)
			}
			return fmt.Errorf("%w: flac frame after sample %d: %v", ErrCorrupt, m.frames, err)
		}
		if len(fr.Subframes) != m.channels {
			return fmt.Errorf("%w: flac frame with %d channels", ErrCorrupt, len(fr.Subframes))
		}
		// The samples are scaled by STREAMINFO's sample size: frames of
		// another one (or of the "see STREAMINFO" code, which the decoder
		// takes for 0 bits) were measured 48 dB off — 16-bit frames under
		// a STREAMINFO of 24 bits ingested, and played about 5 dB over the
		// normalisation target, a file libFLAC refuses. A frame of another
		// sample rate is refused likewise (0: STREAMINFO's).
		if fr.BitsPerSample != info.BitsPerSample || fr.SampleRate != 0 && fr.SampleRate != info.SampleRate {
			return fmt.Errorf("%w: flac frame after sample %d: %d bits per sample at %d Hz, STREAMINFO says %d bits at %d Hz",
				ErrCorrupt, m.frames, fr.BitsPerSample, fr.SampleRate, info.BitsPerSample, info.SampleRate)
		}
		n := len(fr.Subframes[0].Samples)
		buf = buf[:0]
		for i := range n {
			for _, sf := range fr.Subframes {
				if len(sf.Samples) != n {
					return fmt.Errorf("%w: flac subframes of unequal length", ErrCorrupt)
				}
				buf = append(buf, float32(sf.Samples[i])*scale)
			}
		}
		if err := m.write(buf); err != nil {
			return err
		}
		if info.NSamples != 0 && uint64(m.frames) > info.NSamples {
			// Not a cut file: the tools disagree on its length (sox
			// reads the header's count, ffmpeg every frame; flac -d
			// writes every frame under a WAV header of the header's).
			return fmt.Errorf("%w: flac holds %d samples or more, more than the header's %d", ErrCorrupt, m.frames, info.NSamples)
		}
		if m.frames > int64(MaxSeconds)*int64(m.rate) {
			return fmt.Errorf("%w: over %d s", ErrTooLarge, MaxSeconds)
		}
	}
	if m.frames == 0 {
		return fmt.Errorf("%w: flac has no audio", ErrCorrupt)
	}
	if info.NSamples != 0 && uint64(m.frames) != info.NSamples {
		return fmt.Errorf("%w: flac holds %d samples, header says %d", ErrTruncated, m.frames, info.NSamples)
	}
	m.end()
	return nil
}

// tagReleaseDate returns the release date a FLAC DATE tag starts with:
// its longest prefix that is a model.ValidReleaseDate (YYYY-MM-DD,
// YYYY-MM or YYYY), so "2019-05-03T00:00:00Z" gives "2019-05-03", and ""
// when it starts with none ("05/03/2019", "unknown"). A tag is what a
// tagging tool wrote, not the uploader's statement, so a form the
// catalog does not keep is dropped rather than failing the master; a
// sidecar's release_date is still checked strictly.
func tagReleaseDate(tag string) string {
	for _, n := range []int{10, 7, 4} {
		if len(tag) >= n && model.ValidReleaseDate(tag[:n]) {
			return tag[:n]
		}
	}
	return ""
}

// tagISRC returns the ISRC a FLAC ISRC tag holds in the catalog's form
// (model.ValidISRC): upper case, without the hyphens of the display form
// US-RC1-76-07839, which the metadata import and its attachment of audio
// by ISRC never match; "" when the tag holds none. As for DATE, a tag is
// what a tagging tool wrote: a form the catalog does not keep is dropped
// rather than failing the master.
func tagISRC(tag string) string {
	if s := strings.ToUpper(strings.ReplaceAll(tag, "-", "")); model.ValidISRC(s) {
		return s
	}
	return ""
}

// tagNumber returns the number a FLAC TRACKNUMBER or DISCNUMBER tag
// holds, alone or before a slash ("3", "3/12"), and whether it is one in
// 1..limit; as for DATE, a tag the catalog does not keep is dropped
// rather than failing the master.
func tagNumber(tag string, limit int) (int, bool) {
	s, _, _ := strings.Cut(tag, "/")
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > limit {
		return 0, false
	}
	return n, true
}

// droppedTag is a FLAC tag applyTags did not keep, and the form it wants.
type droppedTag struct{ tag, want string }

// applyTags fills empty fields of t from FLAC tags and returns the tags
// it dropped as not in a form the catalog keeps.
func (m *master) applyTags(t *TrackRequest) []droppedTag {
	var dropped []droppedTag
	tag := func(k string) string { return strings.TrimSpace(m.tags[k]) }
	t.Title = cmpOr(t.Title, tag("TITLE"))
	if len(t.Artists) == 0 && tag("ARTIST") != "" {
		t.Artists = []string{tag("ARTIST")}
	}
	t.Album = cmpOr(t.Album, tag("ALBUM"))
	if len(t.AlbumArtists) == 0 && tag("ALBUMARTIST") != "" {
		t.AlbumArtists = []string{tag("ALBUMARTIST")}
	}
	if t.ISRC == "" && tag("ISRC") != "" {
		if t.ISRC = tagISRC(tag("ISRC")); t.ISRC == "" {
			dropped = append(dropped, droppedTag{"ISRC", "CCXXXYYNNNNN"})
		}
	}
	if t.ReleaseDate == "" && tag("DATE") != "" {
		if t.ReleaseDate = tagReleaseDate(tag("DATE")); t.ReleaseDate == "" {
			dropped = append(dropped, droppedTag{"DATE", "YYYY, YYYY-MM or YYYY-MM-DD"})
		}
	}
	num := func(n *int, k string, limit int) {
		if *n != 0 || tag(k) == "" {
			return
		}
		ok := false
		if *n, ok = tagNumber(tag(k), limit); !ok {
			dropped = append(dropped, droppedTag{k, fmt.Sprintf("1..%d", limit)})
		}
	}
	num(&t.TrackNumber, "TRACKNUMBER", MaxTrackNumber)
	num(&t.DiscNumber, "DISCNUMBER", MaxDiscNumber)
	return dropped
}
