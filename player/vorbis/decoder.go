package vorbis

import (
	"errors"
	"fmt"
)

// Errors of the decoder. Wrapped errors carry detail; test them with
// errors.Is.
var (
	// ErrHeader reports a malformed identification or comment header, or
	// a header packet out of order.
	ErrHeader = errors.New("vorbis: bad header")
	// ErrSetup reports a malformed setup header.
	ErrSetup = errors.New("vorbis: bad setup header")
	// ErrLimit reports a stream that exceeds a limit set in Options.
	ErrLimit = errors.New("vorbis: stream exceeds decoder limits")
	// ErrNotAudio reports a packet that is not an audio packet, or an
	// audio packet that refers to an undefined mode or ends before its
	// mode and window flags (libvorbis' OV_ENOTAUDIO and OV_EBADPACKET);
	// such packets produce no samples.
	ErrNotAudio = errors.New("vorbis: not an audio packet")
	// ErrNotReady reports Decode called before the three headers.
	ErrNotReady = errors.New("vorbis: headers not read")
	// errEOP reports a header that ends early.
	errEOP = fmt.Errorf("%w: unexpected end of packet", ErrSetup)
)

// maxSample bounds the decoded samples: 16, +24 dBFS, far above any
// encoder's output (a full-scale master decodes within about ±2) and low
// enough that gain, effects and resampling after the decoder stay finite.
const maxSample = 16

// Options bounds what a stream may make the decoder allocate. The zero
// value is not useful; start from DefaultOptions.
type Options struct {
	maxChannels   int
	maxSetupBytes int
	setups        *SetupCache
}

// DefaultOptions returns the default limits, 8 channels and 32 MiB for
// the tables built from the setup header, and no setup cache.
func DefaultOptions() Options {
	return Options{maxChannels: 8, maxSetupBytes: 32 << 20}
}

// WithMaxChannels returns o with the channel limit set to n (default 8;
// Vorbis allows up to 255).
func (o Options) WithMaxChannels(n int) Options { o.maxChannels = n; return o }

// WithMaxSetupBytes returns o with the limit on memory allocated for the
// setup header's codebooks, floors, residues and per-channel buffers set
// to n bytes (default 32 MiB).
func (o Options) WithMaxSetupBytes(n int) Options { o.maxSetupBytes = n; return o }

// WithSetupCache returns o with setup headers looked up in, and added
// to, c (default nil: every decoder parses its own). Decoders sharing c
// may run concurrently. A cached setup counts against each decoder's
// setup-bytes limit as if the decoder had parsed it.
func (o Options) WithSetupCache(c *SetupCache) Options { o.setups = c; return o }

// Info describes a Vorbis stream, as read from its identification and
// comment headers.
type Info struct {
	Channels       int
	SampleRate     int
	BitrateMax     int // bits per second, 0 or negative when unset
	BitrateNominal int
	BitrateMin     int
	BlockSizes     [2]int // short and long block sizes
	Vendor         string
	Comments       []string // "KEY=value" user comments, in stream order
}

// Decoder decodes one Vorbis I logical stream, packet by packet.
//
// Feed the three header packets to ReadHeader, then audio packets to
// Decode. The decoder is not safe for concurrent use. After the headers it
// does not allocate.
type Decoder struct {
	opts    Options
	headers int // header packets read so far
	info    Info

	setup *setup      // shared, read-only
	cls   [][][]uint8 // per residue classification scratch

	br      bitReader
	work    *imdctWork
	spec    [][]float32 // per channel spectrum, then first half of the IMDCT
	prev    [][]float32 // per channel second half of the previous block
	next    [][]float32 // per channel second half of the current block
	prevBlk int         // block size class of prev, -1 when none
	outBuf  [][]float32
	out     [][]float32
	ys      [][]int
	coef    [][]float32
	amp     []int
	used    []bool
	skip    []bool
	subVecs [][]float32
	subSkip []bool
	clamped int64 // samples bound changed
}

// NewDecoder returns a decoder with the given limits.
func NewDecoder(opts Options) *Decoder {
	return &Decoder{opts: opts, prevBlk: -1}
}

