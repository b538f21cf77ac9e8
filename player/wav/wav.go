package wav

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// Format is a sample format of a WAV file.
type Format int

// Sample formats.
const (
	S16 Format = iota + 1 // signed 16-bit little-endian integer PCM
	F32                   // 32-bit little-endian IEEE float PCM
	S24                   // signed 24-bit little-endian integer PCM (3 bytes a sample)
)

// String returns "s16", "s24" or "f32".
func (f Format) String() string {
	switch f {
	case S16:
		return "s16"
	case S24:
		return "s24"
	case F32:
		return "f32"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// ParseFormat parses "s16", "s24" or "f32".
func ParseFormat(s string) (Format, error) {
	switch s {
	case "s16":
		return S16, nil
	case "s24":
		return S24, nil
	case "f32":
		return F32, nil
	}
	return 0, fmt.Errorf("%w: %q (want s16, s24 or f32)", ErrFormat, s)
}

func (f Format) bytes() int {
	switch f {
	case F32:
		return 4
	case S24:
		return 3
	}
	return 2
}

// Errors of the package.
var (
	// ErrFormat reports an unsupported sample format, channel count or
	// sample rate.
	ErrFormat = errors.New("wav: unsupported format")
	// ErrInvalid reports bytes that are not a WAV file this package reads.
	ErrInvalid = errors.New("wav: invalid file")
	// ErrClosed reports a write after Close.
	ErrClosed = errors.New("wav: writer closed")
	// ErrTooLarge reports data beyond the 4 GiB limit of RIFF sizes.
	ErrTooLarge = errors.New("wav: data exceeds 4 GiB")
)

const (
	formatPCM        = 1
	formatFloat      = 3
	formatExtensible = 0xfffe
)

// ChannelMask returns the default WAVE_FORMAT_EXTENSIBLE speaker mask for
// 1 to 8 channels in WAV order (FL FR FC LFE BL BR …), or 0 when there is
// no conventional layout.
func ChannelMask(channels int) uint32 {
	masks := [...]uint32{0, 0x4, 0x3, 0x7, 0x33, 0x37, 0x3f, 0x70f, 0x63f}
	if channels < 1 || channels >= len(masks) {
		return 0
	}
	return masks[channels]
}

// Writer writes one WAV file. It is not safe for concurrent use.
type Writer struct {
	w        io.Writer
	format   Format
	channels int
	rate     int
	data     int64 // bytes of sample data written
	buf      []byte
	closed   bool
}

// NewWriter writes a WAV header for the given rate, channel count (1 to
// 65535) and format to w and returns a Writer for the samples.
func NewWriter(w io.Writer, rate, channels int, f Format) (*Writer, error) {
	if f != S16 && f != S24 && f != F32 {
		return nil, fmt.Errorf("%w: format %v", ErrFormat, f)
	}
	if channels < 1 || channels > 65535 || rate < 1 || int64(rate)*int64(channels*f.bytes()) > math.MaxUint32 {
		return nil, fmt.Errorf("%w: %d channels at %d Hz", ErrFormat, channels, rate)
	}
	wr := &Writer{w: w, format: f, channels: channels, rate: rate}
	hdr := wr.header(rate, 0)
	if _, err := w.Write(hdr); err != nil {
		return nil, fmt.Errorf("write header: %w", err)
	}
	return wr, nil
}

// extensible reports whether the file needs WAVE_FORMAT_EXTENSIBLE: more
// than two channels (for the channel mask) or integer samples of more
// than 16 bits, as the Microsoft WAVE format rules require.
func (w *Writer) extensible() bool { return w.channels > 2 || w.format == S24 }

// header encodes the RIFF header for dataSize bytes of samples: the fmt
// chunk (16 bytes for plain PCM, 18 for IEEE float, 40 when extensible),
// then for float samples the fact chunk (frames per channel, which
// non-PCM formats must carry), then the data chunk header.
func (w *Writer) header(rate int, dataSize uint32) []byte {
	ext := w.extensible()
	fmtLen := 16
	switch {
	case ext:
		fmtLen = 40
	case w.format == F32:
		fmtLen = 18
	}
	factLen := 0
	if w.format == F32 {
		factLen = 12
	}
	bps := w.format.bytes()
	le := binary.LittleEndian
	b := make([]byte, 0, 20+fmtLen+factLen+8)
	b = append(b, "RIFF"...)
	b = le.AppendUint32(b, uint32(4+8+fmtLen+factLen+8)+dataSize)
	b = append(b, "WAVEfmt "...)
	b = le.AppendUint32(b, uint32(fmtLen))
	tag := uint16(formatPCM)
	if w.format == F32 {
		tag = formatFloat
	}
	if ext {
		b = le.AppendUint16(b, formatExtensible)
	} else {
		b = le.AppendUint16(b, tag)
	}
	b = le.AppendUint16(b, uint16(w.channels))
	b = le.AppendUint32(b, uint32(rate))
	b = le.AppendUint32(b, uint32(rate*w.channels*bps))
	b = le.AppendUint16(b, uint16(w.channels*bps))
	b = le.AppendUint16(b, uint16(8*bps))
	if ext {
		b = le.AppendUint16(b, 22)
		b = le.AppendUint16(b, uint16(8*bps))
		b = le.AppendUint32(b, ChannelMask(w.channels))
		// Sub-format GUID: tag followed by the standard suffix.
		b = le.AppendUint16(b, tag)
		b = append(b, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71)
	} else if fmtLen == 18 {
		b = le.AppendUint16(b, 0) // cbSize: no extension
	}
	if factLen > 0 {
		b = append(b, "fact"...)
		b = le.AppendUint32(b, 4)
		b = le.AppendUint32(b, dataSize/uint32(w.channels*bps))
	}
	b = append(b, "data"...)
	b = le.AppendUint32(b, dataSize)
	return b
}

// WriteFloat32 writes interleaved samples (a whole number of frames).
// Samples are converted to the file's format; for S16 they are scaled by
// 32768, rounded to nearest even and clipped, as libvorbisfile does. A
// NaN sample is written as silence and an infinite one as full scale in
// every format (a crafted or damaged stream can decode to them; the
// integer conversion of a NaN is not defined, and a float file holding
// one breaks its readers). The Writer does not retain s.
func (w *Writer) WriteFloat32(s []float32) error {
	if w.closed {
		return ErrClosed
	}
	if len(s)%w.channels != 0 {
		return fmt.Errorf("wav: %d samples is not a whole number of %d-channel frames", len(s), w.channels)
	}
	n := len(s) * w.format.bytes()
	if w.data+int64(n) > math.MaxUint32-64 {
		return ErrTooLarge
	}
	if cap(w.buf) < n {
		w.buf = make([]byte, n)
	}
	b := w.buf[:n]
	switch w.format {
	case F32:
		for i, v := range s {
			switch {
			case v != v:
				v = 0
			case math.IsInf(float64(v), 0):
				v = float32(math.Copysign(1, float64(v)))
			}
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
	case S24:
		for i, v := range s {
			if v != v {
				v = 0
			}
			x := math.RoundToEven(float64(v) * (1 << 23))
			x = max(-(1 << 23), min(1<<23-1, x))
			u := uint32(int32(x))
			b[3*i], b[3*i+1], b[3*i+2] = byte(u), byte(u>>8), byte(u>>16)
		}
	default:
		for i, v := range s {
			if v != v {
				v = 0
			}
			x := math.RoundToEven(float64(v) * 32768)
			x = max(-32768, min(32767, x))
			binary.LittleEndian.PutUint16(b[2*i:], uint16(int16(x)))
		}
	}
	if _, err := w.w.Write(b); err != nil {
		return fmt.Errorf("write samples: %w", err)
	}
	w.data += int64(n)
	return nil
}

// Frames returns the number of frames written so far.
func (w *Writer) Frames() int64 { return w.data / int64(w.channels*w.format.bytes()) }

// Close finishes the file: when the destination implements io.Seeker it
// patches the RIFF and data sizes (and a float file's fact frame count)
// in the header, then seeks back to the
// end. Otherwise the header keeps size 0 (readers of streamed WAV treat
// it as "until end of file"). Close does not close the destination.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	s, ok := w.w.(io.WriteSeeker)
	if !ok {
		return nil
	}
	// The header again, with the final sizes: same length, same place.
	if _, err := s.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("seek header: %w", err)
	}
	if _, err := s.Write(w.header(w.rate, uint32(w.data))); err != nil {
		return fmt.Errorf("patch header: %w", err)
	}
	if _, err := s.Seek(0, io.SeekEnd); err != nil {
		return fmt.Errorf("seek end: %w", err)
	}
	return nil
}

// Audio is a decoded WAV file.
type Audio struct {
	Rate        int
	Channels    int
	Format      Format
	ChannelMask uint32    // 0 unless WAVE_FORMAT_EXTENSIBLE
	Samples     []float32 // interleaved; S16 samples are divided by 32768, S24 by 2²³
}

// Frames returns the number of frames in a.
func (a *Audio) Frames() int { return len(a.Samples) / max(1, a.Channels) }

// Read parses a whole WAV file of 16- or 24-bit integer or 32-bit float
// PCM (plain or WAVE_FORMAT_EXTENSIBLE). A
// data chunk size of 0 or one running past the end means "to the end of
// the file" (streamed WAV). The returned samples are newly allocated.
func Read(b []byte) (*Audio, error) {
	le := binary.LittleEndian
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, fmt.Errorf("%w: no RIFF WAVE header", ErrInvalid)
	}
	b = b[12:]
	var a *Audio
	bps := 0
	for len(b) >= 8 {
		id, size := string(b[:4]), le.Uint32(b[4:8])
		b = b[8:]
		switch id {
		case "fmt ":
			if size < 16 || uint64(size) > uint64(len(b)) {
				return nil, fmt.Errorf("%w: fmt chunk of %d bytes", ErrInvalid, size)
			}
			tag := le.Uint16(b)
			a = &Audio{Channels: int(le.Uint16(b[2:])), Rate: int(le.Uint32(b[4:]))}
			bits := le.Uint16(b[14:])
			if tag == formatExtensible {
				if size < 40 {
					return nil, fmt.Errorf("%w: extensible fmt chunk of %d bytes", ErrInvalid, size)
				}
				a.ChannelMask = le.Uint32(b[20:])
				tag = le.Uint16(b[24:])
			}
			switch {
			case tag == formatPCM && bits == 16:
				a.Format, bps = S16, 2
			case tag == formatPCM && bits == 24:
				a.Format, bps = S24, 3
			case tag == formatFloat && bits == 32:
				a.Format, bps = F32, 4
			default:
				return nil, fmt.Errorf("%w: tag %#x with %d bits", ErrFormat, tag, bits)
			}
			if a.Channels < 1 {
				return nil, fmt.Errorf("%w: no channels", ErrInvalid)
			}
		case "data":
			if a == nil {
				return nil, fmt.Errorf("%w: data before fmt", ErrInvalid)
			}
			n := int(min(uint64(size), uint64(len(b))))
			if size == 0 {
				n = len(b)
			}
			frame := bps * a.Channels
			n -= n % frame
			a.Samples = make([]float32, n/bps)
			for i := range a.Samples {
				switch bps {
				case 2:
					a.Samples[i] = float32(int16(le.Uint16(b[2*i:]))) / 32768
				case 3:
					u := uint32(b[3*i]) | uint32(b[3*i+1])<<8 | uint32(b[3*i+2])<<16
					a.Samples[i] = float32(int32(u<<8)>>8) / (1 << 23)
				default:
					a.Samples[i] = math.Float32frombits(le.Uint32(b[4*i:]))
				}
			}
			return a, nil
		}
		if uint64(size) > uint64(len(b)) {
			break
		}
		b = b[size:]
		if size%2 == 1 && len(b) > 0 {
			b = b[1:]
		}
	}
	return nil, fmt.Errorf("%w: no data chunk", ErrInvalid)
}
