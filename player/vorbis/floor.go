package vorbis

import (
	"fmt"
	"math"
	"sort"
)

// floorInvDB is floor1_inverse_dB_table (Vorbis I §10.1): 256 steps of
// 35/64 dB ending at 1.0. The values are libvorbis' FLOOR1_fromdB_LOOKUP
// literals, which differ from 10^((i-255)·35/64/20) rounded to float32 in
// the last bit of most entries; using them keeps floor 1 bit-exact with
// libvorbis.
var floorInvDB = [256]float32{
	1.0649863e-07, 1.1341951e-07, 1.2079015e-07, 1.2863978e-07,
	1.3699951e-07, 1.4590251e-07, 1.5538408e-07, 1.6548181e-07,
	1.7623575e-07, 1.8768855e-07, 1.9988561e-07, 2.128753e-07,
	2.2670913e-07, 2.4144197e-07, 2.5713223e-07, 2.7384213e-07,
	2.9163793e-07, 3.1059021e-07, 3.3077411e-07, 3.5226968e-07,
	3.7516214e-07, 3.9954229e-07, 4.2550680e-07, 4.5315863e-07,
	4.8260743e-07, 5.1396998e-07, 5.4737065e-07, 5.8294187e-07,
	6.2082472e-07, 6.6116941e-07, 7.0413592e-07, 7.4989464e-07,
	7.9862701e-07, 8.5052630e-07, 9.0579828e-07, 9.6466216e-07,
	1.0273513e-06, 1.0941144e-06, 1.1652161e-06, 1.2409384e-06,
	1.3215816e-06, 1.4074654e-06, 1.4989305e-06, 1.5963394e-06,
	1.7000785e-06, 1.8105592e-06, 1.9282195e-06, 2.0535261e-06,
	2.1869758e-06, 2.3290978e-06, 2.4804557e-06, 2.6416497e-06,
	2.8133190e-06, 2.9961443e-06, 3.1908506e-06, 3.3982101e-06,
	3.6190449e-06, 3.8542308e-06, 4.1047004e-06, 4.3714470e-06,
	4.6555282e-06, 4.9580707e-06, 5.2802740e-06, 5.6234160e-06,
	5.9888572e-06, 6.3780469e-06, 6.7925283e-06, 7.2339451e-06,
	7.7040476e-06, 8.2047000e-06, 8.7378876e-06, 9.3057248e-06,
	9.9104632e-06, 1.0554501e-05, 1.1240392e-05, 1.1970856e-05,
	1.2748789e-05, 1.3577278e-05, 1.4459606e-05, 1.5399272e-05,
	1.6400004e-05, 1.7465768e-05, 1.8600792e-05, 1.9809576e-05,
	2.1096914e-05, 2.2467911e-05, 2.3928002e-05, 2.5482978e-05,
	2.7139006e-05, 2.8902651e-05, 3.0780908e-05, 3.2781225e-05,
	3.4911534e-05, 3.7180282e-05, 3.9596466e-05, 4.2169667e-05,
	4.4910090e-05, 4.7828601e-05, 5.0936773e-05, 5.4246931e-05,
	5.7772202e-05, 6.1526565e-05, 6.5524908e-05, 6.9783085e-05,
	7.4317983e-05, 7.9147585e-05, 8.4291040e-05, 8.9768747e-05,
	9.5602426e-05, 0.00010181521, 0.00010843174, 0.00011547824,
	0.00012298267, 0.00013097477, 0.00013948625, 0.00014855085,
	0.00015820453, 0.00016848555, 0.00017943469, 0.00019109536,
	0.00020351382, 0.00021673929, 0.00023082423, 0.00024582449,
	0.00026179955, 0.00027881276, 0.00029693158, 0.00031622787,
	0.00033677814, 0.00035866388, 0.00038197188, 0.00040679456,
	0.00043323036, 0.00046138411, 0.00049136745, 0.00052329927,
	0.00055730621, 0.00059352311, 0.00063209358, 0.00067317058,
	0.00071691700, 0.00076350630, 0.00081312324, 0.00086596457,
	0.00092223983, 0.00098217216, 0.0010459992, 0.0011139742,
	0.0011863665, 0.0012634633, 0.0013455702, 0.0014330129,
	0.0015261382, 0.0016253153, 0.0017309374, 0.0018434235,
	0.0019632195, 0.0020908006, 0.0022266726, 0.0023713743,
	0.0025254795, 0.0026895994, 0.0028643847, 0.0030505286,
	0.0032487691, 0.0034598925, 0.0036847358, 0.0039241906,
	0.0041792066, 0.0044507950, 0.0047400328, 0.0050480668,
	0.0053761186, 0.0057254891, 0.0060975636, 0.0064938176,
	0.0069158225, 0.0073652516, 0.0078438871, 0.0083536271,
	0.0088964928, 0.009474637, 0.010090352, 0.010746080,
	0.011444421, 0.012188144, 0.012980198, 0.013823725,
	0.014722068, 0.015678791, 0.016697687, 0.017782797,
	0.018938423, 0.020169149, 0.021479854, 0.022875735,
	0.024362330, 0.025945531, 0.027631618, 0.029427276,
	0.031339626, 0.033376252, 0.035545228, 0.037855157,
	0.040315199, 0.042935108, 0.045725273, 0.048696758,
	0.051861348, 0.055231591, 0.058820850, 0.062643361,
	0.066714279, 0.071049749, 0.075666962, 0.080584227,
	0.085821044, 0.091398179, 0.097337747, 0.10366330,
	0.11039993, 0.11757434, 0.12521498, 0.13335215,
	0.14201813, 0.15124727, 0.16107617, 0.17154380,
	0.18269168, 0.19456402, 0.20720788, 0.22067342,
	0.23501402, 0.25028656, 0.26655159, 0.28387361,
	0.30232132, 0.32196786, 0.34289114, 0.36517414,
	0.38890521, 0.41417847, 0.44109412, 0.46975890,
	0.50028648, 0.53279791, 0.56742212, 0.60429640,
	0.64356699, 0.68538959, 0.72993007, 0.77736504,
	0.82788260, 0.88168307, 0.9389798, 1.,
}

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
//
// At the end of the packet it behaves as libvorbis does: a failed
// codeword makes the channel unused, but a failed read of the first two
// Y values only stores -1 there (libvorbis' oggpack_read result), which
// matters for a floor without partitions: it is then used, and renders
// at its clamped first value.
func (f *floor1) decode(br *bitReader, books []*codebook, ys []int) bool {
	if !br.readBool() {
		return false
	}
	yb := ilog(f.rangeQuant - 1)
	for i := range 2 {
		ys[i] = int(br.read(yb))
		if br.eop {
			ys[i] = -1
		}
	}
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
	return true
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

// toBark is libvorbis' toBARK macro (scales.h) with its mix of float and
// double arithmetic: the products inside are float, the sum double.
func toBark(x float32) float64 {
	a := float32(0.00074) * x
	b := float32(x*x) * float32(1.85e-8)
	c := float32(1e-4) * x
	return float64(float32(13.1))*math.Atan(float64(a)) + float64(float32(2.24))*math.Atan(float64(b)) + float64(c)
}

// prepare precomputes the bark maps for the two block sizes exactly as
// libvorbis' floor0_map_lazy_init does, float for float, so that every
// spectral line falls in the same bark bin.
func (f *floor0) prepare(blocksizes [2]int) {
	half := float32(f.rate) / 2
	scale := float32(float64(f.barkMapSize) / toBark(half))
	wdel := float32(math.Pi / float64(f.barkMapSize))
	for b, bs := range blocksizes {
		n := bs / 2
		m := make([]int32, n)
		cosm := make([]float32, n)
		step := half / float32(n)
		for i := range m {
			v := int(math.Floor(toBark(step*float32(i)) * float64(scale)))
			m[i] = int32(min(f.barkMapSize-1, v))
			cosm[i] = float32(2 * math.Cos(float64(wdel*float32(m[i]))))
		}
		f.barkMap[b], f.cosMap[b] = m, cosm
	}
}

// decode reads the amplitude and LSP coefficients of one channel into
// coef (length ≥ order) and returns the raw amplitude, or 0 when the
// channel is unused (Vorbis I §6.2.2). A book without codewords yields
// zero coefficients without reading, as in libvorbis.
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
	if bk.used == 0 {
		clear(coef[:f.order])
		return amp
	}
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

// apply computes the floor 0 curve for raw amplitude amp and LSP
// coefficients coef (overwritten) and multiplies it into out (blocksize
// class blk). It follows libvorbis' vorbis_lsp_to_curve operation by
// operation in float32, which the curve's sensitivity near LSP roots
// requires for agreement.
func (f *floor0) apply(blk, amp int, coef []float32, out []float32) {
	n := len(out)
	m := f.barkMap[blk]
	wmap := f.cosMap[blk]
	coef = coef[:f.order]
	for j, c := range coef {
		coef[j] = float32(2 * math.Cos(float64(c)))
	}
	ampF := float32(float32(amp)/float32(uint64(1)<<f.ampBits-1)) * float32(f.ampOffset)
	for i := 0; i < n; {
		w := wmap[i]
		p, q := float32(0.5), float32(0.5)
		j := 1
		for ; j < f.order; j += 2 {
			q = float32(q * float32(w-coef[j-1]))
			p = float32(p * float32(w-coef[j]))
		}
		if j == f.order {
			// Odd order: one coefficient left over.
			q = float32(q * float32(w-coef[j-1]))
			p = float32(p * float32(p*float32(4-float32(w*w))))
			q = float32(q * q)
		} else {
			p = float32(p * float32(p*float32(2-w)))
			q = float32(q * float32(q*float32(2+w)))
		}
		db := float64(ampF)/math.Sqrt(float64(p+q)) - float64(float32(f.ampOffset))
		v := float32(math.Exp(db * float64(float32(0.11512925))))
		for k := m[i]; i < n && m[i] == k; i++ {
			out[i] *= v
		}
	}
}