// ReadHeader consumes the next of the three header packets
// (identification, comment, setup), in order. The decoder does not keep
// packet; the caller may reuse it.
func (d *Decoder) ReadHeader(packet []byte) error {
	want := [3]byte{1, 3, 5}
	if d.headers >= 3 {
		return fmt.Errorf("%w: all three headers already read", ErrHeader)
	}
	if len(packet) < 7 || string(packet[1:7]) != "vorbis" {
		return fmt.Errorf("%w: not a Vorbis header", ErrHeader)
	}
	if packet[0] != want[d.headers] {
		return fmt.Errorf("%w: header type %d, want %d", ErrHeader, packet[0], want[d.headers])
	}
	var err error
	switch d.headers {
	case 0:
		err = d.readIdent(packet)
	case 1:
		err = d.readComment(packet)
	default:
		err = d.readSetup(packet)
	}
	if err != nil {
		return err
	}
	d.headers++
	return nil
}

// Ready reports whether all three headers have been read.
func (d *Decoder) Ready() bool { return d.headers == 3 }

// Info returns the stream description; it is complete once the comment
// header has been read. Comments is shared with the decoder: do not
// modify it.
func (d *Decoder) Info() Info { return d.info }

// Clamped returns how many samples Decode has returned as 0 or ±16 since
// the decoder was made because they decoded to NaN, to an infinity or
// beyond ±16: none for any encoder's stream, many for a crafted one.
func (d *Decoder) Clamped() int64 { return d.clamped }

// Reset drops the overlap state, as after a seek: the next audio packet
// primes the decoder and outputs no samples.
func (d *Decoder) Reset() { d.prevBlk = -1 }

// BlockSize returns the block size of the audio packet, without decoding
// it. A packet yields BlockSize(prev)/4 + BlockSize(packet)/4 samples.
func (d *Decoder) BlockSize(packet []byte) (int, error) {
	if !d.Ready() {
		return 0, ErrNotReady
	}
	if len(packet) == 0 || packet[0]&1 != 0 {
		return 0, ErrNotAudio
	}
	var br bitReader
	br.reset(packet)
	br.read(1)
	m := int(br.read(d.setup.modeBits))
	if br.eop || m >= len(d.setup.modes) {
		return 0, ErrNotAudio
	}
	if d.setup.modes[m].long {
		return d.info.BlockSizes[1], nil
	}
	return d.info.BlockSizes[0], nil
}

// Decode decodes one audio packet and returns its samples, one slice per
// channel, all of equal length. The first packet after the headers or a
// Reset returns no samples. The slices are owned by the decoder and valid
// until the next call to Decode or Reset. An empty packet returns no
// samples and leaves the state unchanged, like libvorbis. Every sample is
// finite and within ±16 (+24 dBFS): where a crafted setup makes libvorbis
// decode NaN or absurdly large values, Decode returns 0 or ±16.
func (d *Decoder) Decode(packet []byte) ([][]float32, error) {
	if !d.Ready() {
		return nil, ErrNotReady
	}
	if len(packet) == 0 {
		return d.out[:0], nil
	}
	br := &d.br
	br.reset(packet)
	if br.read(1) != 0 {
		return nil, ErrNotAudio
	}
	st := d.setup
	mi := int(br.read(st.modeBits))
	if br.eop || mi >= len(st.modes) {
		return nil, fmt.Errorf("%w: mode %d of %d", ErrNotAudio, mi, len(st.modes))
	}
	md := st.modes[mi]
	blk := 0
	if md.long {
		blk = 1
		// Previous and next window flags: the actual neighbours decide
		// the overlap, but libvorbis rejects a packet that ends before
		// them.
		br.read(2)
		if br.eop {
			return nil, fmt.Errorf("%w: packet ends in its window flags", ErrNotAudio)
		}
	}
	n := d.info.BlockSizes[blk]
	half := n / 2
	mp := &st.maps[md.mapping]
	ch := d.info.Channels

	// Floors.
	for c := range ch {
		spec := d.spec[c][:half]
		clear(spec)
		fl := st.floors[mp.floors[mp.mux[c]]]
		if fl.f1 != nil {
			d.used[c] = fl.f1.decode(br, st.books, d.ys[c])
		} else {
			d.amp[c] = fl.f0.decode(br, st.books, d.coef[c])
			d.used[c] = d.amp[c] != 0
		}
		d.skip[c] = !d.used[c]
	}
	for _, cp := range mp.coupling {
		if d.used[cp[0]] || d.used[cp[1]] {
			d.skip[cp[0]], d.skip[cp[1]] = false, false
		}
	}
	// Residues, per submap.
	for s := range mp.floors {
		vecs, skip := d.subVecs[:0], d.subSkip[:0]
		for c := range ch {
			if mp.mux[c] == s {
				vecs = append(vecs, d.spec[c][:half])
				skip = append(skip, d.skip[c])
			}
		}
		if len(vecs) > 0 && !br.eop {
			ri := mp.residues[s]
			st.residues[ri].decode(br, st.books, d.cls[ri], vecs, skip, half)
		}
	}
	// Inverse coupling, last step first.
	for i := len(mp.coupling) - 1; i >= 0; i-- {
		decouple(d.spec[mp.coupling[i][0]][:half], d.spec[mp.coupling[i][1]][:half])
	}
	// Floor curves, IMDCT, overlap-add.
	for c := range ch {
		spec := d.spec[c][:half]
		if !d.used[c] {
			clear(spec)
		} else if fl := st.floors[mp.floors[mp.mux[c]]]; fl.f1 != nil {
			fl.f1.apply(d.ys[c], spec)
		} else {
			fl.f0.apply(blk, d.amp[c], d.coef[c], spec)
		}
	}
	return d.synthesize(blk), nil
}

