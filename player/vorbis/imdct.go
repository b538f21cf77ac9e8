package vorbis

import "math"

// imdct computes the inverse MDCT of one block size through a DCT-IV of
// n/2 points, itself computed with an n/4-point complex FFT. It holds
// only tables, never written after newIMDCT, so transforms of one size
// may share it; the work space is the caller's imdctWork.
type imdct struct {
	n    int       // block size
	pre  []float64 // pre-twiddle, cos and sin interleaved, n/4 pairs
	post []float64 // post-twiddle, same layout
	tw   []float64 // FFT twiddles per stage, cos and sin interleaved
	rev  []int32   // bit reversal of the n/4 FFT indexes
}

// imdctWork is the work space of imdct transforms up to one block size.
type imdctWork struct {
	re, im []float64 // FFT work space
	u      []float64 // DCT-IV output
}

// newIMDCTWork returns work space for transforms of up to n points.
func newIMDCTWork(n int) *imdctWork {
	return &imdctWork{re: make([]float64, n/4), im: make([]float64, n/4), u: make([]float64, n/2)}
}

func newIMDCT(n int) *imdct {
	m := n / 2
	k := n / 4
	t := &imdct{
		n:    n,
		pre:  make([]float64, 2*k),
		post: make([]float64, 2*k),
		rev:  make([]int32, k),
	}
	for i := range k {
		a := -math.Pi * float64(i) / float64(m)
		t.pre[2*i], t.pre[2*i+1] = math.Cos(a), math.Sin(a)
		a = -math.Pi * (float64(i) + 0.25) / float64(m)
		t.post[2*i], t.post[2*i+1] = math.Cos(a), math.Sin(a)
	}
	lg := ilog(k) - 1
	for i := range k {
		r := 0
		for b := uint(0); b < lg; b++ {
			if i&(1<<b) != 0 {
				r |= 1 << (lg - 1 - b)
			}
		}
		t.rev[i] = int32(r)
	}
	for s := 2; s <= k; s <<= 1 {
		for j := range s / 2 {
			a := -2 * math.Pi * float64(j) / float64(s)
			t.tw = append(t.tw, math.Cos(a), math.Sin(a))
		}
	}
	return t
}

// dct4 computes u[j] = Σ_k x[k]·cos(π/M·(j+½)(k+½)) for the M = n/2
// coefficients x into w.u.
func (t *imdct) dct4(w *imdctWork, x []float32) {
	m := t.n / 2
	k := t.n / 4
	re, im := w.re[:k], w.im[:k]
	x = x[:m]
	for i := range k {
		a, b := float64(x[2*i]), float64(x[m-1-2*i])
		c, s := t.pre[2*i], t.pre[2*i+1]
		r := t.rev[i]
		re[r] = a*c - b*s
		im[r] = a*s + b*c
	}
	tw := t.tw
	for s := 2; s <= k; s <<= 1 {
		h := s / 2
		ws := tw[:2*h]
		tw = tw[2*h:]
		for start := 0; start < k; start += s {
			ar, ai := re[start:start+h], im[start:start+h]
			br, bi := re[start+h:start+s], im[start+h:start+s]
			for j := range h {
				c, sn := ws[2*j], ws[2*j+1]
				xr := br[j]*c - bi[j]*sn
				xi := br[j]*sn + bi[j]*c
				br[j] = ar[j] - xr
				bi[j] = ai[j] - xi
				ar[j] += xr
				ai[j] += xi
			}
		}
	}
	u := w.u[:m]
	for i := range k {
		c, s := t.post[2*i], t.post[2*i+1]
		r, q := re[i], im[i]
		u[2*i] = r*c - q*s
		u[m-1-2*i] = -(r*s + q*c)
	}
}

// inverse computes the n-point IMDCT
// y[j] = Σ_k x[k]·cos(2π/n·(j + ½ + n/4)(k + ½)) of the n/2 coefficients x,
// writing the first half of y to first and the second half to second
// (each n/2 long), using work space w.
func (t *imdct) inverse(w *imdctWork, x, first, second []float32) {
	t.dct4(w, x)
	m := t.n / 2
	h := m / 2
	u := w.u[:m]
	first = first[:m]
	second = second[:m]
	for j := range h {
		first[j] = float32(u[j+h])
		first[h+j] = float32(-u[m-1-j])
		second[j] = float32(-u[h-1-j])
		second[h+j] = float32(-u[j])
	}
}

// slope returns the rising half of the Vorbis window for an overlap of n
// samples: sin(π/2·sin²((i+½)/n·π/2)).
func slope(n int) []float32 {
	w := make([]float32, n)
	for i := range w {
		s := math.Sin((float64(i) + 0.5) / float64(n) * math.Pi / 2)
		w[i] = float32(math.Sin(math.Pi / 2 * s * s))
	}
	return w
}
