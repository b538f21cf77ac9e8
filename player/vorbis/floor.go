package vorbis

import (
	"fmt"
	"math"
	"sort"
)

// floorInvDB is floor1_inverse_dB_table (Vorbis I §10.1): 256 steps of
// 35/64 dB ending at 1.0.
var floorInvDB = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(math.Pow(10, float64(i-255)*35/64/20))
	}
	return t
}()

// floor1 is a decoded floor type 1 configuration (Vorbis I §7.2.2).
type floor1 struct {
	partClass  []uint8
	classDims  [16]int
	classSubs  [16]uint
	classBook  [16]int // master book, -1 if none
	subBooks   [16][8]int
	mult       int
	rangeBits  uint
	xs         []int // X list in header order
	order      []int // indexes into xs sorted by X
	lowN, hiN  []int // neighbours of each point from index 2 on
	rangeQuant int   // 256, 128, 86 or 64
}

// floor0 is a decoded floor type 0 configuration (Vorbis I §6.2.1).
type floor0 struct {
	order       int
	rate        int
	barkMapSize int
	ampBits     uint
	ampOffset   int
	books       []int
	// barkMap[b] maps the n = blocksize/2 spectral lines of blocksize b (0
	// short, 1 long) to bark bins; cosMap holds 2·cos(ω) per bin.
	barkMap [2][]int32
	cosMap  [2][]float32
}

// floor is one floor configuration; exactly one of f0, f1 is set.
type floor struct {
	f0 *floor0
	f1 *floor1
}

// maxFloor1Values is the libvorbis limit on floor 1 posts (VIF_POSIT + 2).
const maxFloor1Values = 65

func readFloor1(br *bitReader, books []*codebook) (*floor1, error) {
	f := &floor1{}
	parts := int(br.read(5))
	f.partClass = make([]uint8, parts)
	maxClass := -1
	for i := range f.partClass {
		f.partClass[i] = uint8(br.read(4))
		maxClass = max(maxClass, int(f.partClass[i]))
	}
	checkBook := func(b int) error {
		if b >= len(books) {
			return fmt.Errorf("%w: floor 1 book %d of %d", ErrSetup, b, len(books))
		}
		return nil
	}
	for c := 0; c <= maxClass; c++ {
		f.classDims[c] = int(br.read(3)) + 1
		f.classSubs[c] = uint(br.read(2))
		f.classBook[c] = -1
		if f.classSubs[c] > 0 {
			f.classBook[c] = int(br.read(8))
			if err := checkBook(f.classBook[c]); err != nil {
				return nil, err
			}
		}
		for j := 0; j < 1<<f.classSubs[c]; j++ {
			f.subBooks[c][j] = int(br.read(8)) - 1
			if err := checkBook(f.subBooks[c][j]); err != nil {
				return nil, err
			}
		}
	}
	f.mult = int(br.read(2)) + 1
	f.rangeQuant = [4]int{256, 128, 86, 64}[f.mult-1]
	f.rangeBits = uint(br.read(4))
	f.xs = []int{0, 1 << f.rangeBits}
	for _, c := range f.partClass {
		for range f.classDims[c] {
			if len(f.xs) >= maxFloor1Values {
				return nil, fmt.Errorf("%w: floor 1 with over %d values", ErrSetup, maxFloor1Values)
			}
			f.xs = append(f.xs, int(br.read(f.rangeBits)))
		}
	}
	if br.eop {
		return nil, errEOP
	}
	f.order = make([]int, len(f.xs))
	for i := range f.order {
		f.order[i] = i
	}
	sort.SliceStable(f.order, func(a, b int) bool { return f.xs[f.order[a]] < f.xs[f.order[b]] })
	for i := 1; i < len(f.order); i++ {
		if f.xs[f.order[i]] == f.xs[f.order[i-1]] {
			return nil, fmt.Errorf("%w: floor 1 repeats X value %d", ErrSetup, f.xs[f.order[i]])
		}
	}
	f.lowN = make([]int, len(f.xs))
	f.hiN = make([]int, len(f.xs))
	for i := 2; i < len(f.xs); i++ {
		lo, hi := 0, 1
		for j := 0; j < i; j++ {
			x := f.xs[j]
			if x < f.xs[i] && x > f.xs[lo] {
				lo = j
			}
			if x > f.xs[i] && x < f.xs[hi] {
				hi = j
			}
		}
		f.lowN[i], f.hiN[i] = lo, hi
	}
	return f, nil
}

