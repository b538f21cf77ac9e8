package royalties_test

import (
	"fmt"
	"log"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/royalties"
)

// A month's pool of 100.00 EUR split over three tracks' counted streams:
// the amounts sum to the pool exactly, the cent left over by the floor
// division goes to the track with the largest remainder.
func ExampleCompute() {
	eur, err := royalties.ParseCurrency("EUR")
	if err != nil {
		log.Fatal(err)
	}
	pool, err := royalties.ParsePool("100.00", eur)
	if err != nil {
		log.Fatal(err)
	}
	st := royalties.Compute("2026-11", eur, pool, map[model.TrackID]uint64{
		"a1": 1, "b2": 1, "c3": 1, "d4": 0,
	})
	fmt.Print(string(st.CSV()))
	// Output:
	// month,currency,track,streams,amount
	// 2026-11,EUR,a1,1,33.34
	// 2026-11,EUR,b2,1,33.33
	// 2026-11,EUR,c3,1,33.33
}

// Amounts are whole minor units of the currency: the yen has none below
// it, the Bahraini dinar has three digits of fils.
func ExampleCurrency_Format() {
	for _, code := range []string{"EUR", "JPY", "BHD"} {
		c, err := royalties.ParseCurrency(code)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(code, c.Format(1234))
	}
	_, err := royalties.ParseCurrency("XAU")
	fmt.Println(err != nil)
	// Output:
	// EUR 12.34
	// JPY 1234
	// BHD 1.234
	// true
}
