package crypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"testing"
)

func seeded(seed uint64) io.Reader {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return rand.NewChaCha8(s)
}

func randBytes(t testing.TB, r io.Reader, n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatal(err)
	}
	return b
}

var testKey = ContentKey{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}

// TestKnownAnswer pins the counter layout against OpenSSL:
//
//	head -c 40 /dev/zero | openssl enc -aes-128-ctr -K 000102030405060708090a0b0c0d0e0f \
//	  -iv 00000000000000050000000000000000 | xxd -p
func TestKnownAnswer(t *testing.T) {
	const want = "6e72a41f3b868125c4e82e53450fca2f235723c8203c9ef0d35a0161f1a54648d0a46ad1dd65e870"
	got := EncryptBlob(testKey, 5, make([]byte, 40))
	if hex.EncodeToString(got) != want {
		t.Fatalf("keystream of blob 5 = %x, want %s", got, want)
	}
	// Offset 16 starts at counter block …0001, as openssl with that IV.
	part := make([]byte, 24)
	XORKeyStream(testKey, 5, 16, part, make([]byte, 24))
	if hex.EncodeToString(part) != want[32:] {
		t.Fatalf("offset 16 = %x, want %s", part, want[32:])
	}
}

func TestMatchesStdCTR(t *testing.T) {
	r := seeded(1)
	for _, idx := range []uint64{0, 1, 2, 255, 1 << 32, 1<<64 - 1} {
		pt := randBytes(t, r, 1000)
		block, _ := aes.NewCipher(testKey[:])
		iv := make([]byte, 16)
		binary.BigEndian.PutUint64(iv, idx)
		want := make([]byte, len(pt))
		cipher.NewCTR(block, iv).XORKeyStream(want, pt)
		if got := EncryptBlob(testKey, idx, pt); !bytes.Equal(got, want) {
			t.Fatalf("blob %d differs from cipher.NewCTR", idx)
		}
	}
}

func TestRangesDecryptAlone(t *testing.T) {
	r := seeded(2)
	pt := randBytes(t, r, 5000)
	enc := EncryptBlob(testKey, 3, pt)
	tests := []struct{ off, n int }{
		{0, 0}, {0, 1}, {1, 15}, {15, 1}, {15, 2}, {16, 16}, {17, 100}, {31, 33},
		{4095, 1}, {4096, 904}, {4999, 1}, {100, 4900}, {7, 4993},
	}
	for _, tc := range tests {
		got := make([]byte, tc.n)
		XORKeyStream(testKey, 3, int64(tc.off), got, enc[tc.off:tc.off+tc.n])
		if !bytes.Equal(got, pt[tc.off:tc.off+tc.n]) {
			t.Errorf("range [%d,+%d) does not decrypt alone", tc.off, tc.n)
		}
		rr, err := io.ReadAll(NewBlobRangeReader(testKey, 3, int64(tc.off), bytes.NewReader(enc[tc.off:tc.off+tc.n])))
		if err != nil || !bytes.Equal(rr, pt[tc.off:tc.off+tc.n]) {
			t.Errorf("range reader [%d,+%d): %v", tc.off, tc.n, err)
		}
	}
	// In place.
	buf := bytes.Clone(enc)
	XORKeyStream(testKey, 3, 0, buf, buf)
	if !bytes.Equal(buf, pt) {
		t.Fatal("in-place decryption failed")
	}
}

func TestBlobsDiffer(t *testing.T) {
	zeros := make([]byte, 64)
	seen := map[string]uint64{}
	for idx := range uint64(50) {
		ks := string(EncryptBlob(testKey, idx, zeros))
		if prev, ok := seen[ks]; ok {
			t.Fatalf("blobs %d and %d share a keystream", prev, idx)
		}
		seen[ks] = idx
	}
	// Adjacent blob indices must not overlap even for long blobs: blob 0 at
	// block 2^32 differs from blob 1 at block 0.
	a := make([]byte, 16)
	XORKeyStream(testKey, 0, 16<<32, a, make([]byte, 16))
	if bytes.Equal(a, EncryptBlob(testKey, 1, make([]byte, 16))) {
		t.Fatal("blob 0 far offset collides with blob 1")
	}
}

func TestBlobReader(t *testing.T) {
	pt := randBytes(t, seeded(3), 70000)
	var got bytes.Buffer
	// Small reads cross block boundaries at odd places.
	if _, err := io.CopyBuffer(&got, struct{ io.Reader }{NewBlobReader(testKey, 9, bytes.NewReader(pt))}, make([]byte, 37)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), EncryptBlob(testKey, 9, pt)) {
		t.Fatal("reader output differs from EncryptBlob")
	}
}

func TestHash(t *testing.T) {
	h := BlobHash([]byte("abc"))
	if HashHex(h) != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("sha256(abc) = %s", HashHex(h))
	}
}

func TestNewContentKey(t *testing.T) {
	a, err := NewContentKey(seeded(4))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewContentKey(seeded(4))
	c, _ := NewContentKey(seeded(5))
	if a != b || a == c || a == (ContentKey{}) {
		t.Fatalf("keys: %x %x %x", a, b, c)
	}
	if _, err := NewContentKey(bytes.NewReader(make([]byte, 5))); err == nil {
		t.Fatal("short random source accepted")
	}
}

func BenchmarkXORKeyStream(b *testing.B) {
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		XORKeyStream(testKey, 1, 0, buf, buf)
	}
}
