package royalties

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Errors of currencies and amounts.
var (
	// ErrBadCurrency: not an active ISO 4217 code with a minor unit.
	ErrBadCurrency = errors.New("royalties: bad currency")
	// ErrBadPool: the pool is not a non-negative decimal in the
	// currency's minor unit, or it is too large.
	ErrBadPool = errors.New("royalties: bad pool")
)

// MaxPoolMinor bounds the pool in minor units (10¹⁵ euros in cents).
const MaxPoolMinor = int64(1e17)

// maxPoolWhole bounds the pool's integer digits.
const maxPoolWhole = 15

// ISO 4217 list one (the edition of 2026-01-01): the active currency
// codes by the digits of their minor unit. The codes without one (N.A.:
// the precious metals, SDR, the bond market units, XSU, XUA, XTS and XXX)
// are noMinorUnit. golang.org/x/text/currency is not used: its CLDR 32
// tables lack newer codes (XCG, ZWG, SLE), accept withdrawn ones (HRK)
// and give CLDR's digits, not ISO's (IQD 0 instead of 3, LBP 0 instead
// of 2).
const (
	iso4217Digits0 = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
	iso4217Digits2 = "AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BMD BND BOB BOV BRL BSD BTN BWP BYN BZD " +
		"CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP " +
		"GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL " +
		"MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN " +
		"QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD " +
		"TWD TZS UAH USD USN UYU UZS VED VES WST XAD XCD XCG YER ZAR ZMW ZWG"
	iso4217Digits3 = "BHD IQD JOD KWD LYD OMR TND"
	iso4217Digits4 = "CLF UYW"
	noMinorUnit    = "XAG XAU XBA XBB XBC XBD XDR XPD XPT XSU XTS XUA XXX"
)

// minorDigits maps each active code with a minor unit to its digits.
var minorDigits = func() map[string]int {
	m := map[string]int{}
	for digits, codes := range map[int]string{0: iso4217Digits0, 2: iso4217Digits2, 3: iso4217Digits3, 4: iso4217Digits4} {
		for _, c := range strings.Fields(codes) {
			m[c] = digits
		}
	}
	return m
}()

// pow10 holds 10^0 through 10^4, the scales of the minor units.
var pow10 = [...]int64{1, 10, 100, 1000, 10000}

// Currency is an active ISO 4217 currency with a minor unit: its code and
// the digits of that unit (2 for EUR's cent, 0 for JPY, 3 for BHD's fils).
// Amounts are whole numbers of the minor unit, so every split of a pool
// sums to it exactly. Get one from ParseCurrency; it marshals to its code.
type Currency struct {
	code   string
	digits int
}

// ParseCurrency returns the currency of an ISO 4217 code, e.g. "EUR". A
// code that is not in ISO 4217's list of active codes, or one without a
// minor unit (gold, SDR, the test code XTS), is ErrBadCurrency.
func ParseCurrency(s string) (Currency, error) {
	if d, ok := minorDigits[s]; ok {
		return Currency{code: s, digits: d}, nil
	}
	if slices.Contains(strings.Fields(noMinorUnit), s) {
		return Currency{}, fmt.Errorf("%w: %s has no minor unit in ISO 4217 (a precious metal, fund or test code)", ErrBadCurrency, s)
	}
	return Currency{}, fmt.Errorf("%w: %.16q is not an active ISO 4217 code (three upper-case letters, e.g. EUR, USD, JPY)", ErrBadCurrency, s)
}

// String returns the code.
func (c Currency) String() string { return c.code }

// MarshalText returns the code.
func (c Currency) MarshalText() ([]byte, error) { return []byte(c.code), nil }

// Format writes an amount in minor units as a decimal with the
// currency's digits: 1234 is "12.34" in EUR, "1234" in JPY, "1.234" in
// BHD.
func (c Currency) Format(minor int64) string {
	sign, u := "", uint64(minor)
	if minor < 0 {
		sign, u = "-", -u
	}
	if c.digits == 0 {
		return sign + strconv.FormatUint(u, 10)
	}
	p := uint64(pow10[c.digits])
	return fmt.Sprintf("%s%d.%0*d", sign, u/p, c.digits, u%p)
}

// ParsePool parses a pool amount in cur: a decimal with at most 15 integer
// digits and at most cur's minor-unit digits after the point ("1000000.00"
// or "12.5" in EUR, "1000000" in JPY), into minor units, exactly. Errors
// wrap ErrBadPool and say what cur takes.
func ParsePool(s string, cur Currency) (int64, error) {
	whole, frac, hasPoint := strings.Cut(s, ".")
	digitsOnly := func(d string) bool { return d != "" && strings.Trim(d, "0123456789") == "" }
	switch {
	case cur.code == "":
		return 0, fmt.Errorf("%w: no currency", ErrBadPool)
	case cur.digits == 0 && (hasPoint || !digitsOnly(whole) || len(whole) > maxPoolWhole):
		return 0, fmt.Errorf("%w: %.32q: %s has no minor unit: want a whole number of at most %d digits, e.g. 1000000", ErrBadPool, s, cur, maxPoolWhole)
	case !digitsOnly(whole) || len(whole) > maxPoolWhole || hasPoint && (!digitsOnly(frac) || len(frac) > cur.digits):
		return 0, fmt.Errorf("%w: %.32q: want a decimal of at most %d integer digits and %d fraction digits (the minor unit of %s), e.g. %s",
			ErrBadPool, s, maxPoolWhole, cur.digits, cur, cur.Format(1_000_000*pow10[cur.digits]))
	}
	var u uint64 // at most 15 + 4 digits: below 2⁶⁴
	for _, r := range whole + frac + strings.Repeat("0", cur.digits-len(frac)) {
		u = u*10 + uint64(r-'0')
	}
	if u > uint64(MaxPoolMinor) {
		return 0, fmt.Errorf("%w: %.32q: at most %s %s", ErrBadPool, s, cur.Format(MaxPoolMinor), cur)
	}
	return int64(u), nil
}
