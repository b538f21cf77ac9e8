package vorbis

import "fmt"

// residue is one residue configuration (Vorbis I §8).
type residue struct {
	typ       int
	begin     int
	end       int
	partSize  int
	classes   int
	classBook int
	books     [][8]int // per classification, per pass: book or -1
	// stages is the number of passes that read anything: the highest
	// cascade bit set in any classification (libvorbis' look->stages).
	stages int
	// partVals is classes^dims of the class book; a class codeword of
	// this entry number or more ends the residue, as in libvorbis.
	partVals int
	// clsRows × clsLen is the size of the classification scratch a
	// decoder keeps for this residue: a row per channel (one for type 2),
	// a byte per partition.
	clsRows, clsLen int
}

func readResidue(br *bitReader, typ int, books []*codebook, budget *int) (*residue, error) {
	r := &residue{
		typ:       typ,
		begin:     int(br.read(24)),
		end:       int(br.read(24)),
		partSize:  int(br.read(24)) + 1,
		classes:   int(br.read(6)) + 1,
		classBook: int(br.read(8)),
	}
	if br.eop {
		return nil, errEOP
	}
	if r.classBook >= len(books) {
		return nil, fmt.Errorf("%w: residue class book %d of %d", ErrSetup, r.classBook, len(books))
	}
	cb := books[r.classBook]
	if cb.dims < 1 {
		return nil, fmt.Errorf("%w: residue class book %d has no dimensions", ErrSetup, r.classBook)
	}
	// libvorbis rejects a class book too small to code every
	// combination of classifications.
	r.partVals = 1
	for range cb.dims {
		r.partVals *= r.classes
		if r.partVals > cb.entries {
			return nil, fmt.Errorf("%w: residue class book %d of %d entries for %d classes in %d dimensions", ErrSetup, r.classBook, cb.entries, r.classes, cb.dims)
		}
	}
	cascade := make([]uint32, r.classes)
	for i := range cascade {
		lo := br.read(3)
		var hi uint32
		if br.readBool() {
			hi = br.read(5)
		}
		cascade[i] = hi<<3 | lo
		r.stages = max(r.stages, int(ilog(int(cascade[i]))))
	}
	r.books = make([][8]int, r.classes)
	for i := range r.books {
		for j := range 8 {
			r.books[i][j] = -1
			if cascade[i]&(1<<j) != 0 {
				b := int(br.read(8))
				if b >= len(books) {
					return nil, fmt.Errorf("%w: residue book %d of %d", ErrSetup, b, len(books))
				}
				if books[b].vq == nil || books[b].dims < 1 {
					return nil, fmt.Errorf("%w: residue book %d has no vector lookup", ErrSetup, b)
				}
				r.books[i][j] = b
			}
		}
	}
	return r, br.checkEOP()
}

// prepare sizes the classification scratch for up to channels channels
// of blocksize up to maxBlock.
func (r *residue) prepare(channels, maxBlock int) {
	size := maxBlock / 2
	rows := channels
	if r.typ == 2 {
		size *= channels
		rows = 1
	}
	end := min(r.end, size)
	parts := 0
	if end > r.begin {
		parts = (end - r.begin) / r.partSize
	}
	// Partitions are classified a whole class codeword at a time.
	r.clsRows, r.clsLen = rows, parts+16+1
}

