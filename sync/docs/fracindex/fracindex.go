// Package fracindex generates fractional index keys: strings that sort
// (byte-wise) between two given keys, so an item can be placed between two
// neighbours by writing one key and never renumbering the others.
//
// A key is an integer part followed by a fraction, over the base-62
// alphabet 0-9A-Za-z (in ASCII order). The integer part's first character
// encodes its length ('a'..'z' for non-negative integers of 1..26 digits,
// 'Z'..'A' for negative ones), so appending or prepending n items one at a
// time yields keys of O(log n) length; the fraction never ends in '0', so
// each position has one spelling. This is the scheme of
// rocicorp/fractional-indexing, with optional jitter: when a random source
// is given, a few random digits are appended, so two replicas inserting at
// the same spot concurrently almost never produce equal keys.
//
// Everything here is pure; the only input of randomness is the io.Reader
// the caller passes (nil for deterministic keys).
//
//	a, _ := fracindex.Between("", "", nil)   // "a0"
//	b, _ := fracindex.Between(a, "", nil)    // "a1"
//	c, _ := fracindex.Between(a, b, nil)     // "a0V"
package fracindex

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// Digits is the base-62 alphabet in ascending byte order.
const Digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// JitterDigits is the number of random digits Between appends when given
// a random source (62³ ≈ 238,000 distinct suffixes).
const JitterDigits = 3

// ErrInvalidKey is returned for a key that is not a valid fractional index.
var ErrInvalidKey = errors.New("fracindex: invalid key")

// ErrOrder is returned by Between when a >= b (both non-empty).
var ErrOrder = errors.New("fracindex: keys out of order")

// ErrExhausted is returned when the integer space (26 digits) is used up.
var ErrExhausted = errors.New("fracindex: key space exhausted")

const base = len(Digits)

var smallestInteger = "A" + strings.Repeat("0", 26)

func digitValue(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 36
	}
	return -1
}

func integerLength(head byte) (int, bool) {
	switch {
	case head >= 'a' && head <= 'z':
		return int(head-'a') + 2, true
	case head >= 'A' && head <= 'Z':
		return int('Z'-head) + 2, true
	}
	return 0, false
}

// Validate reports whether key is a valid fractional index key.
func Validate(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	if key == smallestInteger {
		return fmt.Errorf("%w: reserved smallest integer", ErrInvalidKey)
	}
	n, ok := integerLength(key[0])
	if !ok {
		return fmt.Errorf("%w: bad head %q", ErrInvalidKey, key[0])
	}
	if len(key) < n {
		return fmt.Errorf("%w: integer part too short", ErrInvalidKey)
	}
	for i := 1; i < len(key); i++ {
		if digitValue(key[i]) < 0 {
			return fmt.Errorf("%w: bad digit %q", ErrInvalidKey, key[i])
		}
	}
	if len(key) > n && key[len(key)-1] == '0' {
		return fmt.Errorf("%w: trailing zero", ErrInvalidKey)
	}
	return nil
}

// Between returns a key k with a < k < b in byte order. An empty a means
// "before everything" and an empty b "after everything"; both empty gives
// a first key. When jitter is non-nil, JitterDigits random digits read
// from it are appended (the result is still strictly between a and b).
// It returns ErrInvalidKey for an invalid a or b, ErrOrder when a >= b,
// and an error from jitter if reading it fails.
func Between(a, b string, jitter io.Reader) (string, error) {
	if a != "" {
		if err := Validate(a); err != nil {
			return "", err
		}
	}
	if b != "" {
		if err := Validate(b); err != nil {
			return "", err
		}
	}
	if a != "" && b != "" && a >= b {
		return "", fmt.Errorf("%w: %q >= %q", ErrOrder, a, b)
	}
	k, err := between(a, b)
	if err != nil || jitter == nil {
		return k, err
	}
	suffix, err := randomDigits(jitter)
	if err != nil {
		return "", err
	}
	return k + suffix, nil
}

// between returns a key strictly between a and b such that appending any
// digits keeps it below b: the last digit it writes lies strictly between
// the bounds' digits, or its integer part is strictly below b's and is not
// a prefix of it (integer parts with one head have one length).
func between(a, b string) (string, error) {
	switch {
	case a == "" && b == "":
		return "a0", nil
	case a == "":
		ib := b[:mustIntLen(b)]
		fb := b[len(ib):]
		if ib != smallestInteger {
			if res, ok := decrementInteger(ib); ok && res != smallestInteger {
				return res, nil
			}
		}
		if fb == "" {
			return "", ErrExhausted
		}
		return ib + midpoint("", fb), nil
	case b == "":
		ia := a[:mustIntLen(a)]
		fa := a[len(ia):]
		if i, ok := incrementInteger(ia); ok {
			return i, nil
		}
		return ia + midpoint(fa, ""), nil
	}
	ia := a[:mustIntLen(a)]
	fa := a[len(ia):]
	ib := b[:mustIntLen(b)]
	fb := b[len(ib):]
	if ia == ib {
		return ia + midpoint(fa, fb), nil
	}
	if i, ok := incrementInteger(ia); ok && i < ib {
		return i, nil
	}
	// The next integer is b's own: go above a inside a's integer.
	return ia + midpoint(fa, ""), nil
}

