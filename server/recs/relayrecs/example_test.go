package relayrecs_test

import (
	"fmt"
	"time"

	"github.com/segue-fm/segue/server/recs/relayrecs"
)

// Period decides what is due: Discover Weekly's week starts on Monday
// 00:00 in the listener's own time zone.
func ExamplePeriod() {
	auckland, _ := time.LoadLocation("Pacific/Auckland")
	sundayUTC := time.Date(2026, 12, 6, 11, 0, 0, 0, time.UTC) // Monday 00:00 in Auckland
	utc, _ := relayrecs.Period(relayrecs.KindDiscoverWeekly, sundayUTC, time.UTC)
	nz, _ := relayrecs.Period(relayrecs.KindDiscoverWeekly, sundayUTC, auckland)
	fmt.Println(utc, nz)
	// Output: 2026-W49 2026-W50
}
