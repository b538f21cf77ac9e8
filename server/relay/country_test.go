package relay_test

import (
	"os"
	"strings"
	"testing"

	"github.com/segue-fm/segue/server/relay"
)

// TestValidCountry checks ValidCountry on a table and, where the system
// has tzdata's copy of the ISO 3166-1 list, against all 676 two-letter
// codes.
func TestValidCountry(t *testing.T) {
	for c, want := range map[string]bool{
		"DE": true, "BR": true, "GB": true, "US": true, "AQ": true, "SS": true, "CW": true,
		"de": false, "D": false, "DEU": false, "": false, "276": false, "D1": false,
		"UK": false, "EU": false, "UN": false, "ZZ": false, "XK": false, "AA": false, "QO": false,
		"DD": false, "BU": false, "YU": false, "SU": false, "CS": false, "AC": false, "TA": false, "FX": false,
	} {
		if got := relay.ValidCountry(c); got != want {
			t.Errorf("ValidCountry(%q) = %v, want %v", c, got, want)
		}
	}
	b, err := os.ReadFile("/usr/share/zoneinfo/iso3166.tab")
	if err != nil {
		t.Skipf("no tzdata iso3166.tab to cross-check: %v", err)
	}
	iso := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		if len(l) > 2 && l[0] != '#' {
			iso[l[:2]] = true
		}
	}
	if len(iso) < 240 {
		t.Fatalf("iso3166.tab lists %d codes", len(iso))
	}
	for a := 'A'; a <= 'Z'; a++ {
		for b := 'A'; b <= 'Z'; b++ {
			if c := string([]rune{a, b}); relay.ValidCountry(c) != iso[c] {
				t.Errorf("ValidCountry(%q) = %v, tzdata says %v", c, !iso[c], iso[c])
			}
		}
	}
}
