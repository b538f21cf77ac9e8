package cborx_test

import (
	"fmt"

	"github.com/segue-fm/segue/internal/cborx"
)

// A record encoded deterministically and read back with a strict,
// bounded decoder; a duplicate key is refused.
func ExampleLimits_StrictDecMode() {
	type point struct {
		X int `cbor:"1,keyasint"`
		Y int `cbor:"2,keyasint"`
	}
	dec := cborx.Limits{MaxNestedLevels: 4, MaxArrayElements: 16, MaxMapPairs: 16}.StrictDecMode()
	b, err := cborx.Marshal(point{X: 1, Y: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	var p point
	fmt.Printf("%x %v %+v\n", b, dec.Unmarshal(b, &p), p)
	dup := []byte{0xa2, 0x01, 0x01, 0x01, 0x02} // {1: 1, 1: 2}
	fmt.Println(dec.Unmarshal(dup, &p) != nil)
	// Output:
	// a201010202 <nil> {X:1 Y:2}
	// true
}
