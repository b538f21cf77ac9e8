// Package fraudeval evaluates server/fraud on the simulated population of
// internal/playsim: it extracts every simulated account's features as the
// relay would (plays through fraud.Extractor, IP, friends and library
// edits as explicit inputs), fits models on training seeds and reports
// precision and recall per bot strategy on held-out seeds. Used by the
// package's evaluation test and by bench/fraud.
package fraudeval

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/playsim"
	"github.com/segue-fm/segue/server/fraud"
)

// Sample is one simulated account ready for scoring: its features with
// the AccountInfo inputs (IP, friends, library edits), and from its play
// events only, as a scan without AccountInfo sees it; Group is the number
// of accounts of its group when the group check (fraud.Extractor.Groups,
// play events only, fraud.DefaultGroupOptions) flags it, else 0.
type Sample struct {
	Account    playsim.Account
	Plays      int
	Features   fraud.Features
	EventsOnly fraud.Features
	Group      int
}

// Bot reports whether the sample is a bot account.
func (s Sample) Bot() bool { return s.Account.Label != playsim.Human }

// Population simulates opts (its seed) over shape and returns every
// account's sample, accounts with fewer than fraud.DefaultMinPlays plays
// included (Evaluate flags them only through their group, as Scan does).
func Population(opts playsim.Options, shape playsim.Shape) ([]Sample, error) {
	x := fraud.NewExtractor()
	accts, err := playsim.Run(opts, shape, func(p playsim.Play) { x.Add(fraud.Play(p)) })
	if err != nil {
		return nil, err
	}
	info := make(map[model.UserID]fraud.AccountInfo, len(accts))
	for _, a := range accts {
		info[a.User] = fraud.AccountInfo{IP: a.IP, Social: true, Friends: a.Friends, LibraryEdits: a.LibraryEdits}
	}
	in, none := fraud.NewInputs(info), fraud.NewInputs(nil)
	groups, _, _ := x.Groups(fraud.DefaultGroupOptions())
	group := map[model.UserID]int{}
	for _, g := range groups {
		for _, u := range g.Accounts {
			group[u] = len(g.Accounts)
		}
	}
	out := make([]Sample, 0, len(accts))
	for _, a := range accts {
		f, _ := x.Account(a.User, in)
		e, _ := x.Account(a.User, none)
		out = append(out, Sample{Account: a, Plays: x.Plays(a.User), Features: f, EventsOnly: e, Group: group[a.User]})
	}
	return out, nil
}

// Seeds simulates every seed (opts otherwise unchanged) and concatenates
// the samples.
func Seeds(seeds []uint64, opts playsim.Options, shape playsim.Shape) ([]Sample, error) {
	var all []Sample
	for _, s := range seeds {
		ss, err := Population(opts.WithSeed(s), shape)
		if err != nil {
			return nil, fmt.Errorf("seed %d: %w", s, err)
		}
		all = append(all, ss...)
	}
	return all, nil
}

// Trained describes a model fitted by Fit on seeds simulated with opts,
// for Model.Trained.
func Trained(seeds []uint64, opts playsim.Options, fit fraud.FitOptions) string {
	ss := make([]string, len(seeds))
	for i, s := range seeds {
		ss[i] = strconv.FormatUint(s, 10)
	}
	return fmt.Sprintf("playsim seeds %s, %d humans and %d bots per strategy per seed, lastfm-2k shape; %d bins, L2 %g, training precision %g",
		strings.Join(ss, ","), opts.Humans(), opts.Bots(), fit.Bins(), fit.L2(), fit.Precision())
}

// Fit fits a model on the samples that reach minPlays.
func Fit(samples []Sample, minPlays int, opts fraud.FitOptions) (*fraud.Model, error) {
	var xs []fraud.Features
	var ys []bool
	for _, s := range samples {
		if s.Plays >= minPlays {
			xs = append(xs, s.Features)
			ys = append(ys, s.Bot())
		}
	}
	return fraud.Fit(xs, ys, opts)
}