// decode reads the residue vectors of the channels in vecs (each n long),
// skipping channels with skip set (Vorbis I §8.6), into the caller's
// classification scratch cls (clsRows × clsLen). Reaching the end of the
// packet ends decoding without error. What stays decoded then is what
// libvorbis keeps: every finished partition, and for residues 1 and 2 the
// vectors already read of the partition in progress (residue 0 reads a
// whole partition before adding it).
func (r *residue) decode(br *bitReader, books []*codebook, cls [][]uint8, vecs [][]float32, skip []bool, n int) {
	ch := len(vecs)
	if r.typ == 2 {
		any := false
		for _, s := range skip {
			any = any || !s
		}
		if !any {
			return
		}
		n *= ch
	}
	end := min(r.end, n)
	if end <= r.begin {
		return
	}
	parts := (end - r.begin) / r.partSize
	cb := books[r.classBook]
	per := cb.dims
	rows := ch
	if r.typ == 2 {
		rows = 1
	}
	for pass := range r.stages {
		for p := 0; p < parts; {
			if pass == 0 {
				for j := range rows {
					if r.typ != 2 && skip[j] {
						continue
					}
					t := cb.decode(br)
					if t < 0 || t >= r.partVals {
						return
					}
					row := cls[j]
					for i := per - 1; i >= 0; i-- {
						if p+i < len(row) {
							row[p+i] = uint8(t % r.classes)
						}
						t /= r.classes
					}
				}
			}
			for i := 0; i < per && p < parts; i++ {
				off := r.begin + p*r.partSize
				for j := range rows {
					if r.typ != 2 && skip[j] {
						continue
					}
					b := r.books[cls[j][p]][pass]
					if b < 0 || books[b].used == 0 {
						// libvorbis: a book without codewords decodes
						// nothing and succeeds.
						continue
					}
					bk := books[b]
					var ok bool
					switch r.typ {
					case 0:
						ok = decodePart0(br, bk, vecs[j][off:off+r.partSize])
					case 1:
						ok = decodePart1(br, bk, vecs[j][off:off+r.partSize])
					default:
						ok = decodePart2(br, bk, vecs, off, r.partSize)
					}
					if !ok {
						return
					}
				}
				p++
			}
		}
	}
}

// decodePart0 adds one residue 0 partition (interleaved vector layout:
// vector i holds values i, i+step, i+2·step, … with step = len(v)/dims).
// Like libvorbis' vorbis_book_decodevs_add it reads every vector of the
// partition before adding any, so a partition cut by the end of the
// packet adds nothing.
func decodePart0(br *bitReader, bk *codebook, v []float32) bool {
	dims := bk.dims
	step := len(v) / dims
	save := *br
	for range step {
		if bk.decode(br) < 0 {
			return false
		}
	}
	*br = save
	for i := range step {
		e := bk.decode(br)
		vals := bk.vq[e*dims : (e+1)*dims]
		for k, x := range vals {
			v[i+k*step] += x
		}
	}
	return true
}

// decodePart1 adds one residue 1 partition (consecutive vector layout).
func decodePart1(br *bitReader, bk *codebook, v []float32) bool {
	dims := bk.dims
	for i := 0; i < len(v); {
		e := bk.decode(br)
		if e < 0 {
			return false
		}
		vals := bk.vq[e*dims : (e+1)*dims]
		for _, x := range vals {
			if i >= len(v) {
				break
			}
			v[i] += x
			i++
		}
	}
	return true
}

// decodePart2 adds one residue 2 partition of size values at interleaved
// offset off, writing straight into the channels.
//
// It follows libvorbis' vorbis_book_decodevv_add rather than the letter
// of Vorbis I §8.6.4: the partition covers the whole frames off/ch up to
// (off+size)/ch and starts at channel 0, even when off or size is not a
// multiple of the channel count. The two agree whenever they are, as in
// every stream libvorbis encodes.
func decodePart2(br *bitReader, bk *codebook, vecs [][]float32, off, size int) bool {
	dims := bk.dims
	ch := len(vecs)
	pos, end := off/ch, (off+size)/ch
	if ch == 2 {
		l, r := vecs[0], vecs[1]
		odd := false
		for pos < end {
			e := bk.decode(br)
			if e < 0 {
				return false
			}
			for _, x := range bk.vq[e*dims : (e+1)*dims] {
				if pos >= end {
					break
				}
				if odd {
					r[pos] += x
					pos++
				} else {
					l[pos] += x
				}
				odd = !odd
			}
		}
		return true
	}
	c := 0
	for pos < end {
		e := bk.decode(br)
		if e < 0 {
			return false
		}
		for _, x := range bk.vq[e*dims : (e+1)*dims] {
			if pos >= end {
				break
			}
			vecs[c][pos] += x
			c++
			if c == ch {
				c = 0
				pos++
			}
		}
	}
	return true
}
