package playsim

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/segue-fm/segue/core/model"
)

// bot is one bot account being simulated.
type bot struct {
	r        *rand.Rand
	user     model.UserID
	dev      model.DeviceID
	promoted []track
	filler   float64 // share of plays on popular tracks, as cover
}

// campaign returns the promoted tracks of campaign c of strategy si: the
// tracks of an artist no human listens to, shuffled by r, at most n.
func (g *gen) campaign(si, c int, r *rand.Rand, n int) []track {
	a := g.s.Artists + si*1000 + c
	var all []track
	for b := range 8 { // promoted artists release many albums
		for k := range tracks(a, b) {
			all = append(all, track{a, b, k})
		}
	}
	r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	return all[:min(n, len(all))]
}

// first returns the first n tracks of ts (all of them when fewer).
func first(ts []track, n int) []track { return ts[:min(n, len(ts))] }

func (b *bot) track(g *gen) track {
	if b.r.Float64() < b.filler {
		return randomTrack(b.r, pick(b.r, g.pop))
	}
	return b.promoted[b.r.IntN(len(b.promoted))]
}

func (g *gen) bots(si int, s Label) []Account {
	var out []Account
	end := g.start + int64(g.o.days)*dayMs
	for i := range g.o.bots {
		r := g.rng("bot-"+string(s), i)
		b := &bot{r: r, user: model.UserID(g.id("user-"+string(s), i)), dev: model.DeviceID(g.id("dev-"+string(s), i))}
		b.promoted = g.campaign(si, i/5, rand.New(rand.NewPCG(g.o.seed, hash64("campaign", uint64(si), uint64(i/5)))), 60)
		acct := Account{User: b.user, Label: s, IP: "ip-res-" + g.id("res-"+string(s), i)}
		switch s {
		case BotLoop:
			b.promoted = first(b.promoted, 3+r.IntN(13))
			acct.IP = fmt.Sprintf("ip-dc-%s-%d", s, i/8)
			acct.LibraryEdits = r.IntN(2)
			g.loop(b, end)
		case BotThreshold:
			b.promoted, b.filler = first(b.promoted, 20+r.IntN(40)), 0.2
			acct.Friends = r.IntN(2)
			g.threshold(b, end)
		case BotFarm:
			// Farms of 10 accounts behind one IP, 5 accounts per phone,
			// each phone rotating its accounts around the clock.
			farm, slot := i/10, i%5
			b.dev = model.DeviceID(g.id("dev-farm", i/5))
			b.promoted, b.filler = first(b.promoted, 15+r.IntN(40)), 0.4
			acct.IP = fmt.Sprintf("ip-farm-%d-%d", g.o.seed, farm)
			acct.Friends, acct.LibraryEdits = r.IntN(4), r.IntN(3)
			g.farm(b, slot, 5, end)
		case BotMimic:
			b.promoted, b.filler = first(b.promoted, 20+r.IntN(31)), 0.3
			acct.Friends, acct.LibraryEdits = 1+r.IntN(6), 1+r.IntN(4)
			g.mimic(b)
		case BotMuted:
			b.dev = model.DeviceID(g.id("dev-muted", i/3))
			b.promoted, b.filler = first(b.promoted, 10+r.IntN(31)), 0.3
			acct.IP = fmt.Sprintf("ip-dc-%s-%d", s, i/8)
			g.muted(b, end)
		case BotSlowLow:
			b.promoted, b.filler = first(b.promoted, 10+r.IntN(16)), 0.2
			acct.Friends = r.IntN(3)
			g.slowLow(b)
		case BotSmallFarm:
			farm := i / 10
			b.dev = model.DeviceID(g.id("dev-smallfarm", i/5))
			b.promoted = g.campaign(si, farm, rand.New(rand.NewPCG(g.o.seed, hash64("campaign", uint64(si), uint64(farm)))), 2+int(hash64("smallfarm", g.o.seed, uint64(farm))%4))
			b.filler = 0.3 * r.Float64()
			acct.IP = fmt.Sprintf("ip-proxy-%d-%d", g.o.seed, i/3)
			acct.Friends, acct.LibraryEdits = r.IntN(2), r.IntN(3)
			g.smallFarm(b)
		}
		acct.Devices = []model.DeviceID{g.registration(b.dev, b.user)}
		out = append(out, acct)
	}
	return out
}

// loop: the same few tracks in order, to the end, back to back, with one
// pause of up to an hour a day.
func (g *gen) loop(b *bot, end int64) {
	ctx := model.PlayContext{Kind: "playlist", ID: "pl-" + string(b.user)}
	t := g.start + b.r.Int64N(hourMs)
	pause := g.start + b.r.Int64N(dayMs)
	for i := 0; t < end; i++ {
		if t >= pause {
			t += b.r.Int64N(hourMs)
			pause += dayMs
		}
		tr := b.promoted[i%len(b.promoted)]
		t = g.play(b.dev, b.user, tr, ctx, t, tr.dur(), model.EndCompleted, false, false) + 1000 + b.r.Int64N(2000)
	}
}

