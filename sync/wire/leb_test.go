package wire

import "testing"

func TestReadULEB(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		v    uint64
		n    int
	}{
		{"zero", []byte{0}, 0, 1},
		{"one byte", []byte{0x7f, 9}, 127, 1},
		{"two bytes", []byte{0x80, 0x01}, 128, 2},
		{"max", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 1<<64 - 1, 10},
		{"overlong zero", []byte{0x80, 0x00}, 0, 0},
		{"overlong one", []byte{0x81, 0x80, 0x00}, 0, 0},
		{"beyond 64 bits", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, 0, 0},
		{"eleven bytes", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, 0, 0},
		{"truncated", []byte{0x80}, 0, 0},
		{"empty", nil, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if v, n := ReadULEB(tc.in); v != tc.v || n != tc.n {
				t.Fatalf("ReadULEB(%x) = %d, %d; want %d, %d", tc.in, v, n, tc.v, tc.n)
			}
		})
	}
}