// decode reads the floor 1 Y values of one channel into ys and reports
// whether the channel is used in this packet (Vorbis I §7.2.3).
func (f *floor1) decode(br *bitReader, books []*codebook, ys []int) bool {
	if !br.readBool() {
		return false
	}
	yb := ilog(f.rangeQuant - 1)
	ys[0] = int(br.read(yb))
	ys[1] = int(br.read(yb))
	off := 2
	for _, c := range f.partClass {
		cdim := f.classDims[c]
		cbits := f.classSubs[c]
		csub := 1<<cbits - 1
		cval := 0
		if cbits > 0 {
			cval = books[f.classBook[c]].decode(br)
			if cval < 0 {
				return false
			}
		}
		for j := 0; j < cdim; j++ {
			book := f.subBooks[c][cval&csub]
			cval >>= cbits
			if book >= 0 {
				v := books[book].decode(br)
				if v < 0 {
					return false
				}
				ys[off] = v
			} else {
				ys[off] = 0
			}
			off++
		}
	}
	return !br.eop
}

// renderPoint predicts Y at x on the line from (x0,y0) to (x1,y1).
func renderPoint(x0, y0, x1, y1, x int) int {
	y0 &= 0x7fff
	y1 &= 0x7fff
	dy := y1 - y0
	adx := x1 - x0
	ady := dy
	if ady < 0 {
		ady = -ady
	}
	off := ady * (x - x0) / adx
	if dy < 0 {
		return y0 - off
	}
	return y0 + off
}

// apply synthesises the floor 1 curve from the decoded ys (modified in
// place) and multiplies it into the n spectral lines of out
// (Vorbis I §7.2.4, with libvorbis' clamping of out-of-range values).
func (f *floor1) apply(ys []int, out []float32) {
	n := len(out)
	for i := 2; i < len(f.xs); i++ {
		lo, hi := f.lowN[i], f.hiN[i]
		pred := renderPoint(f.xs[lo], ys[lo], f.xs[hi], ys[hi], f.xs[i])
		hiRoom := f.rangeQuant - pred
		loRoom := pred
		room := min(hiRoom, loRoom) * 2
		val := ys[i]
		if val != 0 {
			if val >= room {
				if hiRoom > loRoom {
					val -= loRoom
				} else {
					val = -1 - (val - hiRoom)
				}
			} else if val&1 != 0 {
				val = -((val + 1) >> 1)
			} else {
				val >>= 1
			}
			ys[i] = (val + pred) & 0x7fff
			ys[lo] &= 0x7fff
			ys[hi] &= 0x7fff
		} else {
			ys[i] = pred | 0x8000
		}
	}
	hx, lx := 0, 0
	ly := clampDB(ys[0] * f.mult)
	for _, cur := range f.order[1:] {
		hy := ys[cur] & 0x7fff
		if hy != ys[cur] {
			continue
		}
		hx = f.xs[cur]
		hy = clampDB(hy * f.mult)
		renderLine(lx, ly, hx, hy, out)
		lx, ly = hx, hy
	}
	if hx < n {
		g := floorInvDB[ly]
		for j := hx; j < n; j++ {
			out[j] *= g
		}
	}
}

func clampDB(y int) int { return max(0, min(255, y)) }

// renderLine multiplies out[x0:min(x1,len(out))] by the floor values of
// the integer line from (x0,y0) to (x1,y1) (Vorbis I §9.2.7).
func renderLine(x0, y0, x1, y1 int, out []float32) {
	dy := y1 - y0
	adx := x1 - x0
	if adx <= 0 {
		return
	}
	ady := dy
	if ady < 0 {
		ady = -ady
	}
	base := dy / adx
	sy := base + 1
	if dy < 0 {
		sy = base - 1
	}
	ab := base * adx
	if ab < 0 {
		ab = -ab
	}
	ady -= ab
	n := min(len(out), x1)
	x, y, err := x0, y0, 0
	if x >= n {
		return
	}
	out[x] *= floorInvDB[y]
	for x++; x < n; x++ {
		err += ady
		if err >= adx {
			err -= adx
			y += sy
		} else {
			y += base
		}
		out[x] *= floorInvDB[y]
	}
}

