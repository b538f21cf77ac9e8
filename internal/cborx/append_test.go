package cborx_test

import (
	"bytes"
	"math"
	"testing"

	"github.com/segue-fm/segue/internal/cborx"
)

// TestAppendMatchesMarshal holds the hand-written appenders to the core
// deterministic encoding at every length boundary.
func TestAppendMatchesMarshal(t *testing.T) {
	ints := []int64{0, 1, 23, 24, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1, math.MaxInt64,
		-1, -24, -25, -256, -257, -65536, -65537, math.MinInt64}
	for _, v := range ints {
		want, err := cborx.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if got := cborx.AppendInt([]byte{0xff}, v); !bytes.Equal(got[1:], want) || got[0] != 0xff {
			t.Errorf("AppendInt(%d) = %x, want %x after the prefix", v, got, want)
		}
	}
	for _, n := range []int{0, 1, 23, 24, 255, 256, 65536} {
		s := string(bytes.Repeat([]byte{'a'}, n))
		want, err := cborx.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := cborx.AppendText(nil, s); !bytes.Equal(got, want) {
			t.Errorf("AppendText(len %d) head %x, want %x", n, got[:min(len(got), 9)], want[:min(len(want), 9)])
		}
	}
	arr := make([]uint8, 300)
	want, err := cborx.Marshal(arr)
	if err != nil {
		t.Fatal(err)
	}
	head := cborx.AppendHead(nil, 2, uint64(len(arr)))
	if !bytes.Equal(head, want[:len(head)]) {
		t.Errorf("AppendHead(2, 300) = %x, want %x", head, want[:len(head)])
	}
}
