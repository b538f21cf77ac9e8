package sparkals_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"gonum.org/v1/gonum/mat"

	"github.com/segue-fm/segue/server/recs/sparkals"
)

// Example writes a factor directory as a Spark job would and loads it
// back, as the relay does at every run with -recs-factors.
func Example() {
	dir, err := os.MkdirTemp("", "factors")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	users := sparkals.NewTable([]string{"alice", "bob"}, mat.NewDense(2, 2, []float64{0.5, -1, 1, 0.25}))
	items := sparkals.NewTable([]string{"t1", "t2", "t3"}, mat.NewDense(3, 2, []float64{1, 0, 0, 1, 0.5, 0.5}))
	if err := sparkals.Write(dir, sparkals.Manifest{RunID: "run-42"}, users, items, sparkals.Float32); err != nil {
		log.Fatal(err)
	}
	f, err := sparkals.Load(context.Background(), dir, sparkals.DefaultLimits())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(f.Manifest.RunID, f.Manifest.Rank, f.Users.IDs, f.Items.IDs, f.Items.Factors.At(2, 1))
	// Output: run-42 2 [alice bob] [t1 t2 t3] 0.5
}
