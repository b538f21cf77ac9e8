// Package wav is a strict, streaming reader of RIFF/WAVE PCM files: 16-,
// 24- and 32-bit integer and 32-bit IEEE float, any channel count up to
// MaxChannels, plain and WAVE_FORMAT_EXTENSIBLE headers. RF64 is not
// supported.
//
// Every size in the header is checked against the file size, so a
// truncated file is reported at Open, before any audio is read (a
// streamed or unfinished header, whose sizes say "unknown" or 0, ends
// with the file):
//
//	r, err := wav.NewReader(f, fileSize)
//	if err != nil {
//		return err // wraps ErrTruncated, ErrUnsupported or ErrMalformed
//	}
//	buf := make([]float32, 4096*r.Format().Channels)
//	for {
//		n, err := r.Read(buf)
//		meter.Write(buf[:n])
//		if err == io.EOF {
//			break
//		}
//		if err != nil {
//			return err
//		}
//	}
package wav

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// Limits on accepted files.
const (
	MaxChannels = 8
	MinRate     = 8000
	MaxRate     = 192000
	MaxSize     = 2 << 30 // bytes of file
	MaxDuration = 3 * 3600
)

// Errors of the reader; check with errors.Is.
var (
	// ErrMalformed means the bytes are not a well-formed WAVE file.
	ErrMalformed = errors.New("wav: malformed file")
	// ErrTruncated means the file is shorter than its header says.
	ErrTruncated = errors.New("wav: truncated file")
	// ErrUnsupported means a well-formed file in a format or size this
	// reader does not accept.
	ErrUnsupported = errors.New("wav: unsupported format")
)

// Format describes the audio of a WAVE file.
type Format struct {
	Rate          int
	Channels      int
	BitsPerSample int  // 16, 24 or 32
	Float         bool // IEEE float (then BitsPerSample is 32)
	Frames        int64
}

// Reader decodes the sample frames of a WAVE file to float32.
type Reader struct {
	r      *bufio.Reader
	f      Format
	left   int64 // bytes of sample data not yet read
	bps    int   // bytes per sample
	frame  []byte
	hdrLen int64
}

// subformat GUID tail shared by PCM and float in WAVE_FORMAT_EXTENSIBLE.
const guidTail = "\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"

// unknownSize is the RIFF and data chunk size a writer that cannot seek
// back to fill them in leaves (ffmpeg writing to a pipe): a streamed file.
const unknownSize = 0xFFFFFFFF

// NewReader parses the header of the WAVE file read from r, whose total
// size is size bytes, up to the start of the sample data. It validates
// every chunk size against size. The chunks are read up to size, not up
// to the RIFF size, which a writer may leave unfinished: 0 or too small
// (a recorder that wrote the header before the audio) or 0xFFFFFFFF (a
// streamed file), as ffmpeg and sox read them; a RIFF size past the end
// of the file is a truncated file. Under such an unfinished RIFF size
// (0xFFFFFFFF, or one that ends before the data chunk), a data size of
// 0xFFFFFFFF or 0 means the audio runs to the end of the file, in whole
// frames as any data chunk; such a file cut between two frames cannot be
// told from a whole one.
func NewReader(r io.Reader, size int64) (*Reader, error) {
	if size > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrUnsupported, size, int64(MaxSize))
	}
	br := bufio.NewReaderSize(r, 64<<10)
	var hdr [12]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, fmt.Errorf("%w: %d-byte file has no RIFF header", ErrMalformed, size)
	}
	switch {
	case string(hdr[0:4]) == "RF64":
		return nil, fmt.Errorf("%w: RF64", ErrUnsupported)
	case string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE":
		return nil, fmt.Errorf("%w: not a RIFF/WAVE file", ErrMalformed)
	}
	riff := int64(binary.LittleEndian.Uint32(hdr[4:8]))
	if riff != unknownSize && riff+8 > size {
		return nil, fmt.Errorf("%w: RIFF says %d bytes, file has %d", ErrTruncated, riff+8, size)
	}
	pos := int64(12)
	w := &Reader{r: br}
	haveFmt := false
	chunks, last := 0, "" // chunks before the data chunk, for the error
	for {
		if pos+8 > size {
			if pos < size {
				return nil, fmt.Errorf("%w: no data chunk in %d chunks (the last %q), then %d bytes after the last chunk", ErrMalformed, chunks, last, size-pos)
			}
			return nil, fmt.Errorf("%w: no data chunk in %d chunks (the last %q)", ErrMalformed, chunks, last)
		}
		var ch [8]byte
		if _, err := io.ReadFull(br, ch[:]); err != nil {
			return nil, fmt.Errorf("%w: chunk header at byte %d", ErrTruncated, pos)
		}
		id, n := string(ch[:4]), int64(binary.LittleEndian.Uint32(ch[4:8]))
		pos += 8
		if id == "data" {
			if !haveFmt {
				return nil, fmt.Errorf("%w: data chunk before fmt chunk", ErrMalformed)
			}
			unfinished := riff == unknownSize || riff+8 <= pos
			if unfinished && (n == unknownSize || n == 0) {
				n = size - pos
			}
			if pos+n > size {
				return nil, fmt.Errorf("%w: data chunk says %d bytes, %d remain", ErrTruncated, n, size-pos)
			}
			return w.start(n, pos)
		}
		if pos+n+n&1 > size {
			return nil, fmt.Errorf("%w: %q chunk at byte %d says %d bytes, %d remain", ErrTruncated, id, pos-8, n, size-pos)
		}
		chunks, last = chunks+1, id
		if id == "fmt " {
			if haveFmt {
				return nil, fmt.Errorf("%w: two fmt chunks", ErrMalformed)
			}
			if n < 16 || n > 1024 {
				return nil, fmt.Errorf("%w: fmt chunk of %d bytes", ErrMalformed, n)
			}
			b := make([]byte, n)
			if _, err := io.ReadFull(br, b); err != nil {
				return nil, fmt.Errorf("%w: fmt chunk", ErrTruncated)
			}
			if err := w.parseFmt(b); err != nil {
				return nil, err
			}
			haveFmt = true
			if n&1 == 1 {
				br.Discard(1)
			}
		} else if _, err := br.Discard(int(n + n&1)); err != nil {
			return nil, fmt.Errorf("%w: %q chunk", ErrTruncated, id)
		}
		pos += n + n&1
	}
}

