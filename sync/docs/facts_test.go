package docs

import (
	"errors"
	"strings"
	"testing"

	"github.com/automerge/automerge-go"
)

func TestFactsRoundTrip(t *testing.T) {
	for _, f := range []Facts{
		{},
		{Kind: KindLibrary},
		{Kind: KindPlaylist, Name: "Road trip", Public: true},
		{Kind: KindPlaylist, Name: "ünïcode ✓"},
	} {
		got, err := ParseFacts(f.Encode())
		if err != nil || got != f {
			t.Errorf("%+v: parsed %+v, %v", f, got, err)
		}
	}
	long := Facts{Kind: KindPlaylist, Name: strings.Repeat("x", MaxFactsField+10)}
	got, err := ParseFacts(long.Encode())
	if err != nil || len(got.Name) != MaxFactsField {
		t.Errorf("long name: %d bytes, %v; want cut to %d", len(got.Name), err, MaxFactsField)
	}
}

func TestParseFactsRefuses(t *testing.T) {
	good := Facts{Kind: KindPlaylist, Name: "a"}.Encode()
	for name, b := range map[string][]byte{
		"empty":          nil,
		"version":        append([]byte{2}, good[1:]...),
		"flags":          append([]byte{1, 2}, good[2:]...),
		"short":          good[:len(good)-1],
		"trailing":       append(append([]byte{}, good...), 0),
		"length too big": {1, 0, 0xff, 0xff, 0x03},
	} {
		if _, err := ParseFacts(b); !errors.Is(err, ErrBadFacts) {
			t.Errorf("%s: %v, want ErrBadFacts", name, err)
		}
	}
}

func TestReadFacts(t *testing.T) {
	d := automerge.New()
	defer d.Close()
	if f := ReadFacts(d); f != (Facts{}) {
		t.Fatalf("empty document: %+v", f)
	}
	p, err := CreatePlaylist(d, "u1", "Mix", DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if f := ReadFacts(d); f != (Facts{Kind: KindPlaylist, Name: "Mix"}) {
		t.Fatalf("new playlist: %+v", f)
	}
	if err := p.SetPublic(true); err != nil {
		t.Fatal(err)
	}
	if err := p.Rename("Mix 2"); err != nil {
		t.Fatal(err)
	}
	if f := ReadFacts(d); f != (Facts{Kind: KindPlaylist, Name: "Mix 2", Public: true}) {
		t.Fatalf("renamed public playlist: %+v", f)
	}
}

func FuzzParseFacts(f *testing.F) {
	f.Add(Facts{Kind: KindPlaylist, Name: "a", Public: true}.Encode())
	f.Add([]byte{1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := ParseFacts(b)
		if err != nil {
			return
		}
		again, err := ParseFacts(got.Encode())
		if err != nil || again != got {
			t.Fatalf("re-encoding %+v: %+v, %v", got, again, err)
		}
	})
}

// TestUpdateFacts: UpdateFacts keeps kind and public from the previous
// record and reads a playlist's name; a record that does not parse is
// read in full.
func TestUpdateFacts(t *testing.T) {
	d := automerge.New()
	defer d.Close()
	p, err := CreatePlaylist(d, "u1", "Mix", DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetPublic(true); err != nil {
		t.Fatal(err)
	}
	if err := p.Rename("Renamed"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		prev []byte
		want Facts
	}{
		{"playlist renamed", Facts{Kind: KindPlaylist, Name: "Mix", Public: true}.Encode(), Facts{Kind: KindPlaylist, Name: "Renamed", Public: true}},
		{"kind and public come from the record", Facts{Kind: KindPlaylist, Name: "Mix"}.Encode(), Facts{Kind: KindPlaylist, Name: "Renamed"}},
		{"another kind reads nothing", Facts{Kind: KindLibrary}.Encode(), Facts{Kind: KindLibrary}},
		{"unparsable record: read in full", []byte{9}, Facts{Kind: KindPlaylist, Name: "Renamed", Public: true}},
	}
	for _, tc := range tests {
		got, err := ParseFacts(UpdateFacts(tc.prev, d))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
