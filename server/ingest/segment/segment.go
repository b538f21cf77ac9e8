// Package segment splits one Ogg Vorbis stream into a header blob and
// self-decodable chunks, as docs/ARCHITECTURE.md §3 specifies.
//
// It is pure: bytes in, bytes out, no I/O. The header blob is the pages
// holding the three Vorbis header packets, byte for byte. Chunks are cut
// only before pages that begin a new packet, with durations ramping up
// (≈1 s, 2 s, 4 s, then ≈8 s by default). Every chunk after the first
// starts with a primer page holding the last packet of the previous chunk,
// so header ‖ chunk decodes alone to exactly the chunk's samples, while
// header ‖ chunk0 ‖ chunk1[PrimerSize:] ‖ … is the original file.
//
//	st, err := segment.Split(oggBytes, segment.DefaultOptions())
//	if err != nil {
//		return err
//	}
//	for _, c := range st.Chunks {
//		fmt.Println(c.FirstSample, c.Samples, len(c.Data))
//	}
package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/segue-fm/segue/player/ogg"
)

// Errors of Split. Check them with errors.Is; the wrapped message says
// what exactly is wrong.
var (
	// ErrNotVorbis means the bytes are not an Ogg Vorbis stream.
	ErrNotVorbis = errors.New("segment: not an Ogg Vorbis stream")
	// ErrTruncated means the stream ends before its end-of-stream page.
	ErrTruncated = errors.New("segment: truncated Ogg stream")
	// ErrUnsupported means a valid but unsupported layout: several logical
	// streams (chained or multiplexed), or audio sharing a page with the
	// headers.
	ErrUnsupported = errors.New("segment: unsupported Ogg layout")
	// ErrTooLarge means the stream exceeds Options.MaxStreamBytes.
	ErrTooLarge = errors.New("segment: stream too large")
	// ErrDamaged means a page fails its checksum: the bytes were changed
	// after they were written.
	ErrDamaged = errors.New("segment: damaged Ogg page")
)

// Options tune the chunk layout. The zero value is not useful; start from
// DefaultOptions.
type Options struct {
	ramp           []time.Duration
	steady         time.Duration
	maxChunkBytes  int
	maxStreamBytes int
}

// DefaultOptions returns the layout of the design: a ramp of 1 s, 2 s and
// 4 s chunks, then 8 s chunks; chunks of at most 4 MiB; streams of at most
// 1 GiB.
func DefaultOptions() Options {
	return Options{
		ramp:           []time.Duration{time.Second, 2 * time.Second, 4 * time.Second},
		steady:         8 * time.Second,
		maxChunkBytes:  4 << 20,
		maxStreamBytes: 1 << 30,
	}
}

// WithRamp returns o with the target durations of the first chunks
// (default 1 s, 2 s, 4 s) and of every later chunk (default 8 s). Targets
// must be positive.
func (o Options) WithRamp(steady time.Duration, first ...time.Duration) Options {
	o.ramp = append([]time.Duration(nil), first...)
	o.steady = steady
	return o
}

// WithMaxChunkBytes returns o with a cap on one chunk's size: a chunk is
// cut early rather than exceed it (default 4 MiB). A single page larger
// than the cap still makes a chunk of its own.
func (o Options) WithMaxChunkBytes(n int) Options { o.maxChunkBytes = n; return o }

// WithMaxStreamBytes returns o with the largest accepted input (default
// 1 GiB).
func (o Options) WithMaxStreamBytes(n int) Options { o.maxStreamBytes = n; return o }

func (o Options) target(i int) time.Duration {
	if i < len(o.ramp) {
		return o.ramp[i]
	}
	return o.steady
}

// Stream is a segmented Ogg Vorbis stream.
type Stream struct {
	// Header is the header pages byte for byte. It aliases the input.
	Header []byte
	// Chunks hold the audio; see Chunk.
	Chunks []Chunk
	// Serial is the logical stream's serial number.
	Serial uint32
	// SampleRate and Channels come from the identification header.
	SampleRate int
	Channels   int
	// NominalBitrate is the identification header's nominal bitrate in
	// bits per second, or 0 when the encoder left it unset.
	NominalBitrate int
	// TotalSamples is the final granule position: the exact number of
	// sample frames the stream decodes to.
	TotalSamples int64
}

// AverageBitrate returns the audio's mean bitrate in bits per second,
// counting chunk pages without primers.
func (s *Stream) AverageBitrate() int {
	if s.TotalSamples <= 0 || s.SampleRate <= 0 {
		return 0
	}
	var n int64
	for _, c := range s.Chunks {
		n += int64(len(c.Data) - c.PrimerSize)
	}
	return int(n * 8 * int64(s.SampleRate) / s.TotalSamples)
}

// Chunk is one chunk of a Stream.
type Chunk struct {
	// Data is the primer page (PrimerSize bytes, none for chunk 0) followed
	// by whole original pages. It is freshly allocated and owned by the
	// caller.
	Data []byte
	// PrimerSize is the length of the primer page at the start of Data.
	PrimerSize int
	// FirstSample is the stream position of the chunk's first sample;
	// Samples is how many sample frames decoding header ‖ Data yields.
	FirstSample int64
	Samples     int64
}

