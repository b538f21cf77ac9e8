package vorbis

import (
	"encoding/binary"
	"fmt"
)

// mapping is a mapping type 0 configuration (Vorbis I §4.2.4).
type mapping struct {
	coupling [][2]int // magnitude, angle channel pairs
	mux      []int    // submap per channel
	floors   []int    // floor per submap
	residues []int    // residue per submap
}

// mode is one mode configuration (Vorbis I §4.2.4).
type mode struct {
	long    bool
	mapping int
}

// readIdent parses the identification header (packet type 1).
func (d *Decoder) readIdent(p []byte) error {
	if len(p) < 30 {
		return fmt.Errorf("%w: identification header of %d bytes", ErrHeader, len(p))
	}
	if v := binary.LittleEndian.Uint32(p[7:]); v != 0 {
		return fmt.Errorf("%w: version %d", ErrHeader, v)
	}
	ch := int(p[11])
	rate := binary.LittleEndian.Uint32(p[12:])
	bs0, bs1 := 1<<(p[28]&15), 1<<(p[28]>>4)
	switch {
	case ch == 0:
		return fmt.Errorf("%w: zero channels", ErrHeader)
	case ch > d.opts.maxChannels:
		return fmt.Errorf("%w: %d channels, limit %d", ErrLimit, ch, d.opts.maxChannels)
	case rate == 0 || rate > 1<<30:
		return fmt.Errorf("%w: sample rate %d", ErrHeader, rate)
	case bs0 < 64 || bs1 > 8192 || bs0 > bs1:
		return fmt.Errorf("%w: block sizes %d and %d", ErrHeader, bs0, bs1)
	case p[29]&1 == 0:
		return fmt.Errorf("%w: identification framing bit", ErrHeader)
	}
	d.info = Info{
		Channels:       ch,
		SampleRate:     int(rate),
		BitrateMax:     int(int32(binary.LittleEndian.Uint32(p[16:]))),
		BitrateNominal: int(int32(binary.LittleEndian.Uint32(p[20:]))),
		BitrateMin:     int(int32(binary.LittleEndian.Uint32(p[24:]))),
		BlockSizes:     [2]int{bs0, bs1},
	}
	return nil
}

// readComment parses the comment header (packet type 3). The vendor and
// comments are copied out of p.
func (d *Decoder) readComment(p []byte) error {
	b := p[7:]
	str := func() (string, error) {
		if len(b) < 4 {
			return "", fmt.Errorf("%w: comment header truncated", ErrHeader)
		}
		n := binary.LittleEndian.Uint32(b)
		if uint64(n) > uint64(len(b)-4) {
			return "", fmt.Errorf("%w: comment length %d exceeds header", ErrHeader, n)
		}
		s := string(b[4 : 4+n])
		b = b[4+n:]
		return s, nil
	}
	vendor, err := str()
	if err != nil {
		return err
	}
	if len(b) < 4 {
		return fmt.Errorf("%w: comment header truncated", ErrHeader)
	}
	n := binary.LittleEndian.Uint32(b)
	b = b[4:]
	if uint64(n) > uint64(len(b)/4) {
		return fmt.Errorf("%w: %d comments exceed header", ErrHeader, n)
	}
	comments := make([]string, 0, n)
	for range n {
		s, err := str()
		if err != nil {
			return err
		}
		comments = append(comments, s)
	}
	// The framing bit is not checked: many encoders omit it and
	// libvorbis tolerates its absence in practice.
	d.info.Vendor, d.info.Comments = vendor, comments
	return nil
}

