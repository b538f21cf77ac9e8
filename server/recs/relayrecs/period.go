package relayrecs

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/segue-fm/segue/internal/safetext"
)

// ErrBadWeek is returned for an ISO week that is not YYYY-Www or does not
// exist (week 53 of a 52-week year).
var ErrBadWeek = errors.New("relayrecs: week must be an ISO week YYYY-Www")

// Kinds of service playlists (the "service" field of the document and
// the kind in GET /v1/recommendations).
const (
	KindDiscoverWeekly = "discover_weekly"
	KindReleaseRadar   = "release_radar"
	kindDailyMixPrefix = "daily_mix_"
)

// DailyMixKind is the kind of the n-th Daily Mix (1-based).
func DailyMixKind(n int) string { return kindDailyMixPrefix + strconv.Itoa(n) }

// ISOWeek names the ISO 8601 week holding t's calendar day in t's own
// location, e.g. "2026-W49".
func ISOWeek(t time.Time) string {
	y, w := t.ISOWeek()
	return fmt.Sprintf("%04d-W%02d", y, w)
}

var weekRE = regexp.MustCompile(`^([0-9]{4})-W([0-9]{2})$`)

// ParseWeek returns the Monday 00:00 in loc that starts ISO week s
// ("2026-W49"). ErrBadWeek for anything else.
func ParseWeek(s string, loc *time.Location) (time.Time, error) {
	m := weekRE.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, fmt.Errorf("%w: %s", ErrBadWeek, safetext.Quote(s))
	}
	y, _ := strconv.Atoi(m[1])
	w, _ := strconv.Atoi(m[2])
	if y < 1970 || w < 1 || w > 53 {
		return time.Time{}, fmt.Errorf("%w: %s", ErrBadWeek, safetext.Quote(s))
	}
	// 4 January is always in week 1.
	jan4 := time.Date(y, time.January, 4, 0, 0, 0, 0, loc)
	monday := jan4.AddDate(0, 0, -((int(jan4.Weekday())+6)%7)+7*(w-1))
	if ISOWeek(monday) != s {
		return time.Time{}, fmt.Errorf("%w: %s does not exist", ErrBadWeek, safetext.Quote(s))
	}
	return monday, nil
}

// startOfDay returns 00:00 of t's calendar day in t's location.
func startOfDay(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, t.Location())
}

// lastWeekday returns 00:00 of the latest day ≤ t's day (in t's
// location) that falls on wd.
func lastWeekday(t time.Time, wd time.Weekday) time.Time {
	d := startOfDay(t)
	return d.AddDate(0, 0, -((int(d.Weekday()) - int(wd) + 7) % 7))
}

// Period returns the period whose content is due at now for the listener
// in loc, and when that period started:
//
//   - Discover Weekly: the ISO week of the latest Monday 00:00 local
//     ("2026-W49");
//   - Daily Mixes: the local calendar day ("2026-12-02");
//   - Release Radar: the latest Friday 00:00 local, named by its date
//     ("2026-12-04").
//
// A period's content is delivered once (idempotent); until the run for
// the new period succeeds the previous content stays.
func Period(kind string, now time.Time, loc *time.Location) (string, time.Time) {
	local := now.In(loc)
	switch kind {
	case KindDiscoverWeekly:
		m := lastWeekday(local, time.Monday)
		return ISOWeek(m), m
	case KindReleaseRadar:
		f := lastWeekday(local, time.Friday)
		return f.Format(time.DateOnly), f
	default:
		d := startOfDay(local)
		return d.Format(time.DateOnly), d
	}
}