// page is one parsed page with its position in the input.
type page struct {
	off, size int
	granule   int64
	seq       uint32
	continued bool
	// last is the last packet completed on this page (reassembled when it
	// spans pages), or nil when none completes here.
	last []byte
}

// Split segments the Ogg Vorbis stream in data. data must be exactly one
// logical Vorbis stream from its BOS page to its EOS page.
func Split(data []byte, o Options) (*Stream, error) {
	if o.maxStreamBytes > 0 && len(data) > o.maxStreamBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), o.maxStreamBytes)
	}
	if o.steady <= 0 {
		return nil, errors.New("segment: options without a steady chunk duration; use DefaultOptions")
	}
	pages, headers, nHeaderPages, err := parse(data)
	if err != nil {
		return nil, err
	}
	st := &Stream{Serial: binary.LittleEndian.Uint32(data[14:18])}
	if err := st.parseIdent(headers[0]); err != nil {
		return nil, err
	}
	if err := checkHeader(headers[1], 3); err != nil {
		return nil, err
	}
	if err := checkHeader(headers[2], 5); err != nil {
		return nil, err
	}
	hdrEnd := pages[nHeaderPages-1].off + pages[nHeaderPages-1].size
	st.Header = data[:hdrEnd]
	audio := pages[nHeaderPages:]
	if len(audio) == 0 {
		return nil, fmt.Errorf("%w: no audio pages", ErrNotVorbis)
	}
	if audio[0].continued {
		return nil, fmt.Errorf("%w: first audio page continues a header packet", ErrUnsupported)
	}
	final := audio[len(audio)-1].granule
	if final < 0 {
		return nil, fmt.Errorf("%w: last page has no granule position", ErrNotVorbis)
	}
	st.TotalSamples = final
	st.Chunks, err = cut(data, audio, st.Serial, int64(st.SampleRate), final, o)
	if err != nil {
		return nil, err
	}
	return st, nil
}

// parse walks every page, checking the single-stream layout, and returns
// the pages, the three header packets and the number of header pages.
func parse(data []byte) (pages []page, headers [][]byte, nHeaderPages int, err error) {
	var (
		serial  uint32
		partial []byte
		inPart  bool
		granule int64
		sawEOS  bool
	)
	for off := 0; off < len(data); {
		if sawEOS {
			return nil, nil, 0, fmt.Errorf("%w: data after the end-of-stream page at byte %d", ErrUnsupported, off)
		}
		p, n, perr := ogg.ParsePage(data[off:])
		if errors.Is(perr, ogg.ErrShort) {
			return nil, nil, 0, fmt.Errorf("%w: partial page at byte %d", ErrTruncated, off)
		}
		if errors.Is(perr, ogg.ErrCRC) {
			return nil, nil, 0, fmt.Errorf("%w: checksum mismatch in the page at byte %d", ErrDamaged, off)
		}
		if perr != nil {
			return nil, nil, 0, fmt.Errorf("%w: page at byte %d: %v", ErrNotVorbis, off, perr)
		}
		i := len(pages)
		switch {
		case i == 0 && !p.BOS():
			return nil, nil, 0, fmt.Errorf("%w: first page lacks the BOS flag", ErrNotVorbis)
		case i == 0:
			serial = p.Serial
		case p.Serial != serial || p.BOS():
			return nil, nil, 0, fmt.Errorf("%w: second logical stream at byte %d", ErrUnsupported, off)
		case p.Sequence != pages[i-1].seq+1:
			return nil, nil, 0, fmt.Errorf("%w: page sequence jumps from %d to %d at byte %d", ErrNotVorbis, pages[i-1].seq, p.Sequence, off)
		}
		if p.Continued() != inPart {
			return nil, nil, 0, fmt.Errorf("%w: continuation flag inconsistent at byte %d", ErrNotVorbis, off)
		}
		pg := page{off: off, size: n, granule: p.Granule, seq: p.Sequence, continued: p.Continued()}
		completed, afterHeaders := 0, 0
		p.Packets(func(d []byte, first, last bool) {
			if first {
				partial = partial[:0]
			}
			if len(headers) == 3 && nHeaderPages == i+1 {
				afterHeaders++
			}
			if !last {
				partial = append(partial, d...)
				inPart = true
				return
			}
			inPart = false
			completed++
			if len(partial) > 0 && !first {
				pg.last = append(append([]byte(nil), partial...), d...)
				partial = partial[:0]
			} else {
				pg.last = d
			}
			if len(headers) < 3 {
				headers = append(headers, pg.last)
				if len(headers) == 3 {
					nHeaderPages = i + 1
				}
			}
		})
		if len(partial) > 1<<24 {
			return nil, nil, 0, fmt.Errorf("%w: packet over 16 MiB at byte %d", ErrNotVorbis, off)
		}
		if afterHeaders > 0 {
			return nil, nil, 0, fmt.Errorf("%w: audio shares a page with the setup header", ErrUnsupported)
		}
		isAudio := nHeaderPages > 0 && i >= nHeaderPages
		switch {
		case completed == 0 && p.Granule != ogg.NoGranule:
			return nil, nil, 0, fmt.Errorf("%w: granule on a page where no packet ends, byte %d", ErrNotVorbis, off)
		case isAudio && completed > 0 && p.Granule < granule:
			return nil, nil, 0, fmt.Errorf("%w: granule position %d goes back at byte %d", ErrNotVorbis, p.Granule, off)
		case isAudio && completed > 0:
			granule = p.Granule
		}
		sawEOS = p.EOS()
		pages = append(pages, pg)
		off += n
	}
	switch {
	case len(pages) == 0:
		return nil, nil, 0, fmt.Errorf("%w: empty input", ErrNotVorbis)
	case len(headers) < 3:
		return nil, nil, 0, fmt.Errorf("%w: stream ends inside the headers", ErrTruncated)
	case !sawEOS:
		return nil, nil, 0, fmt.Errorf("%w: no end-of-stream page", ErrTruncated)
	}
	return pages, headers, nHeaderPages, nil
}

