package peer

import (
	"crypto/rand"
	"errors"
	"testing"

	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/wire"
)

// TestDocNames: the cache answers as wire.Message.DocID and
// docs.DocumentID.String do, caches only ids that parse, and holds at
// most maxAuthzCache entries each way.
func TestDocNames(t *testing.T) {
	id, err := docs.NewDocumentID(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	good := id.String()
	// Another last digit: the checksum no longer matches.
	last := "1"
	if good[len(good)-1] == '1' {
		last = "2"
	}
	bad := good[:len(good)-1] + last
	var n docNames
	for _, c := range []struct {
		name, text string
		ok         bool
	}{
		{"valid", good, true},
		{"valid again (cached)", good, true},
		{"bad checksum", bad, false},
		{"bad checksum again", bad, false},
		{"empty", "", false},
		{"not base58", "0OIl", false},
		{"too long", good + good, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := &wire.Message{Type: wire.TypeSync, DocumentID: c.text}
			got, err := n.parse(m)
			want, wantErr := m.DocID()
			if (err == nil) != c.ok || (wantErr == nil) != c.ok {
				t.Fatalf("parse error %v, DocID error %v, want ok=%v", err, wantErr, c.ok)
			}
			if err != nil && (err.Error() != wantErr.Error() || !errors.Is(err, docs.ErrInvalidDocumentID)) {
				t.Fatalf("parse error %q, DocID's %q", err, wantErr)
			}
			if got != want {
				t.Fatalf("parse %v, DocID %v", got, want)
			}
		})
	}
	if len(n.byText) != 1 {
		t.Fatalf("%d texts cached, want only the valid one", len(n.byText))
	}
	if got := n.text(id); got != good {
		t.Fatalf("text %q, want %q", got, good)
	}
	for range 2*maxAuthzCache + 1 {
		other, err := docs.NewDocumentID(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		s := n.text(other)
		if s != other.String() {
			t.Fatalf("text %q, want %q", s, other.String())
		}
		if got, err := n.parse(&wire.Message{Type: wire.TypeSync, DocumentID: s}); err != nil || got != other {
			t.Fatalf("parse %q: %v %v", s, got, err)
		}
		if len(n.byID) > maxAuthzCache || len(n.byText) > maxAuthzCache {
			t.Fatalf("%d ids and %d texts cached, bound %d", len(n.byID), len(n.byText), maxAuthzCache)
		}
	}
}
