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

// setup is the immutable part of a decoder: the tables read from a
// setup header (Vorbis I §4.2.4) for one channel count and pair of block
// sizes. Once built it is never written, so decoders of any number of
// streams with the same setup may share it concurrently; every per-stream
// buffer lives in the Decoder.
type setup struct {
	channels   int
	blockSizes [2]int

	books    []*codebook
	floors   []floor
	residues []*residue
	maps     []mapping
	modes    []mode
	modeBits uint
	maxOrder int // highest floor 0 order, 0 without floor 0
	imdct    [2]*imdct
	win      [2][]float32 // window slopes for overlaps of bs0/2 and bs1/2
	// cost is what building the tables spent of the setup budget:
	// codebooks and each residue's classification scratch.
	cost int
}

// readSetup parses the setup header (packet type 5), or takes it from
// the options' cache, and allocates every buffer the audio packets need.
func (d *Decoder) readSetup(p []byte) error {
	key := setupKey(d.info, p)
	s := d.opts.setups.get(key)
	if s == nil {
		var err error
		if s, err = parseSetup(&d.br, p, d.info, d.opts.maxSetupBytes); err != nil {
			return err
		}
		d.opts.setups.add(key, s)
	}
	return d.use(s)
}

// parseSetup parses setup header p for a stream described by info (its
// channels and block sizes), spending at most budget bytes on tables.
func parseSetup(br *bitReader, p []byte, info Info, budget int) (*setup, error) {
	limit := budget
	br.reset(p[7:])
	nbooks := int(br.read(8)) + 1
	books := make([]*codebook, nbooks)
	for i := range books {
		b, err := readCodebook(br, &budget)
		if err != nil {
			return nil, fmt.Errorf("codebook %d: %w", i, err)
		}
		books[i] = b
	}
	ntime := int(br.read(6)) + 1
	for range ntime {
		if br.read(16) != 0 {
			return nil, fmt.Errorf("%w: time domain transform", ErrSetup)
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
				floors[i].f0.prepare(info.BlockSizes)
			}
		case 1:
			floors[i].f1, err = readFloor1(br, books)
		default:
			err = fmt.Errorf("%w: floor type %d", ErrSetup, t)
		}
		if err != nil {
			return nil, fmt.Errorf("floor %d: %w", i, err)
		}
	}
	nres := int(br.read(6)) + 1
	residues := make([]*residue, nres)
	for i := range residues {
		t := int(br.read(16))
		if t > 2 {
			return nil, fmt.Errorf("residue %d: %w: type %d", i, ErrSetup, t)
		}
		r, err := readResidue(br, t, books, &budget)
		if err == nil {
			r.prepare(info.Channels, info.BlockSizes[1])
			err = spend(&budget, r.clsRows*r.clsLen)
		}
		if err != nil {
			return nil, fmt.Errorf("residue %d: %w", i, err)
		}
		residues[i] = r
	}
	ch := info.Channels
	nmaps := int(br.read(6)) + 1
	maps := make([]mapping, nmaps)
	for i := range maps {
		m := &maps[i]
		if t := br.read(16); t != 0 {
			return nil, fmt.Errorf("mapping %d: %w: type %d", i, ErrSetup, t)
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
					return nil, fmt.Errorf("mapping %d: %w: coupling %d/%d of %d channels", i, ErrSetup, mag, ang, ch)
				}
				m.coupling[s] = [2]int{mag, ang}
			}
		}
		if br.read(2) != 0 {
			return nil, fmt.Errorf("mapping %d: %w: reserved bits", i, ErrSetup)
		}
		m.mux = make([]int, ch)
		if submaps > 1 {
			for c := range m.mux {
				m.mux[c] = int(br.read(4))
				if m.mux[c] >= submaps {
					return nil, fmt.Errorf("mapping %d: %w: submap %d of %d", i, ErrSetup, m.mux[c], submaps)
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
				return nil, fmt.Errorf("mapping %d: %w: floor %d residue %d", i, ErrSetup, m.floors[s], m.residues[s])
			}
		}
		if br.eop {
			return nil, errEOP
		}
	}
	nmodes := int(br.read(6)) + 1
	modes := make([]mode, nmodes)
	for i := range modes {
		modes[i].long = br.readBool()
		wt, tt := br.read(16), br.read(16)
		modes[i].mapping = int(br.read(8))
		if wt != 0 || tt != 0 || modes[i].mapping >= nmaps {
			return nil, fmt.Errorf("mode %d: %w: window %d transform %d mapping %d", i, ErrSetup, wt, tt, modes[i].mapping)
		}
	}
	if !br.readBool() || br.eop {
		return nil, fmt.Errorf("%w: setup framing bit", ErrSetup)
	}
	maxOrder := 0
	for _, f := range floors {
		if f.f0 != nil {
			maxOrder = max(maxOrder, f.f0.order)
		}
	}
	return &setup{
		channels: ch, blockSizes: info.BlockSizes,
		books: books, floors: floors, residues: residues, maps: maps, modes: modes,
		modeBits: ilog(nmodes - 1), maxOrder: maxOrder, cost: limit - budget,
		imdct: [2]*imdct{newIMDCT(info.BlockSizes[0]), newIMDCT(info.BlockSizes[1])},
		win:   [2][]float32{slope(info.BlockSizes[0] / 2), slope(info.BlockSizes[1] / 2)},
	}, nil
}

// use makes s the decoder's setup and allocates the per-stream buffers,
// charging the setup's cost and the buffers to the decoder's budget, so a
// cached setup is accepted exactly when parsing it would have been.
func (d *Decoder) use(s *setup) error {
	budget := d.opts.maxSetupBytes
	if err := spend(&budget, s.cost); err != nil {
		return err
	}
	ch := s.channels
	n := s.blockSizes[1] / 2
	if err := spend(&budget, ch*(4*5*n+4*s.maxOrder+8*maxFloor1Values+3)); err != nil {
		return err
	}
	d.setup = s
	d.cls = make([][][]uint8, len(s.residues))
	for i, r := range s.residues {
		d.cls[i] = make([][]uint8, r.clsRows)
		for j := range d.cls[i] {
			d.cls[i][j] = make([]uint8, r.clsLen)
		}
	}
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
		d.coef[c] = make([]float32, s.maxOrder)
	}
	d.used = make([]bool, ch)
	d.amp = make([]int, ch)
	d.skip = make([]bool, ch)
	d.subVecs = make([][]float32, 0, ch)
	d.subSkip = make([]bool, 0, ch)
	d.work = newIMDCTWork(s.blockSizes[1])
	return nil
}
