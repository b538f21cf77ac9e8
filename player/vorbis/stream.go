package vorbis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/segue-fm/segue/player/ogg"
)

// StreamReader decodes a whole Ogg Vorbis stream, applying the start and
// end trimming that granule positions call for exactly as libvorbisfile
// does, so a file decodes to exactly its source's samples. It follows
// chained streams (a new link starts with new headers; Link and Info
// change) and ignores other multiplexed logical streams after the first.
type StreamReader struct {
	or   *ogg.Reader
	opts Options
	dec  *Decoder
	link int
	err  error

	holes   int   // gaps in page sequence numbers met
	clamped int64 // Clamped of the decoders of earlier links
	granule int64 // stream position after the last packet, -1 unknown
	count   int64 // samples output since the stream (re)started, -1 before the first packet
	out     [][]float32
}

// NewStreamReader returns a StreamReader over the Ogg stream r.
func NewStreamReader(r io.Reader, opts Options) *StreamReader {
	return &StreamReader{or: ogg.NewReader(r), opts: opts, link: -1}
}

// Info describes the link of the most recently returned samples (or of
// the first link before any). It is the zero Info before the headers of
// the first link have been read.
func (s *StreamReader) Info() Info {
	if s.dec == nil {
		return Info{}
	}
	return s.dec.Info()
}

// Link returns the index of the chained-stream link that the most
// recently returned samples belong to, counting from 0.
func (s *StreamReader) Link() int { return s.link }

// Damage describes what a StreamReader skipped of a damaged stream:
// audio in it is missing from the output.
type Damage struct {
	// SkippedBytes counts bytes that were not part of a page with a
	// valid CRC: garbage, or corrupt pages, skipped while resynchronising.
	SkippedBytes int64
	// Holes counts gaps in the page sequence (pages lost or corrupt).
	Holes int
	// Truncated reports that the stream ended inside a page or packet
	// after its headers (a file cut short): the audio after its last
	// whole packet is missing.
	Truncated bool
}

// Clamped returns how many samples decoded so far, in every link (before
// granule trimming), were NaN, infinite or beyond ±16 and were returned
// as 0 or ±16 (Decoder.Clamped): a stream no encoder writes.
func (s *StreamReader) Clamped() int64 {
	if s.dec == nil {
		return s.clamped
	}
	return s.clamped + s.dec.Clamped()
}

// Damaged reports whether anything was skipped.
func (d Damage) Damaged() bool { return d.SkippedBytes > 0 || d.Holes > 0 || d.Truncated }

// Damage reports what has been skipped so far.
func (s *StreamReader) Damage() Damage {
	return Damage{SkippedBytes: s.or.Lost, Holes: s.holes,
		Truncated: errors.Is(s.err, io.ErrUnexpectedEOF) && s.dec != nil && s.dec.Ready()}
}

// ReadHeaders reads up to the end of the first link's headers, so that
// Info is valid before any audio is decoded. Calling it is optional.
func (s *StreamReader) ReadHeaders(ctx context.Context) error {
	for s.dec == nil || !s.dec.Ready() {
		if err := ctx.Err(); err != nil {
			return err
		}
		pkt, err := s.or.Next()
		if err != nil {
			if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
				err = fmt.Errorf("%w: stream ends before its headers", ErrHeader)
			}
			return err
		}
		if err := s.header(pkt); err != nil {
			return err
		}
	}
	return nil
}

// header starts a new link on a BOS packet and feeds header packets.
func (s *StreamReader) header(pkt ogg.Packet) error {
	if pkt.BOS || s.dec == nil {
		if s.dec != nil {
			s.clamped += s.dec.Clamped()
		}
		s.dec = NewDecoder(s.opts)
		s.link++
		s.granule, s.count = -1, -1
	}
	if err := s.dec.ReadHeader(pkt.Data); err != nil {
		return fmt.Errorf("link %d: %w", s.link, err)
	}
	return nil
}

// Next decodes until it has samples and returns them, one slice per
// channel of the current link. The slices are owned by the StreamReader
// and valid until the next call. It returns io.EOF at the end of the
// stream; a stream cut inside a packet ends with io.ErrUnexpectedEOF
// after every complete packet has been returned.
func (s *StreamReader) Next(ctx context.Context) ([][]float32, error) {
	if s.err != nil {
		return nil, s.err
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		pkt, err := s.or.Next()
		if err != nil {
			if (err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF)) && (s.dec == nil || !s.dec.Ready()) {
				err = fmt.Errorf("%w: stream ends before its headers", ErrHeader)
			}
			s.err = err
			return nil, err
		}
		if pkt.BOS || s.dec == nil || !s.dec.Ready() {
			if err := s.header(pkt); err != nil {
				s.err = err
				return nil, err
			}
			continue
		}
		if pkt.Hole {
			s.holes++
			s.dec.Reset()
			s.granule, s.count = -1, -1
		}
		if len(pkt.Data) == 0 || pkt.Data[0]&1 != 0 {
			continue // not an audio packet: skipped, as libvorbisfile does
		}
		pcm, err := s.dec.Decode(pkt.Data)
		if errors.Is(err, ErrNotAudio) {
			continue
		}
		if err != nil {
			s.err = err
			return nil, err
		}
		lo, hi := s.trim(len(pcm[0]), pkt.Granule, pkt.EOS)
		if hi <= lo {
			continue
		}
		s.out = s.out[:0]
		for _, c := range pcm {
			s.out = append(s.out, c[lo:hi])
		}
		return s.out, nil
	}
}

// trim applies libvorbis' granule-position bookkeeping to a packet that
// produced n samples and returns the range of them to keep.
func (s *StreamReader) trim(n int, granule int64, eos bool) (lo, hi int) {
	hi = n
	if s.count < 0 {
		s.count = 0
	} else {
		s.count += int64(n)
	}
	if s.granule < 0 {
		if granule < 0 {
			return 0, n
		}
		s.granule = granule
		if extra := s.count - granule; extra > 0 {
			if eos {
				hi -= int(min(extra, int64(n)))
			} else {
				lo += int(min(extra, int64(n)))
			}
		}
		return lo, hi
	}
	s.granule += int64(n)
	if granule >= 0 && s.granule != granule {
		if extra := s.granule - granule; extra > 0 && eos {
			hi -= int(min(extra, int64(n)))
		}
		s.granule = granule
	}
	return lo, hi
}

// Interleave appends the planar samples (one slice per channel, equal
// lengths) to dst in interleaved order and returns the extended slice.
func Interleave(dst []float32, planar [][]float32) []float32 {
	if len(planar) == 0 {
		return dst
	}
	n := len(planar[0])
	ch := len(planar)
	base := len(dst)
	dst = slices.Grow(dst, n*ch)[:base+n*ch]
	out := dst[base:]
	for c, p := range planar {
		p = p[:n]
		for i, v := range p {
			out[i*ch+c] = v
		}
	}
	return dst
}
