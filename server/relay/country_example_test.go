package relay_test

import (
	"fmt"

	"github.com/segue-fm/segue/server/relay"
)

// ExampleValidCountry checks account countries: assigned ISO 3166-1
// alpha-2 codes only, in upper case.
func ExampleValidCountry() {
	for _, c := range []string{"DE", "de", "UK", "EU", "XK", "BR"} {
		fmt.Println(c, relay.ValidCountry(c))
	}
	// Output:
	// DE true
	// de false
	// UK false
	// EU false
	// XK false
	// BR true
}