func mustIntLen(k string) int {
	n, _ := integerLength(k[0])
	return n
}

// midpoint returns a fraction strictly between fractions a and b (b == ""
// meaning 1), whose last digit lies strictly between the corresponding
// digits of a and b, so any digits appended keep it below b. a and b have
// no trailing zeros and a < b.
func midpoint(a, b string) string {
	if b != "" {
		n := 0
		for n < len(b) {
			ca := byte('0')
			if n < len(a) {
				ca = a[n]
			}
			if ca != b[n] {
				break
			}
			n++
		}
		if n > 0 {
			rest := ""
			if n < len(a) {
				rest = a[n:]
			}
			return b[:n] + midpoint(rest, b[n:])
		}
	}
	da := 0
	if a != "" {
		da = digitValue(a[0])
	}
	db := base
	if b != "" {
		db = digitValue(b[0])
	}
	if db-da > 1 {
		return string(Digits[(da+db)/2])
	}
	rest := ""
	if len(a) > 1 {
		rest = a[1:]
	}
	return string(Digits[da]) + midpoint(rest, "")
}

func incrementInteger(x string) (string, bool) {
	head := x[0]
	digs := []byte(x[1:])
	carry := true
	for i := len(digs) - 1; carry && i >= 0; i-- {
		d := digitValue(digs[i]) + 1
		if d == base {
			digs[i] = '0'
		} else {
			digs[i] = Digits[d]
			carry = false
		}
	}
	if !carry {
		return string(head) + string(digs), true
	}
	switch head {
	case 'Z':
		return "a0", true
	case 'z':
		return "", false
	}
	h := head + 1
	if h > 'a' {
		digs = append(digs, '0')
	} else {
		digs = digs[:len(digs)-1]
	}
	return string(h) + string(digs), true
}

func decrementInteger(x string) (string, bool) {
	head := x[0]
	digs := []byte(x[1:])
	borrow := true
	for i := len(digs) - 1; borrow && i >= 0; i-- {
		d := digitValue(digs[i]) - 1
		if d == -1 {
			digs[i] = Digits[base-1]
		} else {
			digs[i] = Digits[d]
			borrow = false
		}
	}
	if !borrow {
		return string(head) + string(digs), true
	}
	switch head {
	case 'a':
		return "Z" + string(Digits[base-1]), true
	case 'A':
		return "", false
	}
	h := head - 1
	if h < 'Z' {
		digs = append(digs, Digits[base-1])
	} else {
		digs = digs[:len(digs)-1]
	}
	return string(h) + string(digs), true
}

func randomDigits(r io.Reader) (string, error) {
	out := make([]byte, 0, JitterDigits)
	var buf [8]byte
	for len(out) < JitterDigits {
		if _, err := io.ReadFull(r, buf[:]); err != nil {
			return "", fmt.Errorf("fracindex: read jitter: %w", err)
		}
		for _, c := range buf {
			// 248 = 4*62: reject above it for a uniform digit.
			if int(c) >= 4*base || len(out) == JitterDigits {
				continue
			}
			d := int(c) % base
			if len(out) == JitterDigits-1 && d == 0 {
				continue // a key never ends in '0'
			}
			out = append(out, Digits[d])
		}
	}
	return string(out), nil
}

// N returns n keys k1 < … < kn with a < k1 and kn < b, spread so that key
// length grows with log(n) rather than n (appends count up the integer
// part; inserts between two keys bisect). With a jitter source, one run
// of JitterDigits random digits is drawn per call and appended to every
// key (valid: a key stays between its bounds whatever digits follow it):
// the keys of one call differ by their stems, two calls placing keys at
// the same spot concurrently almost never produce equal keys (as with
// Between), and the n keys share their suffix, so a bulk insert costs
// 2–3 bytes per key after deflate instead of carrying n random suffixes.
func N(a, b string, n int, jitter io.Reader) ([]string, error) {
	out := make([]string, 0, n)
	if n <= 0 {
		return out, nil
	}
	suffix := ""
	if jitter != nil {
		var err error
		if suffix, err = randomDigits(jitter); err != nil {
			return nil, err
		}
	}
	return appendN(out, a, b, n, suffix)
}

// appendN appends to out n keys between a and b, each ending in suffix
// (see N).
func appendN(out []string, a, b string, n int, suffix string) ([]string, error) {
	if n <= 0 {
		return out, nil
	}
	key := func(a, b string) (string, error) {
		k, err := Between(a, b, nil)
		return k + suffix, err
	}
	if b == "" {
		prev := a
		for range n {
			k, err := key(prev, "")
			if err != nil {
				return nil, err
			}
			out = append(out, k)
			prev = k
		}
		return out, nil
	}
	if a == "" {
		next := b
		rev := make([]string, n)
		for i := n - 1; i >= 0; i-- {
			k, err := key("", next)
			if err != nil {
				return nil, err
			}
			rev[i] = k
			next = k
		}
		return append(out, rev...), nil
	}
	mid := n / 2
	m, err := key(a, b)
	if err != nil {
		return nil, err
	}
	if out, err = appendN(out, a, m, mid, suffix); err != nil {
		return nil, err
	}
	out = append(out, m)
	return appendN(out, m, b, n-mid-1, suffix)
}
