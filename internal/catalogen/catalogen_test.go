package catalogen

import (
	"reflect"
	"strings"
	"testing"
)

func TestGenerate(t *testing.T) {
	a, b := Generate(7, 5000), Generate(7, 5000)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed gave different catalogs")
	}
	if len(a.Tracks) != 5000 || len(a.Artists) != 500 {
		t.Fatalf("%d tracks, %d artists", len(a.Tracks), len(a.Artists))
	}
	if c := Generate(8, 5000); reflect.DeepEqual(a.Tracks[:50], c.Tracks[:50]) {
		t.Error("different seeds gave the same tracks")
	}
	var feat, remaster, live, diacritic int
	ids := map[string]bool{}
	for _, tr := range a.Tracks {
		if ids[tr.ID] || ids[tr.ISRC] {
			t.Fatalf("duplicate id or ISRC in %+v", tr)
		}
		ids[tr.ID], ids[tr.ISRC] = true, true
		if len(tr.ArtistIDs) > 1 {
			feat++
		}
		if strings.Contains(tr.Title, "(Remastered") {
			remaster++
		}
		if strings.HasSuffix(tr.Title, " - Live") {
			live++
		}
	}
	for _, ar := range a.Artists {
		if strings.ContainsAny(ar.Name, "éöüßñþøåłřáó") {
			diacritic++
		}
	}
	if feat == 0 || remaster == 0 || live == 0 || diacritic < 50 {
		t.Errorf("featured %d, remasters %d, live %d, artists with diacritics %d", feat, remaster, live, diacritic)
	}
	if a.Artists[0].Name != "AC/DC" || a.Artists[1].Name != "Guns N' Roses" {
		t.Errorf("named artists missing: %q %q", a.Artists[0].Name, a.Artists[1].Name)
	}
}
