package wire

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestEncodeTo: EncodeTo appends exactly Encode's bytes after what the
// buffer holds, for every frame of automerge-repo's testdata, and refuses
// what Encode refuses.
func TestEncodeTo(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.cbor"))
	if err != nil || len(files) == 0 {
		t.Fatalf("testdata frames: %v, %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Decode(raw, 0)
			if err != nil {
				t.Fatal(err)
			}
			want, err := Encode(m)
			if err != nil {
				t.Fatal(err)
			}
			buf := bytes.NewBufferString("prefix")
			if err := EncodeTo(buf, m); err != nil {
				t.Fatal(err)
			}
			if got := buf.Bytes(); !bytes.Equal(got, append([]byte("prefix"), want...)) {
				t.Fatalf("EncodeTo wrote %x, Encode %x", got[len("prefix"):], want)
			}
		})
	}
	for _, tc := range []struct {
		name string
		m    *Message
		want error
	}{
		{"sync without data", &Message{Type: TypeSync, SenderID: "a", TargetID: "b", DocumentID: "x"}, ErrMalformed},
		{"larger than a frame", &Message{Type: TypeSync, SenderID: "a", TargetID: "b", DocumentID: "x", Data: make([]byte, MaxFrameSize)}, ErrFrameTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := EncodeTo(&buf, tc.m); !errors.Is(err, tc.want) {
				t.Fatalf("EncodeTo = %v, want %v", err, tc.want)
			}
			if _, err := Encode(tc.m); !errors.Is(err, tc.want) {
				t.Fatalf("Encode = %v, want %v", err, tc.want)
			}
		})
	}
}
