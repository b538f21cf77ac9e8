package fraud_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/fraud"
)

// listen is n streams of user on track, a few minutes apart from start.
type listen struct {
	user  string
	track string
	n     int
}

func groupPlays(ls []listen) []fraud.Play {
	start := time.Date(2026, 11, 3, 18, 0, 0, 0, time.UTC).UnixMilli()
	var out []fraud.Play
	seq := map[string]uint64{}
	for _, l := range ls {
		for range l.n {
			out = append(out, fraud.Play{Device: model.DeviceID("dev-" + l.user), User: model.UserID(l.user), Event: api.PlayRecord{
				Seq: seq[l.user], Track: model.TrackID(l.track), Tier: model.TierNormal, StartedAt: start + int64(seq[l.user])*240_000,
				PlayedMs: 200_000, EndReason: model.EndCompleted, Source: model.SourceStream}})
			seq[l.user]++
		}
	}
	return out
}

// farm is n accounts each streaming every track of tracks k times and
// cover extra streams of popular tracks.
func farm(prefix string, n int, tracks []string, k, cover int) []listen {
	var out []listen
	for i := range n {
		u := fmt.Sprintf("%s-%d", prefix, i)
		for _, t := range tracks {
			out = append(out, listen{u, t, k})
		}
		for c := range cover {
			out = append(out, listen{u, fmt.Sprintf("hit-%d", (i+c)%7), 1})
		}
	}
	return out
}

// farmAccounts returns the ids farm gives n accounts, sorted.
func farmAccounts(prefix string, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("%s-%d", prefix, i))
	}
	slices.Sort(out)
	return out
}

// ring is n accounts each streaming k times two of m tracks, account i
// tracks i and i+1 (mod m): each track has 2n/m accounts, and the
// accounts are joined through their tracks in a ring.
func ring(prefix string, n, m, k int) []listen {
	var out []listen
	for i := range n {
		u := fmt.Sprintf("%s-%d", prefix, i)
		out = append(out, listen{u, fmt.Sprintf("%s-track-%d", prefix, i%m), k}, listen{u, fmt.Sprintf("%s-track-%d", prefix, (i+1)%m), k})
	}
	return out
}

// listenOnce is n accounts each streaming track once and k other tracks
// of their own once.
func listenOnce(prefix string, n int, track string, k int) []listen {
	var out []listen
	for i := range n {
		u := fmt.Sprintf("%s-%d", prefix, i)
		out = append(out, listen{u, track, 1})
		for j := range k {
			out = append(out, listen{u, fmt.Sprintf("%s-own-%d", u, j), 1})
		}
	}
	return out
}

