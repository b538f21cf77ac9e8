package recs_test

import (
	"fmt"
	"log"

	"github.com/segue-fm/segue/server/recs"
)

// Implicit-feedback ALS on two taste groups: listeners 0–3 play items
// 0–2 (rock), listeners 4–7 items 3–5 (jazz). Listener 8 has played
// rock items 0 and 1; their best unplayed item, chosen as Discover
// Weekly chooses (TopNPerArtist: played items left out, at most two per
// artist), is the third rock item.
func ExampleTrainALS() {
	var plays []recs.Play
	for u := range 8 {
		first := 0
		if u >= 4 {
			first = 3
		}
		for i := first; i < first+3; i++ {
			plays = append(plays, recs.Play{User: u, Item: i, Count: float64(5 + u%3)})
		}
	}
	plays = append(plays, recs.Play{User: 8, Item: 0, Count: 4}, recs.Play{User: 8, Item: 1, Count: 2})
	m, err := recs.NewMatrix(9, 6, plays)
	if err != nil {
		log.Fatal(err)
	}
	model, err := recs.TrainALS(m, recs.DefaultOptions().WithFactors(4).WithIterations(10).WithWorkers(1))
	if err != nil {
		log.Fatal(err)
	}
	scores := make([]float64, 6)
	model.Scores(8, scores)
	artistOf := []int{0, 0, 1, 2, 2, 3}
	top, err := recs.TopNPerArtist(scores, []int{0, 1}, artistOf, 3, 2)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(top[0])
	// Output:
	// 2
}
