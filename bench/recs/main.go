// Command recs prints the offline quality table of issue 14 item 3 on the
// Last.fm lastfm-2k data (docs/BENCHMARKS.md, "Recommendations: quality"):
// popularity, item-kNN, ALS, ALS + friends re-ranking and EASE, tuned on a
// validation split carved from the training split and measured once on
// the held-out 20 % of every user's artists.
//
//	go run ./bench/recs            # data from $SEGUE_LASTFM_DIR or ../shared/data/lastfm-2k
//	go run ./bench/recs -data DIR
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/segue-fm/segue/server/recs/eval"
)

func main() {
	data := flag.String("data", "", "lastfm-2k directory (default: $"+eval.EnvLastFMDir+" or ../shared/data/lastfm-2k beside the repository)")
	seed := flag.Uint64("seed", eval.DefaultConfig().Seed, "split seed")
	quiet := flag.Bool("q", false, "do not print every tried configuration")
	flag.Parse()
	if err := run(*data, *seed, *quiet); err != nil {
		fmt.Fprintln(os.Stderr, "recs:", err)
		os.Exit(1)
	}
}

func run(dir string, seed uint64, quiet bool) error {
	if dir == "" {
		d, err := eval.FindLastFM()
		if err != nil {
			return err
		}
		dir = d
	}
	d, err := eval.LoadLastFM(dir)
	if err != nil {
		return err
	}
	c := eval.DefaultConfig()
	c.Seed = seed
	var log io.Writer = os.Stderr
	if quiet {
		log = io.Discard
	}
	rows, err := eval.Run(d, c, log)
	if err != nil {
		return err
	}
	eval.WriteTable(os.Stdout, rows)
	return nil
}
