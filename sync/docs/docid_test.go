package docs

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestDocumentIDRoundTrip(t *testing.T) {
	r := rand.NewChaCha8([32]byte{1})
	for i := 0; i < 200; i++ {
		id, err := NewDocumentID(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseDocumentID(id.String())
		if err != nil || got != id {
			t.Fatalf("round trip %x: got %x, %v", id, got, err)
		}
		got, err = ParseURL(id.URL())
		if err != nil || got != id {
			t.Fatalf("url round trip %x: got %x, %v", id, got, err)
		}
	}
}

// TestDocumentIDKnownVector checks interop with automerge-repo: the id of
// the all-zero UUID as automerge-repo's bs58check (Buffer of 16 zero bytes)
// encodes it.
func TestDocumentIDKnownVector(t *testing.T) {
	var id DocumentID
	s := id.String()
	// 16 zero bytes give 16 leading '1's, then the base58 of the checksum.
	if !strings.HasPrefix(s, strings.Repeat("1", 16)) {
		t.Fatalf("zero id = %q, want 16 leading 1s", s)
	}
	if _, err := ParseDocumentID(s); err != nil {
		t.Fatal(err)
	}
}

func TestParseDocumentIDErrors(t *testing.T) {
	var id DocumentID
	id[0] = 7
	good := id.String()
	flipped := []byte(good)
	if flipped[len(flipped)-1] == '2' {
		flipped[len(flipped)-1] = '3'
	} else {
		flipped[len(flipped)-1] = '2'
	}
	tests := []struct {
		name, in string
	}{
		{"empty", ""},
		{"not base58", "0OIl"},
		{"too short", "3mJr7AoUXx2Wqd"},
		{"bad checksum", string(flipped)},
		{"too long", strings.Repeat("z", 41)},
		{"url without prefix", "automerge" + good},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseDocumentID(tc.in)
			if !errors.Is(err, ErrInvalidDocumentID) {
				t.Fatalf("ParseDocumentID(%q) = %v, want ErrInvalidDocumentID", tc.in, err)
			}
		})
	}
	if _, err := ParseURL(good); !errors.Is(err, ErrInvalidDocumentID) {
		t.Fatalf("ParseURL without prefix = %v", err)
	}
}

func FuzzParseDocumentID(f *testing.F) {
	var id DocumentID
	f.Add(id.String())
	id[3] = 0xff
	f.Add(id.String())
	f.Add("4NMNnkHuc8mKbf2obyTQrLfNJvP8")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseDocumentID(s)
		if err != nil {
			return
		}
		if id.String() != s {
			t.Fatalf("accepted %q but it re-encodes to %q", s, id.String())
		}
	})
}
