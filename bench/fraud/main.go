// Command fraud evaluates the relay's fraud scoring (server/fraud) on the
// simulated population (internal/playsim) shaped on lastfm-2k, and prints
// precision and recall per bot strategy on held-out seeds.
//
//	go run ./bench/fraud                 # evaluate the shipped model on the test seeds
//	go run ./bench/fraud -fit            # refit on the training seeds first, print the new model's table
//	go run ./bench/fraud -fit -write server/fraud/model.json
//
// The data is read from $SEGUE_LASTFM_DIR or ../shared/data/lastfm-2k.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/segue-fm/segue/internal/playsim"
	"github.com/segue-fm/segue/server/fraud"
	"github.com/segue-fm/segue/server/fraud/fraudeval"
	"github.com/segue-fm/segue/server/recs/eval"
)

func main() {
	if err := run(); err != nil {
		slog.Error("fraud bench", "err", err)
		os.Exit(1)
	}
}

func seeds(s string) ([]uint64, error) {
	var out []uint64
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad seed %q: %w", f, err)
		}
		out = append(out, n)
	}
	return out, nil
}

func run() error {
	train := flag.String("train", "1,2,3,4,5,6,7,8,9,10", "training seeds (comma-separated)")
	test := flag.String("test", "101,102,103", "held-out test seeds (comma-separated)")
	humans := flag.Int("humans", playsim.DefaultOptions().Humans(), "human accounts per seed")
	light := flag.Int("light", playsim.DefaultOptions().Light(), "light human accounts (at most 19 plays) per seed")
	bots := flag.Int("bots", playsim.DefaultOptions().Bots(), "bot accounts per strategy and seed")
	fit := flag.Bool("fit", false, "fit a model on the training seeds instead of using the shipped one")
	write := flag.String("write", "", "with -fit: write the fitted model to this file")
	l2 := flag.Float64("l2", fraud.DefaultFitOptions().L2(), "with -fit: L2 penalty")
	bins := flag.Int("bins", fraud.DefaultFitOptions().Bins(), "with -fit: quantile bins per feature")
	prec := flag.Float64("precision", fraud.DefaultFitOptions().Precision(), "with -fit: training precision the threshold must reach")
	verbose := flag.Bool("v", false, "print the model's bins and points")
	flag.Parse()
	tr, err := seeds(*train)
	if err != nil {
		return err
	}
	te, err := seeds(*test)
	if err != nil {
		return err
	}
	for _, a := range tr {
		for _, b := range te {
			if a == b {
				return fmt.Errorf("seed %d is both a training and a test seed", a)
			}
		}
	}
	dir, err := eval.FindLastFM()
	if err != nil {
		return err
	}
	d, err := eval.LoadLastFM(dir)
	if err != nil {
		return err
	}
	shape, err := playsim.ShapeFromLastFM(d)
	if err != nil {
		return err
	}
	opts := playsim.DefaultOptions().WithHumans(*humans).WithLight(*light).WithBots(*bots)
	var m *fraud.Model
	if !*fit {
		if m, err = fraud.DefaultModel(); err != nil {
			return err
		}
	} else {
		t0 := time.Now()
		ss, err := fraudeval.Seeds(tr, opts, shape)
		if err != nil {
			return err
		}
		fo := fraud.DefaultFitOptions().WithL2(*l2).WithBins(*bins).WithPrecision(*prec)
		if m, err = fraudeval.Fit(ss, fraud.DefaultMinPlays, fo); err != nil {
			return err
		}
		m.Trained = fraudeval.Trained(tr, opts, fo)
		fmt.Printf("fitted on seeds %s in %v; training table:\n\n", *train, time.Since(t0).Round(time.Millisecond))
		fraudeval.Evaluate(m, ss, fraud.DefaultMinPlays, true).Write(os.Stdout)
		if *write != "" {
			b, err := m.JSON()
			if err != nil {
				return err
			}
			if err := os.WriteFile(*write, b, 0o644); err != nil {
				return err
			}
		}
	}
	t0 := time.Now()
	ss, err := fraudeval.Seeds(te, opts, shape)
	if err != nil {
		return err
	}
	fmt.Printf("\nsimulated and extracted %d held-out accounts in %v\n", len(ss), time.Since(t0).Round(time.Millisecond))
	for _, inputs := range []bool{true, false} {
		tab := fraudeval.Evaluate(m, ss, fraud.DefaultMinPlays, inputs)
		what := "with AccountInfo (IP, friends, library edits)"
		if !inputs {
			what = "play events only (no AccountInfo)"
		}
		fmt.Printf("\nheld-out seeds %s, %s (threshold %.4f):\n\n", *test, what, tab.Threshold)
		tab.Write(os.Stdout)
	}
	if *verbose {
		for i := range int(fraud.NumFeatures) {
			fmt.Printf("%-20s edges %.3g\n%-20s points %.2f\n", fraud.Feature(i), m.Edges[i], "", m.Points[i])
		}
	}
	return nil
}
