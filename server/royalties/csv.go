package royalties

import (
	"bytes"
	"encoding/csv"
	"strings"
)

// cell returns the text field s for a CSV statement: s starting with a
// character a spreadsheet takes for a formula ('=', '+', '-', '@', tab,
// carriage return) gets a leading apostrophe, so a party name such as
// =HYPERLINK(…) from an album's rights is shown, never evaluated, when
// the statement is opened in a spreadsheet, and a track id such as -12-3
// is not read as a sum (the JSON files keep every value as it is).
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// csvBytes returns header and rows as RFC 4180 CSV (encoding/csv: fields
// quoted when they need it).
func csvBytes(header []string, rows func(yield func(...string))) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write(header)
	rows(func(fields ...string) { w.Write(fields) })
	w.Flush()
	return b.Bytes()
}