func readFloor0(br *bitReader, books []*codebook) (*floor0, error) {
	f := &floor0{
		order:       int(br.read(8)),
		rate:        int(br.read(16)),
		barkMapSize: int(br.read(16)),
		ampBits:     uint(br.read(6)),
		ampOffset:   int(br.read(8)),
	}
	nb := int(br.read(4)) + 1
	if br.eop {
		return nil, errEOP
	}
	if f.order < 1 || f.rate < 1 || f.barkMapSize < 1 || f.ampBits > 32 {
		return nil, fmt.Errorf("%w: floor 0 order %d rate %d bark map %d amplitude bits %d", ErrSetup, f.order, f.rate, f.barkMapSize, f.ampBits)
	}
	f.books = make([]int, nb)
	for i := range f.books {
		b := int(br.read(8))
		if b >= len(books) {
			return nil, fmt.Errorf("%w: floor 0 book %d of %d", ErrSetup, b, len(books))
		}
		if books[b].vq == nil || books[b].dims < 1 {
			return nil, fmt.Errorf("%w: floor 0 book %d has no vector lookup", ErrSetup, b)
		}
		f.books[i] = b
	}
	return f, br.checkEOP()
}

func bark(x float64) float64 {
	return 13.1*math.Atan(0.00074*x) + 2.24*math.Atan(0.0000000185*x*x) + 0.0001*x
}

// prepare precomputes the bark maps for the two block sizes.
func (f *floor0) prepare(blocksizes [2]int) {
	for b, bs := range blocksizes {
		n := bs / 2
		m := make([]int32, n)
		cosm := make([]float32, n)
		scale := float64(f.barkMapSize) / bark(0.5*float64(f.rate))
		for i := range m {
			v := int(math.Floor(bark(float64(f.rate)*float64(i)/(2*float64(n))) * scale))
			m[i] = int32(min(f.barkMapSize-1, v))
			cosm[i] = float32(2 * math.Cos(math.Pi*float64(m[i])/float64(f.barkMapSize)))
		}
		f.barkMap[b], f.cosMap[b] = m, cosm
	}
}

// decode reads the amplitude and LSP coefficients of one channel into
// coef (length ≥ order + max book dimension) and returns the amplitude,
// or 0 when the channel is unused (Vorbis I §6.2.2).
func (f *floor0) decode(br *bitReader, books []*codebook, coef []float32) int {
	amp := int(br.read(f.ampBits))
	if amp == 0 || br.eop {
		return 0
	}
	bn := int(br.read(ilog(len(f.books))))
	if bn >= len(f.books) || br.eop {
		return 0
	}
	bk := books[f.books[bn]]
	last := float32(0)
	for i := 0; i < f.order; {
		e := bk.decode(br)
		if e < 0 {
			return 0
		}
		vals := bk.vq[e*bk.dims : (e+1)*bk.dims]
		for _, v := range vals {
			if i < f.order {
				coef[i] = v + last
			}
			i++
		}
		last = coef[min(i, f.order)-1]
	}
	return amp
}

// apply computes the floor 0 curve for amplitude amp and LSP coefficients
// coef and multiplies it into out (blocksize class blk).
func (f *floor0) apply(blk, amp int, coef []float32, out []float32) {
	n := len(out)
	m := f.barkMap[blk]
	wmap := f.cosMap[blk]
	for j := 0; j < f.order; j++ {
		coef[j] = float32(2 * math.Cos(float64(coef[j])))
	}
	ampF := float64(amp) * float64(f.ampOffset) / float64(uint(1)<<f.ampBits-1)
	for i := 0; i < n; {
		w := float64(wmap[i])
		p, q := 0.5, 0.5
		j := 1
		for ; j < f.order; j += 2 {
			q *= w - float64(coef[j-1])
			p *= w - float64(coef[j])
		}
		if j == f.order {
			// Odd order: one coefficient left over.
			q *= w - float64(coef[j-1])
			p *= p * (4 - w*w)
			q *= q
		} else {
			p *= p * (2 - w)
			q *= q * (2 + w)
		}
		v := float32(math.Exp(0.11512925 * (ampF/math.Sqrt(p+q) - float64(f.ampOffset))))
		for k := m[i]; i < n && m[i] == k; i++ {
			out[i] *= v
		}
	}
}