// readSetup parses the setup header (packet type 5) and allocates every
// buffer the audio packets need.
func (d *Decoder) readSetup(p []byte) error {
	budget := d.opts.maxSetupBytes
	br := &d.br
	br.reset(p[7:])
	nbooks := int(br.read(8)) + 1
	books := make([]*codebook, nbooks)
	for i := range books {
		b, err := readCodebook(br, &budget)
		if err != nil {
			return fmt.Errorf("codebook %d: %w", i, err)
		}
		books[i] = b
	}
	ntime := int(br.read(6)) + 1
	for range ntime {
		if br.read(16) != 0 {
			return fmt.Errorf("%w: time domain transform", ErrSetup)
		}
	}
	nfloors := int(br.read(6)) + 1
	floors := make([]floor, nfloors)
	for i := range floors {
		var err error
		switch t := br.read(16); t {
		case 0:
			floors[i].f0, err = readFloor0(br, books)
			if err == nil {
				floors[i].f0.prepare(d.info.BlockSizes)
			}
		case 1:
			floors[i].f1, err = readFloor1(br, books)
		default:
			err = fmt.Errorf("%w: floor type %d", ErrSetup, t)
		}
		if err != nil {
			return fmt.Errorf("floor %d: %w", i, err)
		}
	}
	nres := int(br.read(6)) + 1
	residues := make([]*residue, nres)
	for i := range residues {
		t := int(br.read(16))
		if t > 2 {
			return fmt.Errorf("residue %d: %w: type %d", i, ErrSetup, t)
		}
		r, err := readResidue(br, t, books, &budget)
		if err == nil {
			err = r.prepare(d.info.Channels, d.info.BlockSizes[1], &budget)
		}
		if err != nil {
			return fmt.Errorf("residue %d: %w", i, err)
		}
		residues[i] = r
	}
	ch := d.info.Channels
	nmaps := int(br.read(6)) + 1
	maps := make([]mapping, nmaps)
	for i := range maps {
		m := &maps[i]
		if t := br.read(16); t != 0 {
			return fmt.Errorf("mapping %d: %w: type %d", i, ErrSetup, t)
		}
		submaps := 1
		if br.readBool() {
			submaps = int(br.read(4)) + 1
		}
		if br.readBool() {
			steps := int(br.read(8)) + 1
			m.coupling = make([][2]int, steps)
			bitsCh := ilog(ch - 1)
			for s := range m.coupling {
				mag, ang := int(br.read(bitsCh)), int(br.read(bitsCh))
				if mag == ang || mag >= ch || ang >= ch {
					return fmt.Errorf("mapping %d: %w: coupling %d/%d of %d channels", i, ErrSetup, mag, ang, ch)
				}
				m.coupling[s] = [2]int{mag, ang}
			}
		}
		if br.read(2) != 0 {
			return fmt.Errorf("mapping %d: %w: reserved bits", i, ErrSetup)
		}
		m.mux = make([]int, ch)
		if submaps > 1 {
			for c := range m.mux {
				m.mux[c] = int(br.read(4))
				if m.mux[c] >= submaps {
					return fmt.Errorf("mapping %d: %w: submap %d of %d", i, ErrSetup, m.mux[c], submaps)
				}
			}
		}
		m.floors = make([]int, submaps)
		m.residues = make([]int, submaps)
		for s := range submaps {
			br.read(8)
			m.floors[s] = int(br.read(8))
			m.residues[s] = int(br.read(8))
			if m.floors[s] >= nfloors || m.residues[s] >= nres {
				return fmt.Errorf("mapping %d: %w: floor %d residue %d", i, ErrSetup, m.floors[s], m.residues[s])
			}
		}
		if br.eop {
			return errEOP
		}
	}
	nmodes := int(br.read(6)) + 1
	modes := make([]mode, nmodes)
	for i := range modes {
		modes[i].long = br.readBool()
		wt, tt := br.read(16), br.read(16)
		modes[i].mapping = int(br.read(8))
		if wt != 0 || tt != 0 || modes[i].mapping >= nmaps {
			return fmt.Errorf("mode %d: %w: window %d transform %d mapping %d", i, ErrSetup, wt, tt, modes[i].mapping)
		}
	}
	if !br.readBool() || br.eop {
		return fmt.Errorf("%w: setup framing bit", ErrSetup)
	}
	// Per-channel working buffers.
	n := d.info.BlockSizes[1] / 2
	maxOrder := 0
	for _, f := range floors {
		if f.f0 != nil {
			maxOrder = max(maxOrder, f.f0.order)
		}
	}
	if err := spend(&budget, ch*(4*5*n+4*maxOrder+8*maxFloor1Values+3)); err != nil {
		return err
	}
	d.books, d.floors, d.residues, d.maps, d.modes = books, floors, residues, maps, modes
	d.modeBits = ilog(nmodes - 1)
	d.spec = make([][]float32, ch)
	d.prev = make([][]float32, ch)
	d.next = make([][]float32, ch)
	d.out = make([][]float32, ch)
	d.outBuf = make([][]float32, ch)
	d.ys = make([][]int, ch)
	d.coef = make([][]float32, ch)
	for c := range ch {
		d.spec[c] = make([]float32, n)
		d.prev[c] = make([]float32, n)
		d.next[c] = make([]float32, n)
		d.outBuf[c] = make([]float32, n)
		d.ys[c] = make([]int, maxFloor1Values)
		d.coef[c] = make([]float32, maxOrder)
	}
	d.used = make([]bool, ch)
	d.amp = make([]int, ch)
	d.skip = make([]bool, ch)
	d.subVecs = make([][]float32, 0, ch)
	d.subSkip = make([]bool, 0, ch)
	d.imdct[0] = newIMDCT(d.info.BlockSizes[0])
	d.imdct[1] = newIMDCT(d.info.BlockSizes[1])
	d.win[0] = slope(d.info.BlockSizes[0] / 2)
	d.win[1] = slope(d.info.BlockSizes[1] / 2)
	return nil
}