func (s *Stream) parseIdent(b []byte) error {
	if len(b) < 30 || b[0] != 1 || string(b[1:7]) != "vorbis" {
		return fmt.Errorf("%w: bad identification header", ErrNotVorbis)
	}
	if v := binary.LittleEndian.Uint32(b[7:11]); v != 0 {
		return fmt.Errorf("%w: vorbis version %d", ErrNotVorbis, v)
	}
	s.Channels = int(b[11])
	rate := binary.LittleEndian.Uint32(b[12:16])
	nominal := int32(binary.LittleEndian.Uint32(b[20:24]))
	bs0, bs1 := b[28]&0x0f, b[28]>>4
	switch {
	case s.Channels == 0:
		return fmt.Errorf("%w: zero channels", ErrNotVorbis)
	case rate == 0 || rate > 1<<20:
		return fmt.Errorf("%w: sample rate %d", ErrNotVorbis, rate)
	case bs0 < 6 || bs1 > 13 || bs0 > bs1:
		return fmt.Errorf("%w: block sizes 2^%d, 2^%d", ErrNotVorbis, bs0, bs1)
	case b[29]&1 == 0:
		return fmt.Errorf("%w: identification header framing bit clear", ErrNotVorbis)
	}
	s.SampleRate = int(rate)
	if nominal > 0 {
		s.NominalBitrate = int(nominal)
	}
	return nil
}

func checkHeader(b []byte, typ byte) error {
	if len(b) < 7 || b[0] != typ || string(b[1:7]) != "vorbis" {
		return fmt.Errorf("%w: header packet of type %d missing", ErrNotVorbis, typ)
	}
	return nil
}

// cut chooses the chunk boundaries among the audio pages and builds the
// chunks.
func cut(data []byte, audio []page, serial uint32, rate, final int64, o Options) ([]Chunk, error) {
	bounds := []int{0} // chunk starts at audio[bounds[k]]
	start := int64(0)  // FirstSample of the current chunk
	startOff := audio[0].off
	tail := rate / 2 // never leave a last chunk shorter than this
	cand := -1       // the latest usable boundary short of the target
	for i := 1; i < len(audio); i++ {
		if audio[i].continued {
			continue
		}
		prev := audio[i-1]
		g := prev.granule
		if len(prev.last) > 255*255 || g <= start || final-g < tail {
			continue // primer would not fit one page, nothing to play, or too close to the end
		}
		target := int64(o.target(len(bounds)-1)/time.Millisecond) * rate / 1000
		overBytes := o.maxChunkBytes > 0 && audio[i].off+audio[i].size-startOff > o.maxChunkBytes
		if g-start < target && !overBytes {
			cand = i
			continue
		}
		pick := i
		// Cut at whichever boundary lands closer to the target, unless the
		// farther one would exceed the byte cap.
		if cand > 0 && (overBytes || target-(audio[cand-1].granule-start) < g-start-target) {
			pick = cand
		}
		bounds = append(bounds, pick)
		start, startOff, cand = audio[pick-1].granule, audio[pick].off, -1
		i = pick
	}
	chunks := make([]Chunk, len(bounds))
	for ci, b := range bounds {
		endPage := len(audio)
		if ci+1 < len(bounds) {
			endPage = bounds[ci+1]
		}
		first, last := audio[b], audio[endPage-1]
		body := data[first.off : last.off+last.size]
		c := Chunk{Samples: last.granule}
		if ci > 0 {
			prev := audio[b-1]
			primer, err := ogg.SinglePacketPage(serial, first.seq-1, prev.granule, 0, prev.last)
			if err != nil {
				return nil, fmt.Errorf("segment: primer of chunk %d: %w", ci, err)
			}
			c.FirstSample = prev.granule
			c.Samples -= prev.granule
			c.PrimerSize = len(primer)
			c.Data = append(primer, body...)
		} else {
			c.Data = append([]byte(nil), body...)
		}
		chunks[ci] = c
	}
	return chunks, nil
}