// Row is one line of the evaluation: a population (a strategy, the
// humans, or all bots) with its accounts, the flagged ones and the
// resulting precision and recall. For a strategy, precision is that of a
// population of the humans and this strategy alone: TP / (TP + every
// flagged human).
type Row struct {
	Label     string
	Accounts  int
	Flagged   int
	Precision float64
	Recall    float64
}

// Table is an evaluation: one row per strategy, then "all bots", then
// "humans" (Flagged = false positives), then "light humans": the humans
// among them with fewer than the minimum of plays, flagged only through a
// group.
type Table struct {
	Rows      []Row
	Threshold float64
}

// Overall returns the "all bots" row.
func (t Table) Overall() Row { return t.row("all bots") }

// Humans returns the "humans" row.
func (t Table) Humans() Row { return t.row("humans") }

// LightHumans returns the "light humans" row.
func (t Table) LightHumans() Row { return t.row("light humans") }

// Strategy returns the row of strategy l.
func (t Table) Strategy(l playsim.Label) Row { return t.row(string(l)) }

func (t Table) row(l string) Row {
	i := slices.IndexFunc(t.Rows, func(r Row) bool { return r.Label == l })
	if i < 0 {
		return Row{Label: l}
	}
	return t.Rows[i]
}

// Evaluate scores every sample reaching minPlays with m, flags every
// sample whose group was (Sample.Group), and tabulates precision and
// recall; with inputs false it scores the samples' EventsOnly features.
func Evaluate(m *fraud.Model, samples []Sample, minPlays int, inputs bool) Table {
	n, tp := map[playsim.Label]int{}, map[playsim.Label]int{}
	light, lightFP := 0, 0
	for _, s := range samples {
		n[s.Account.Label]++
		f := s.Features
		if !inputs {
			f = s.EventsOnly
		}
		flagged := s.Group > 0 || (s.Plays >= minPlays && m.Score(f).Flagged)
		if flagged {
			tp[s.Account.Label]++
		}
		if s.Account.Label == playsim.Human && s.Plays < minPlays {
			light++
			if flagged {
				lightFP++
			}
		}
	}
	fp := tp[playsim.Human]
	prec := func(t int) float64 {
		if t+fp == 0 {
			return 1
		}
		return float64(t) / float64(t+fp)
	}
	rec := func(t, n int) float64 {
		if n == 0 {
			return 0
		}
		return float64(t) / float64(n)
	}
	tab := Table{Threshold: m.Threshold}
	var all, allTP int
	for _, l := range playsim.Strategies {
		tab.Rows = append(tab.Rows, Row{Label: string(l), Accounts: n[l], Flagged: tp[l], Precision: prec(tp[l]), Recall: rec(tp[l], n[l])})
		all, allTP = all+n[l], allTP+tp[l]
	}
	tab.Rows = append(tab.Rows, Row{Label: "all bots", Accounts: all, Flagged: allTP, Precision: prec(allTP), Recall: rec(allTP, all)},
		Row{Label: "humans", Accounts: n[playsim.Human], Flagged: fp}, Row{Label: "light humans", Accounts: light, Flagged: lightFP})
	return tab
}

// Write prints the table as Markdown.
func (t Table) Write(w io.Writer) {
	fmt.Fprintf(w, "| population | accounts | flagged | precision | recall |\n|---|---:|---:|---:|---:|\n")
	for _, r := range t.Rows {
		if r.Label == "humans" || r.Label == "light humans" {
			fmt.Fprintf(w, "| %s (false positives) | %d | %d | | |\n", r.Label, r.Accounts, r.Flagged)
			continue
		}
		fmt.Fprintf(w, "| %s | %d | %d | %.4f | %.4f |\n", r.Label, r.Accounts, r.Flagged, r.Precision, r.Recall)
	}
}

// The seeds of the shipped model: it was fitted on TrainSeeds and is
// evaluated on TestSeeds, which it never saw.
var (
	TrainSeeds = []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	TestSeeds  = []uint64{101, 102, 103}
)
