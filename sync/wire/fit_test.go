package wire

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

// TestMaxSyncEnvelope: a sync or request message whose ids are as long as
// Validate allows and whose data is MaxSyncData bytes encodes within
// MaxFrameSize, and MaxSyncChange leaves SyncReserve in MaxSyncData.
func TestMaxSyncEnvelope(t *testing.T) {
	for _, typ := range []string{TypeSync, TypeRequest} {
		m := &Message{
			Type:       typ,
			SenderID:   strings.Repeat("s", maxPeerIDLen),
			TargetID:   strings.Repeat("t", maxPeerIDLen),
			DocumentID: strings.Repeat("d", maxDocIDLen),
			Data:       make([]byte, MaxSyncData),
		}
		b, err := Encode(m)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if env := len(b) - MaxSyncData; env > MaxSyncEnvelope || len(b) > MaxFrameSize {
			t.Fatalf("%s: envelope of %d bytes, frame of %d", typ, env, len(b))
		}
		var buf bytes.Buffer
		if err := EncodeTo(&buf, m); err != nil {
			t.Fatalf("%s: EncodeTo: %v", typ, err)
		}
	}
	if MaxSyncChange+SyncReserve != MaxSyncData || MaxSyncChange <= 0 {
		t.Fatalf("MaxSyncChange %d, SyncReserve %d, MaxSyncData %d", MaxSyncChange, SyncReserve, MaxSyncData)
	}
}

// fitMessage returns a sync message with a have and the given changes.
func fitMessage(changes ...[]byte) []byte {
	return SyncMessage{
		Type:    syncTypeV1,
		Heads:   [][32]byte{{1}, {2}},
		Need:    [][32]byte{{3}},
		Have:    []SyncHave{{LastSync: [][32]byte{{4}}, Bloom: bytes.Repeat([]byte{7}, 40)}},
		Changes: changes,
	}.Encode()
}

// TestFitSync: a message within the limit is returned as it is; a longer
// one keeps the longest prefix of its changes that fits, with its other
// fields; one whose first change, or whose fields alone, do not fit is
// ErrSyncTooLarge.
func TestFitSync(t *testing.T) {
	c := func(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }
	three := fitMessage(c(100, 1), c(200, 2), c(300, 3))
	bare := fitMessage()
	base := len(bare)
	tinies := make([][]byte, 200)
	for i := range tinies {
		tinies[i] = c(1, byte(i))
	}
	tiny := fitMessage(tinies...)
	for _, tc := range []struct {
		name string
		in   []byte
		max  int
		left int
		err  error
	}{
		{"fits", three, len(three), 0, nil},
		{"one byte short", three, len(three) - 1, 1, nil},
		{"two fit", three, base + 1 + 100 + 2 + 200, 1, nil},
		{"first only", three, base + 1 + 100 + 2 + 199, 2, nil},
		{"first too big", three, base + 1 + 99, 0, ErrSyncTooLarge},
		{"no changes over", bare, base - 1, 0, ErrSyncTooLarge},
		{"malformed over", []byte{0x42, 5}, 1, 0, ErrMalformed},
		{"tiny changes", tiny, len(tiny) - 1, 1, nil},
		{"count grows a byte", tiny, base + 2*128, 73, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, left, err := FitSync(tc.in, tc.max)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || left != tc.left || len(out) > tc.max {
				t.Fatalf("FitSync = %d bytes, left %d, %v; want ≤ %d bytes, left %d", len(out), left, err, tc.max, tc.left)
			}
			checkPrefix(t, tc.in, out, left)
		})
	}
}

// checkPrefix fails unless out is in with its last left changes left
// out.
func checkPrefix(t *testing.T, in, out []byte, left int) {
	t.Helper()
	a, err := ParseSync(in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseSync(out)
	if err != nil {
		t.Fatalf("cut message does not parse: %v", err)
	}
	if b.Size() != len(out) {
		t.Fatalf("Size %d, encoded %d", b.Size(), len(out))
	}
	a.Changes = a.Changes[:len(a.Changes)-left]
	if !bytes.Equal(a.Encode(), out) {
		t.Fatalf("cut message is not the original's prefix of changes")
	}
}

// FuzzFitSync: whatever ParseSync reads, Size is its encoding's length,
// and FitSync at any limit returns a message within it that keeps the
// original's fields and a prefix of its changes, or ErrSyncTooLarge when
// not even the first change fits.
func FuzzFitSync(f *testing.F) {
	js, err := os.ReadFile("testdata/syncmsg.bin")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(js, uint16(100))
	f.Add(syncMessageWithChanges(f, 3), uint16(300))
	f.Fuzz(func(t *testing.T, b []byte, cut uint16) {
		m, err := ParseSync(b)
		if err != nil {
			return
		}
		in := m.Encode()
		if m.Size() != len(in) {
			t.Fatalf("Size %d, encoded %d", m.Size(), len(in))
		}
		max := max(len(in)-int(cut), 0)
		out, left, err := FitSync(in, max)
		if errors.Is(err, ErrSyncTooLarge) {
			if len(m.Changes) > 0 {
				m.Changes = m.Changes[:1]
			}
			if m.Size() <= max {
				t.Fatalf("refused although %d bytes fit %d", m.Size(), max)
			}
			return
		}
		if err != nil || len(out) > max {
			t.Fatalf("FitSync(%d) = %d bytes, %v", max, len(out), err)
		}
		checkPrefix(t, in, out, left)
	})
}