// threshold: 6–12 hours a day of plays cut at 31–35 s.
func (g *gen) threshold(b *bot, end int64) {
	from := b.r.Int64N(dayMs)
	for day := g.start; day < end; day += dayMs {
		t := day + from + b.r.Int64N(hourMs)
		stop := t + 6*hourMs + b.r.Int64N(6*hourMs)
		for t < stop {
			tr := b.track(g)
			t = g.play(b.dev, b.user, tr, model.PlayContext{Kind: "track"}, t, 31_000+b.r.Int64N(4000), model.EndSkipped, false, false) + 500 + b.r.Int64N(1500)
		}
	}
}

// farm: the account's slot of 24/n hours a day on a shared phone, plays
// mostly to the end, a few skips.
func (g *gen) farm(b *bot, slot, n int, end int64) {
	length := dayMs / int64(n)
	for day := g.start; day < end; day += dayMs {
		t := day + int64(slot)*length + b.r.Int64N(10*60_000)
		stop := day + int64(slot+1)*length - b.r.Int64N(10*60_000)
		for t < stop {
			tr := b.track(g)
			played, e := tr.dur(), model.EndCompleted
			if b.r.Float64() < 0.1 {
				played, e = 5000+b.r.Int64N(60_000), model.EndSkipped
			}
			t = g.play(b.dev, b.user, tr, model.PlayContext{Kind: "playlist", ID: "pl-" + string(b.user)}, t, played, e, false, false) + 1000 + b.r.Int64N(3000)
		}
	}
}

// mimic: a human's day (time zone, sleep, 1–3 sessions of 8–25 tracks,
// skips at human-like times) on the promoted catalogue.
func (g *gen) mimic(b *bot) {
	r := b.r
	tz := tzOffsets[pick(r, tzWeights)]
	skip := 0.1 + 0.25*r.Float64()
	busy := int64(0)
	for d := range g.o.days {
		if r.Float64() > 0.7+0.25*r.Float64() {
			continue
		}
		day := g.start + int64(d)*dayMs
		for range 1 + r.IntN(3) {
			t := max(day+int64(pick(r, localHour)-tz)*hourMs+r.Int64N(hourMs), busy+60_000, g.start)
			ctx := model.PlayContext{Kind: "album", ID: fmt.Sprintf("al-%s", b.user)}
			for range 8 + r.IntN(18) {
				tr := b.track(g)
				played, e := tr.dur(), model.EndCompleted
				if r.Float64() < skip {
					played, e = skipMs(r), model.EndSkipped
				}
				t = g.play(b.dev, b.user, tr, ctx, t, played, e, false, false) + 500 + r.Int64N(2500)
			}
			busy = t
		}
	}
}

// muted: 18–24 hours a day of full plays with the volume at zero.
func (g *gen) muted(b *bot, end int64) {
	t := g.start + b.r.Int64N(hourMs)
	for t < end {
		stop := t + 18*hourMs + b.r.Int64N(6*hourMs)
		for t < stop && t < end {
			tr := b.track(g)
			t = g.play(b.dev, b.user, tr, model.PlayContext{Kind: "track"}, t, tr.dur(), model.EndCompleted, b.r.Float64() < 0.97, false) + 1000 + b.r.Int64N(2000)
		}
		t += dayMs - (18*hourMs + b.r.Int64N(6*hourMs))
	}
}

// slowLow: one or two short sessions a day at human hours, plays to the
// end or stopped after 35–90 s, hardly any skips.
func (g *gen) slowLow(b *bot) {
	r := b.r
	tz := tzOffsets[pick(r, tzWeights)]
	busy := int64(0)
	for d := range g.o.days {
		if r.Float64() > 0.8 {
			continue
		}
		day := g.start + int64(d)*dayMs
		for range 1 + r.IntN(2) {
			t := max(day+int64(pick(r, localHour)-tz)*hourMs+r.Int64N(hourMs), busy+60_000, g.start)
			for range 4 + r.IntN(7) {
				tr := b.track(g)
				played, e := tr.dur(), model.EndCompleted
				switch x := r.Float64(); {
				case x < 0.05:
					played, e = skipMs(r), model.EndSkipped
				case x < 0.35:
					played, e = 35_000+r.Int64N(55_000), model.EndStopped
				}
				t = g.play(b.dev, b.user, tr, model.PlayContext{Kind: "track"}, t, played, e, false, false) + 1000 + r.Int64N(4000)
			}
			busy = t
		}
	}
}

// smallFarm: 3–19 plays in the month in 1–6 sessions on random days at
// human hours of a time zone, plays to the end or stopped after 35–90 s.
func (g *gen) smallFarm(b *bot) {
	r := b.r
	tz := tzOffsets[pick(r, tzWeights)]
	left := 3 + r.IntN(MaxLightPlays-2)
	days := make([]int, 1+r.IntN(min(left, 6)))
	for k := range days {
		days[k] = r.IntN(g.o.days)
	}
	slices.Sort(days)
	busy := int64(0)
	for k, d := range days {
		t := max(g.start+int64(d)*dayMs+int64(pick(r, localHour)-tz)*hourMs+r.Int64N(hourMs), busy+60_000, g.start)
		for n := left / (len(days) - k); n > 0; n-- {
			tr := b.track(g)
			played, e := tr.dur(), model.EndCompleted
			if r.Float64() < 0.1 {
				played, e = 35_000+r.Int64N(55_000), model.EndStopped
			}
			t = g.play(b.dev, b.user, tr, model.PlayContext{Kind: "track"}, t, played, e, false, false) + 1000 + r.Int64N(4000)
			left--
		}
		busy = t
	}
}
