package relayrecs

import (
	"errors"
	"testing"
	"time"
)

func TestPeriod(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		kind string
		now  time.Time
		loc  *time.Location
		want string
	}{
		{KindDiscoverWeekly, time.Date(2026, 12, 6, 23, 59, 59, 0, time.UTC), time.UTC, "2026-W49"},
		{KindDiscoverWeekly, time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC), time.UTC, "2026-W50"},
		// 23:30 UTC Sunday is 00:30 Monday in Berlin.
		{KindDiscoverWeekly, time.Date(2026, 12, 6, 23, 30, 0, 0, time.UTC), berlin, "2026-W50"},
		// ISO week 1 of 2027 starts Monday 2027-01-04; 2027-01-01 is in 2026-W53.
		{KindDiscoverWeekly, time.Date(2027, 1, 1, 12, 0, 0, 0, time.UTC), time.UTC, "2026-W53"},
		{familyMixes, time.Date(2026, 12, 6, 23, 30, 0, 0, time.UTC), berlin, "2026-12-07"},
		{KindReleaseRadar, time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC), time.UTC, "2026-11-27"},
		{KindReleaseRadar, time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC), time.UTC, "2026-12-04"},
	}
	for _, c := range cases {
		if got, _ := Period(c.kind, c.now, c.loc); got != c.want {
			t.Errorf("Period(%s, %s, %s) = %s, want %s", c.kind, c.now, c.loc, got, c.want)
		}
	}
}

func TestParseWeek(t *testing.T) {
	good := map[string]string{"2026-W49": "2026-11-30", "2026-W53": "2026-12-28", "2027-W01": "2027-01-04"}
	for in, want := range good {
		m, err := ParseWeek(in, time.UTC)
		if err != nil || m.Format(time.DateOnly) != want || m.Weekday() != time.Monday {
			t.Errorf("ParseWeek(%q) = %s, %v; want Monday %s", in, m, err, want)
		}
	}
	for _, in := range []string{"", "2026-W00", "2027-W53", "2026-W60", "2026W49", "2026-w49", "1969-W10", " 2026-W49", "２０２６-W49"} {
		if _, err := ParseWeek(in, time.UTC); !errors.Is(err, ErrBadWeek) {
			t.Errorf("ParseWeek(%q): %v, want ErrBadWeek", in, err)
		}
	}
}

// FuzzParseWeek: any input either fails with ErrBadWeek or names a
// Monday whose ISO week is the input.
func FuzzParseWeek(f *testing.F) {
	for _, s := range []string{"2026-W49", "2026-W53", "0000-W01", "9999-W52", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseWeek(s, time.UTC)
		if err != nil {
			if !errors.Is(err, ErrBadWeek) {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		if m.Weekday() != time.Monday || ISOWeek(m) != s {
			t.Fatalf("%q: %s", s, m)
		}
	})
}
