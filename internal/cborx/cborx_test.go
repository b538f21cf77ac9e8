package cborx_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/segue-fm/segue/internal/cborx"
)

type rec struct {
	A int    `cbor:"1,keyasint"`
	B string `cbor:"2,keyasint"`
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMarshalDeterministic: keys sorted, shortest forms, the same bytes
// for equal values whatever the map order.
func TestMarshalDeterministic(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    any
		want string
	}{
		{"struct keyasint", rec{A: 1, B: "x"}, "a2010102617 8"},
		{"map sorted", map[string]int{"bb": 1, "a": 2, "c": 3}, "a3616102616303626262 01"},
		{"shortest int", uint64(23), "17"},
		{"shortest float", 1.5, "f93e00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cborx.Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			want := unhex(t, string(bytes.ReplaceAll([]byte(tc.want), []byte(" "), nil)))
			if !bytes.Equal(got, want) {
				t.Fatalf("got %x, want %x", got, want)
			}
		})
	}
}

// TestDecModes: what each mode accepts.
func TestDecModes(t *testing.T) {
	l := cborx.Limits{MaxNestedLevels: 4, MaxArrayElements: 16, MaxMapPairs: 16}
	modes := map[string]cbor.DecMode{"lenient": l.DecMode(), "strict": l.StrictDecMode(), "closed": l.ClosedDecMode()}
	for _, tc := range []struct {
		name string
		in   string
		ok   map[string]bool
	}{
		{"plain", "a201010261 78", map[string]bool{"lenient": true, "strict": true, "closed": true}},
		{"duplicate key", "a301010261780102", map[string]bool{"lenient": true}},
		{"indefinite map", "bf01010261 78ff", map[string]bool{"lenient": true}},
		{"tag", "a201c101026178", map[string]bool{"lenient": true}},
		{"unknown field", "a30101026178036179", map[string]bool{"lenient": true, "strict": true}},
		{"invalid utf-8", "a2010102 61ff", map[string]bool{}}, // refused by every mode
	} {
		for name, m := range modes {
			var r rec
			err := m.Unmarshal(unhex(t, string(bytes.ReplaceAll([]byte(tc.in), []byte(" "), nil))), &r)
			if (err == nil) != tc.ok[name] {
				t.Errorf("%s/%s: err = %v, want ok=%v", tc.name, name, err, tc.ok[name])
			}
		}
	}
	// Limits: 17 elements exceed MaxArrayElements 16 in every mode.
	long := append([]byte{0x91}, bytes.Repeat([]byte{0x00}, 17)...)
	for name, m := range modes {
		var v []int
		var tooMany *cbor.MaxArrayElementsError
		if err := m.Unmarshal(long, &v); !errors.As(err, &tooMany) {
			t.Errorf("%s: 17 elements: got %v, want MaxArrayElementsError", name, err)
		}
	}
}

// TestInvalidLimitsPanic: limits outside fxamacker/cbor's range are a
// programming error.
func TestInvalidLimitsPanic(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for MaxNestedLevels 1")
		}
	}()
	cborx.Limits{MaxNestedLevels: 1}.StrictDecMode()
}

// FuzzStrictDecode: the strict mode never panics, and what it accepts
// re-encodes deterministically to bytes it accepts again as the same value.
func FuzzStrictDecode(f *testing.F) {
	for _, s := range []string{"a201010261 78", "a301010261780102", "bf01010261 78ff", "9100", "f93e00"} {
		b, _ := hex.DecodeString(string(bytes.ReplaceAll([]byte(s), []byte(" "), nil)))
		f.Add(b)
	}
	dec := cborx.Limits{MaxNestedLevels: 8, MaxArrayElements: 1 << 10, MaxMapPairs: 64}.StrictDecMode()
	f.Fuzz(func(t *testing.T, b []byte) {
		var v any
		if dec.Unmarshal(b, &v) != nil {
			return
		}
		again, err := cborx.Marshal(v)
		if err != nil {
			return // e.g. a map key type the encoder cannot sort
		}
		var w any
		if err := dec.Unmarshal(again, &w); err != nil {
			t.Fatalf("re-encoded %x does not decode: %v", again, err)
		}
		third, err := cborx.Marshal(w)
		if err != nil || !bytes.Equal(again, third) {
			t.Fatalf("not deterministic: %x then %x (%v)", again, third, err)
		}
	})
}
