package fracindex

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestBetweenDeterministic(t *testing.T) {
	tests := []struct {
		a, b, want string
	}{
		{"", "", "a0"},
		{"a0", "", "a1"},
		{"a1", "", "a2"},
		{"", "a0", "Zz"},
		{"a0", "a1", "a0V"},
		{"a1", "a2", "a1V"},
		{"a0V", "a1", "a0k"},
		{"Zz", "a0", "ZzV"},
		{"Zz", "a01", "ZzV"},
		{"az", "", "b00"},
		{"", "Zz", "Zy"},
		{"a0", "a0V", "a0F"},
		{"a0", "a01", "a00V"},
	}
	for _, tc := range tests {
		got, err := Between(tc.a, tc.b, nil)
		if err != nil {
			t.Fatalf("Between(%q, %q): %v", tc.a, tc.b, err)
		}
		if got != tc.want {
			t.Errorf("Between(%q, %q) = %q, want %q", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestBetweenErrors(t *testing.T) {
	tests := []struct {
		a, b string
		want error
	}{
		{"a1", "a0", ErrOrder},
		{"a1", "a1", ErrOrder},
		{"a", "", ErrInvalidKey},
		{"a00", "", ErrInvalidKey},
		{"!0", "", ErrInvalidKey},
		{"a0", "a1~", ErrInvalidKey},
		{"A00000000000000000000000000", "", ErrInvalidKey},
	}
	for _, tc := range tests {
		_, err := Between(tc.a, tc.b, nil)
		if !errors.Is(err, tc.want) {
			t.Errorf("Between(%q, %q) = %v, want %v", tc.a, tc.b, err, tc.want)
		}
	}
}

// TestBetweenProperty inserts at random places in a growing ordered list
// and checks every key is valid and the list stays strictly sorted.
func TestBetweenProperty(t *testing.T) {
	for seed := uint64(0); seed < 20; seed++ {
		r := rand.New(rand.NewPCG(seed, 1))
		jit := rand.NewChaCha8([32]byte{byte(seed)})
		var keys []string
		for i := 0; i < 500; i++ {
			at := r.IntN(len(keys) + 1)
			a, b := "", ""
			if at > 0 {
				a = keys[at-1]
			}
			if at < len(keys) {
				b = keys[at]
			}
			var j *rand.ChaCha8
			if r.IntN(2) == 0 {
				j = jit
			}
			var k string
			var err error
			if j != nil {
				k, err = Between(a, b, j)
			} else {
				k, err = Between(a, b, nil)
			}
			if err != nil {
				t.Fatalf("seed %d: Between(%q, %q): %v", seed, a, b, err)
			}
			if err := Validate(k); err != nil {
				t.Fatalf("seed %d: Between(%q, %q) = %q invalid: %v", seed, a, b, k, err)
			}
			if (a != "" && k <= a) || (b != "" && k >= b) {
				t.Fatalf("seed %d: Between(%q, %q) = %q out of range", seed, a, b, k)
			}
			keys = slices.Insert(keys, at, k)
		}
	}
}

// TestConcurrentInsertsDiffer models two replicas inserting at the same
// spot: with jitter their keys differ and both lie between the neighbours.
func TestConcurrentInsertsDiffer(t *testing.T) {
	r1 := rand.NewChaCha8([32]byte{1})
	r2 := rand.NewChaCha8([32]byte{2})
	a, b := "a0", "a1"
	for i := 0; i < 1000; i++ {
		k1, err1 := Between(a, b, r1)
		k2, err2 := Between(a, b, r2)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if k1 == k2 {
			t.Fatalf("collision at %d: %q", i, k1)
		}
		for _, k := range []string{k1, k2} {
			if k <= a || k >= b {
				t.Fatalf("%q not in (%q, %q)", k, a, b)
			}
		}
	}
}

func TestAppendLengthLogarithmic(t *testing.T) {
	jit := rand.NewChaCha8([32]byte{9})
	keys, err := N("", "", 10000, jit)
	if err != nil {
		t.Fatal(err)
	}
	front, err := N("", keys[0], 10000, jit)
	if err != nil {
		t.Fatal(err)
	}
	all := append(front, keys...)
	if !slices.IsSorted(all) {
		t.Fatal("keys not sorted")
	}
	maxLen := 0
	for i, k := range all {
		if i > 0 && all[i-1] == k {
			t.Fatalf("duplicate key %q", k)
		}
		maxLen = max(maxLen, len(k))
	}
	// Integer parts of ≤ 3 digits plus head and 3 jitter digits.
	if maxLen > 8 {
		t.Fatalf("max key length %d after 20,000 appends/prepends", maxLen)
	}
}

func TestNBetween(t *testing.T) {
	jit := rand.NewChaCha8([32]byte{3})
	for _, n := range []int{0, 1, 2, 7, 100, 1000} {
		keys, err := N("a0", "a1", n, jit)
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != n {
			t.Fatalf("N(%d) gave %d keys", n, len(keys))
		}
		if !slices.IsSorted(keys) || (n > 0 && (keys[0] <= "a0" || keys[n-1] >= "a1")) {
			t.Fatalf("N(%d) keys out of order or range", n)
		}
		for _, k := range keys {
			if len(k) > 16 {
				t.Fatalf("N(%d): key %q too long", n, k)
			}
		}
	}
}

func FuzzBetween(f *testing.F) {
	f.Add("a0", "a1", uint64(1))
	f.Add("", "a0", uint64(2))
	f.Add("Zz", "", uint64(3))
	f.Add("a0V", "a0l", uint64(0))
	f.Fuzz(func(t *testing.T, a, b string, seed uint64) {
		k, err := Between(a, b, rand.NewChaCha8([32]byte{byte(seed)}))
		if err != nil {
			return
		}
		if Validate(k) != nil || (a != "" && k <= a) || (b != "" && k >= b) {
			t.Fatalf("Between(%q, %q) = %q", a, b, k)
		}
	})
}

// TestNConcurrentRunsDiffer: two calls of N at the same spot with
// different jitter (two replicas inserting concurrently) share no key,
// whether they append, prepend or bisect; each call's keys are valid,
// ordered, within the bounds and end in one shared suffix.
func TestNConcurrentRunsDiffer(t *testing.T) {
	for _, tc := range []struct{ name, a, b string }{
		{"append", "a5", ""},
		{"prepend", "", "a5"},
		{"between", "a0", "a1"},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen := map[string]bool{}
			for seed := range byte(2) {
				keys, err := N(tc.a, tc.b, 500, rand.NewChaCha8([32]byte{seed + 1}))
				if err != nil {
					t.Fatal(err)
				}
				suffix := keys[0][len(keys[0])-JitterDigits:]
				for i, k := range keys {
					if err := Validate(k); err != nil {
						t.Fatal(err)
					}
					if (tc.a != "" && k <= tc.a) || (tc.b != "" && k >= tc.b) || (i > 0 && k <= keys[i-1]) {
						t.Fatalf("key %d %q out of order or bounds", i, k)
					}
					if k[len(k)-JitterDigits:] != suffix {
						t.Fatalf("key %q lacks the call's suffix %q", k, suffix)
					}
					if seen[k] {
						t.Fatalf("key %q produced by both calls", k)
					}
					seen[k] = true
				}
			}
		})
	}
}