// TestGroups: light accounts (under 100 streams, whether or not they
// reach the scorer's minimum of 20) are grouped when at least
// MinAccounts of them put at least half their streams on tracks that
// heavier accounts hardly stream, however many streams the farm makes
// (before, light accounts making over a quarter of all streams, the
// farm's own included, turned the check off, so a big farm hid itself and
// every other), and when no track has more than 4 of them but their
// tracks join them; not when they are too few (cells of 4 accounts on
// tracks of their own are missed), when heavier accounts stream the
// tracks too, when the tracks are a small part of their streams, when
// they are not light, when other
// light accounts make over a quarter of the tracks' streams, or when the
// heavier accounts made under three quarters of the streams, the light
// streams on group tracks left out (early in a month; no account heavier);
// the result does not depend on the order of the plays.
func TestGroups(t *testing.T) {
	promo := []string{"promo-a", "promo-b"}
	var humans []listen // heavy listeners of the hits, and light ones
	for i := range 10 {
		for h := range 7 {
			humans = append(humans, listen{fmt.Sprintf("heavy-%d", i), fmt.Sprintf("hit-%d", h), 20})
		}
	}
	humans = append(humans, farm("light", 20, nil, 0, 3)...)
	with := func(ls ...[]listen) []listen { return append(slices.Concat(ls...), humans...) }
	for _, c := range []struct {
		name    string
		ls      []listen
		groups  [][]string // accounts of each group
		tracks  []string   // tracks of the first group
		skipped bool
	}{
		{"farm of 6, 19 streams each", with(farm("f", 6, promo, 8, 3)), [][]string{{"f-0", "f-1", "f-2", "f-3", "f-4", "f-5"}}, promo, false},
		{"farm of 6, 5 streams each", with(farm("f", 6, promo, 2, 1)), [][]string{{"f-0", "f-1", "f-2", "f-3", "f-4", "f-5"}}, promo, false},
		{"farm of 19 tracks streamed once", with(farm("f", 8, []string{"p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9", "p10", "p11", "p12", "p13", "p14", "p15", "p16", "p17", "p18", "p19"}, 1, 0)),
			[][]string{{"f-0", "f-1", "f-2", "f-3", "f-4", "f-5", "f-6", "f-7"}}, []string{"p1", "p10", "p11"}, false},
		{"two farms", with(farm("f", 5, promo, 3, 0), farm("g", 5, []string{"promo-c"}, 4, 2)), [][]string{{"f-0", "f-1", "f-2", "f-3", "f-4"}, {"g-0", "g-1", "g-2", "g-3", "g-4"}}, promo, false},
		{"4 accounts: under MinAccounts", with(farm("f", 4, promo, 8, 3)), nil, nil, false},
		{"a heavy account streams the tracks too", with(farm("f", 6, promo, 3, 0), []listen{{"fan", "promo-a", 60}, {"fan", "promo-b", 60}}), nil, nil, false},
		{"the tracks are under half their streams", with(farm("f", 6, []string{"promo-a"}, 2, 5)), nil, nil, false},
		{"farm of 6, 25 streams each: over the scorer's minimum", with(farm("f", 6, promo, 12, 1)), [][]string{{"f-0", "f-1", "f-2", "f-3", "f-4", "f-5"}}, promo, false},
		{"accounts of 100 streams are not light", with(farm("f", 6, promo, 50, 0)), nil, nil, false},
		{"light humans only: skipped", slices.Concat(farm("h", 20, nil, 0, 6), farm("f", 6, promo, 8, 3)), nil, nil, true},
		{"a farm making most of the streams is found too", with(farm("f", 200, []string{"promo-a", "promo-b", "promo-c"}, 33, 0)), [][]string{farmAccounts("f", 200)}, []string{"promo-a", "promo-b", "promo-c"}, false},
		{"two farms, one making most of the streams", with(farm("f", 200, promo, 49, 0), farm("g", 5, []string{"promo-c"}, 4, 2)), [][]string{farmAccounts("f", 200), {"g-0", "g-1", "g-2", "g-3", "g-4"}}, promo, false},
		{"the tracks' other light listeners make over a quarter of their streams", with(farm("f", 6, []string{"niche"}, 2, 1), listenOnce("other", 40, "niche", 5)), nil, nil, false},
		{"a farm giving each track to 4 accounts, its tracks shared in a ring", with(ring("r", 12, 6, 3)), [][]string{farmAccounts("r", 12)}, nil, false},
		{"cells of 4 accounts, each on tracks of its own: missed", with(farm("c", 4, []string{"cell-a"}, 5, 0), farm("d", 4, []string{"cell-b"}, 5, 0)), nil, nil, false},
		{"pairs of light accounts sharing obscure tracks, 4 in all", with(farm("p", 2, []string{"obscure-a"}, 5, 0), farm("q", 2, []string{"obscure-b"}, 5, 0)), nil, nil, false},
		{"early in a month: light listeners of the hits, one heavier account: skipped", slices.Concat(listenOnce("h", 60, "hit-0", 6), []listen{{"heavy", "hit-1", 100}}), nil, nil, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			plays := groupPlays(c.ls)
			for _, order := range []string{"forward", "reverse"} {
				x := fraud.NewExtractor()
				for _, p := range plays {
					x.Add(p)
				}
				if order == "reverse" {
					x = fraud.NewExtractor()
					for i := len(plays) - 1; i >= 0; i-- {
						x.Add(plays[i])
					}
				}
				gs, heavy, checked := x.Groups(fraud.DefaultGroupOptions())
				if checked == c.skipped || (heavy < 0.75) != c.skipped {
					t.Fatalf("%s: checked %v with a heavy share of %.2f, want skipped %v", order, checked, heavy, c.skipped)
				}
				var got [][]string
				for _, g := range gs {
					var us []string
					for _, u := range g.Accounts {
						us = append(us, string(u))
					}
					got = append(got, us)
				}
				if !slices.EqualFunc(got, c.groups, slices.Equal) {
					t.Fatalf("%s: groups %v, want %v", order, got, c.groups)
				}
				if len(gs) == 0 {
					continue
				}
				var tracks []string
				for _, tr := range gs[0].Tracks {
					tracks = append(tracks, string(tr))
				}
				if !slices.Equal(tracks[:min(len(tracks), len(c.tracks))], c.tracks) {
					t.Errorf("%s: tracks %v, want %v", order, tracks, c.tracks)
				}
				g := gs[0]
				e := g.Explain(x, g.Accounts[0])
				if !strings.HasPrefix(e, fmt.Sprintf("group of %d accounts under 100 streams each: %d of their %d streams on %d tracks (%s", len(g.Accounts), g.OnTracks, g.Streams, len(g.Tracks), g.Tracks[0])) ||
					!strings.Contains(e, "; this account ") || g.OnTracks != g.TrackStreams {
					t.Errorf("%s: %+v explained %q", order, g, e)
				}
			}
		})
	}
}

// TestGroupsOptions: a light ceiling or a minimum of accounts under 2
// finds no group.
func TestGroupsOptions(t *testing.T) {
	x := fraud.NewExtractor()
	for _, p := range groupPlays(farm("f", 6, []string{"promo"}, 3, 0)) {
		x.Add(p)
	}
	for h := range 7 {
		for _, p := range groupPlays([]listen{{"heavy", fmt.Sprintf("hit-%d", h), 20}}) {
			x.Add(p)
		}
	}
	if gs, _, _ := x.Groups(fraud.DefaultGroupOptions()); len(gs) != 1 {
		t.Fatalf("%d groups, want 1", len(gs))
	}
	if gs, _, ok := x.Groups(fraud.DefaultGroupOptions().WithMaxStreams(1)); gs != nil || ok {
		t.Errorf("max streams 1: %d groups, checked %v", len(gs), ok)
	}
	if gs, _, ok := x.Groups(fraud.DefaultGroupOptions().WithMinAccounts(1)); gs != nil || ok {
		t.Errorf("min accounts 1: %d groups, checked %v", len(gs), ok)
	}
}
