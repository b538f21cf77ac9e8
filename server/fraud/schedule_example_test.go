package fraud_test

import (
	"fmt"
	"time"

	"github.com/segue-fm/segue/server/fraud"
)

// ExampleMonths shows which months a scheduled scan covers: the current
// UTC month and every earlier one a play can still be counted in.
func ExampleMonths() {
	fmt.Println(fraud.Months(time.Date(2027, 1, 3, 12, 0, 0, 0, time.UTC)))
	// Output: [2026-12 2027-01]
}