func (w *Reader) parseFmt(b []byte) error {
	tag := binary.LittleEndian.Uint16(b[0:2])
	ch := int(binary.LittleEndian.Uint16(b[2:4]))
	rate := int(binary.LittleEndian.Uint32(b[4:8]))
	align := int(binary.LittleEndian.Uint16(b[12:14]))
	bits := int(binary.LittleEndian.Uint16(b[14:16]))
	if tag == 0xfffe {
		if len(b) < 40 || string(b[26:40]) != guidTail {
			return fmt.Errorf("%w: extensible fmt chunk without a known subformat", ErrUnsupported)
		}
		tag = binary.LittleEndian.Uint16(b[24:26])
		if vb := int(binary.LittleEndian.Uint16(b[18:20])); vb != 0 && vb != bits {
			return fmt.Errorf("%w: %d valid bits in %d-bit container", ErrUnsupported, vb, bits)
		}
	}
	switch {
	case tag != 1 && tag != 3:
		return fmt.Errorf("%w: format tag %#x (only PCM and IEEE float)", ErrUnsupported, tag)
	case tag == 1 && bits != 16 && bits != 24 && bits != 32:
		return fmt.Errorf("%w: %d-bit PCM", ErrUnsupported, bits)
	case tag == 3 && bits != 32:
		return fmt.Errorf("%w: %d-bit float", ErrUnsupported, bits)
	case ch < 1 || ch > MaxChannels:
		return fmt.Errorf("%w: %d channels (1..%d)", ErrUnsupported, ch, MaxChannels)
	case rate < MinRate || rate > MaxRate:
		return fmt.Errorf("%w: sample rate %d (%d..%d)", ErrUnsupported, rate, MinRate, MaxRate)
	case align != ch*bits/8:
		return fmt.Errorf("%w: block align %d for %d channels of %d bits", ErrMalformed, align, ch, bits)
	}
	w.f = Format{Rate: rate, Channels: ch, BitsPerSample: bits, Float: tag == 3}
	w.bps = bits / 8
	return nil
}

func (w *Reader) start(n, pos int64) (*Reader, error) {
	align := int64(w.bps * w.f.Channels)
	if n%align != 0 {
		return nil, fmt.Errorf("%w: data chunk of %d bytes is not whole %d-byte frames", ErrMalformed, n, align)
	}
	w.f.Frames = n / align
	if w.f.Frames > int64(MaxDuration)*int64(w.f.Rate) {
		return nil, fmt.Errorf("%w: %d frames is longer than %d s", ErrUnsupported, w.f.Frames, MaxDuration)
	}
	if w.f.Frames == 0 {
		return nil, fmt.Errorf("%w: data chunk is empty", ErrMalformed)
	}
	w.left, w.hdrLen = n, pos
	w.frame = make([]byte, 0, 4096*align)
	return w, nil
}

// Format returns the file's audio format, Frames included.
func (w *Reader) Format() Format { return w.f }

// maxFloat bounds float samples: one beyond ±8 (+18 dBFS; infinities
// included) is read as ±8, clipped as a conversion to integers clips it,
// and a NaN as 0.
const maxFloat = 8

// Read decodes up to len(dst)/Channels whole frames into dst as
// interleaved float32 in [-1, 1) (float files are passed through, within
// ±8: see maxFloat) and
// returns the number of values written, a multiple of Channels. It returns
// io.EOF after the last frame, and a wrapped ErrTruncated if the input ends
// early.
func (w *Reader) Read(dst []float32) (int, error) {
	if w.left == 0 {
		return 0, io.EOF
	}
	frames := min(int64(len(dst)/w.f.Channels), w.left/int64(w.bps*w.f.Channels), int64(cap(w.frame)/(w.bps*w.f.Channels)))
	if frames == 0 {
		return 0, fmt.Errorf("wav: read buffer smaller than one frame")
	}
	buf := w.frame[:frames*int64(w.bps*w.f.Channels)]
	if k, err := io.ReadFull(w.r, buf); err != nil {
		return 0, fmt.Errorf("%w: audio ends %d bytes early", ErrTruncated, w.left-int64(k))
	}
	w.left -= int64(len(buf))
	n := int(frames) * w.f.Channels
	switch {
	case w.f.Float:
		for i := range n {
			v := math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
			switch {
			case v != v:
				v = 0
			case v > maxFloat:
				v = maxFloat
			case v < -maxFloat:
				v = -maxFloat
			}
			dst[i] = v
		}
	case w.bps == 2:
		for i := range n {
			dst[i] = float32(int16(binary.LittleEndian.Uint16(buf[2*i:]))) / (1 << 15)
		}
	case w.bps == 3:
		for i := range n {
			v := int32(uint32(buf[3*i])<<8|uint32(buf[3*i+1])<<16|uint32(buf[3*i+2])<<24) >> 8
			dst[i] = float32(v) / (1 << 23)
		}
	default:
		for i := range n {
			dst[i] = float32(float64(int32(binary.LittleEndian.Uint32(buf[4*i:]))) / (1 << 31))
		}
	}
	return n, nil
}
