package relay

import (
	"errors"

	"golang.org/x/text/language"
)

// ErrBadCountry: a country that is not an assigned ISO 3166-1 alpha-2
// code (400).
var ErrBadCountry = errors.New("relay: country must be an ISO 3166-1 alpha-2 code")

// notAssigned are the two-letter codes CLDR (golang.org/x/text) still
// knows as regions that ISO 3166-1 does not assign: exceptionally or
// transitionally reserved (AC, CP, DG, TA; AN, CS, NT, SU, YU) and
// withdrawn (FQ, PC).
var notAssigned = map[string]bool{"AC": true, "AN": true, "CP": true, "CS": true, "DG": true, "FQ": true,
	"NT": true, "PC": true, "SU": true, "TA": true, "YU": true}

// ValidCountry reports whether c is an officially assigned ISO 3166-1
// alpha-2 country code, in upper case ("DE", "BR"): not a private-use
// code (AA, QM–QZ, XA–XZ, ZZ, so not Kosovo's XK), a grouping (EU, UN),
// a deprecated code CLDR maps to a successor (DD, BU) or a reserved one.
func ValidCountry(c string) bool {
	if len(c) != 2 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z' || notAssigned[c] {
		return false
	}
	r, err := language.ParseRegion(c)
	return err == nil && r.IsCountry() && !r.IsPrivateUse() && r.ISO3() != "ZZZ" && r.Canonicalize() == r && r.String() == c
}