// decouple undoes square-polar channel coupling (Vorbis I §1.3.3).
func decouple(mag, ang []float32) {
	ang = ang[:len(mag)]
	for i, m := range mag {
		a := ang[i]
		if m > 0 {
			if a > 0 {
				ang[i] = m - a
			} else {
				ang[i] = m
				mag[i] = m + a
			}
		} else {
			if a > 0 {
				ang[i] = m + a
			} else {
				ang[i] = m
				mag[i] = m - a
			}
		}
	}
}

// bound makes every sample of s finite and within ±maxSample and returns
// how many it changed: a NaN becomes 0, anything beyond the bound
// (infinities included) the bound with its sign. Only a crafted or
// damaged setup makes them (a floor 0 curve infinite on an LSP root
// times a zero residue, codebook values near 2^84); libvorbis returns
// them as they come from ov_read_float.
func bound(s []float32) int64 {
	n := int64(0)
	for i, v := range s {
		if v >= -maxSample && v <= maxSample {
			continue
		}
		n++
		switch {
		case v > 0:
			s[i] = maxSample
		case v < 0:
			s[i] = -maxSample
		default:
			s[i] = 0
		}
	}
	return n
}

// synthesize runs the IMDCT of every channel's spectrum, overlaps it with
// the previous block and returns the finished samples.
func (d *Decoder) synthesize(blk int) [][]float32 {
	n := d.info.BlockSizes[blk]
	half := n / 2
	ch := d.info.Channels
	prevBlk := d.prevBlk
	d.prevBlk = blk
	tr := d.setup.imdct[blk]
	if prevBlk < 0 {
		for c := range ch {
			tr.inverse(d.work, d.spec[c], d.spec[c], d.prev[c])
		}
		d.out = d.out[:ch]
		for c := range ch {
			d.out[c] = d.outBuf[c][:0]
		}
		return d.out
	}
	pn := d.info.BlockSizes[prevBlk] / 2 // half of the previous block
	// Overlap: the smaller of the two half blocks, centred on the
	// previous block's three-quarter point and the current one's quarter.
	ov := min(pn, half)
	w := d.setup.win[min(prevBlk, blk)]
	pOff := pn/2 - ov/2   // start of the overlap in prev
	cOff := half/2 - ov/2 // start of the overlap in the current first half
	total := pn/2 + half/2
	d.out = d.out[:ch]
	for c := range ch {
		cur := d.spec[c]
		tr.inverse(d.work, cur, cur, d.next[c])
		o := d.outBuf[c][:total]
		p := d.prev[c]
		k := copy(o, p[:pOff])
		for i := range ov {
			o[k+i] = p[pOff+i]*w[ov-1-i] + cur[cOff+i]*w[i]
		}
		k += ov
		copy(o[k:], cur[cOff+ov:half])
		d.clamped += bound(o)
		d.out[c] = o
		d.prev[c], d.next[c] = d.next[c], d.prev[c]
	}
	return d.out
}
