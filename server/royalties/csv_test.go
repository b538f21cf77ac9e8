package royalties

import (
	"bytes"
	"encoding/csv"
	"slices"
	"testing"

	"github.com/segue-fm/segue/core/model"
)

// TestCSVSpreadsheetSafe: a text field a spreadsheet would take for a
// formula is written with a leading apostrophe in every CSV statement, so
// opening a statement never evaluates a party name from an album's
// rights (=HYPERLINK(…), @SUM(…)) or reads a track id as a sum. Before,
// the holder statement wrote "=HYPERLINK(…)" as it came. Other fields,
// commas and quotes included, read back exactly.
func TestCSVSpreadsheetSafe(t *testing.T) {
	eur, err := ParseCurrency("EUR")
	if err != nil {
		t.Fatal(err)
	}
	parties := []string{`=HYPERLINK("http://x.example","pay")`, "+1", "-M-", "@SUM(A1)", "\tTab", "Plain, with \"quotes\""}
	want := []string{`'=HYPERLINK("http://x.example","pay")`, "'+1", "'-M-", "'@SUM(A1)", "'\tTab", "Plain, with \"quotes\""}
	hs := HolderStatement{Month: "2026-12", Currency: eur}
	for _, p := range parties {
		hs.Holders = append(hs.Holders, HolderLine{Party: p, Role: model.RoleLabel, Streams: "1", Tracks: 1, Amount: "0.01"})
	}
	st := Statement{Month: "2026-12", Currency: eur, Tracks: []Line{{Track: "-12-3", Streams: 1, Amount: "0.01"}, {Track: "tr1", Streams: 2, Amount: "0.02"}}}
	cs := CountryStatement{Month: "2026-12", Currency: eur, Lines: []CountryLine{{Track: "-12-3", Country: "FR", Streams: 1, Amount: "0.01"}}}
	held := Held{Lines: []HeldLine{{User: "-bot", Track: "-12-3", Streams: 3}}}
	tests := []struct {
		name string
		csv  []byte
		col  int
		want []string
	}{
		{"holders", hs.CSV(), 2, want},
		{"tracks", st.CSV(), 2, []string{"'-12-3", "tr1"}},
		{"countries", cs.CSV(), 2, []string{"'-12-3"}},
		{"held users", held.CSV("2026-12"), 1, []string{"'-bot"}},
		{"held tracks", held.CSV("2026-12"), 2, []string{"'-12-3"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := csv.NewReader(bytes.NewReader(tc.csv)).ReadAll()
			if err != nil {
				t.Fatalf("%v\n%s", err, tc.csv)
			}
			var got []string
			for _, r := range rows[1:] {
				got = append(got, r[tc.col])
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("column %d: %q, want %q\n%s", tc.col, got, tc.want, tc.csv)
			}
		})
	}
}
