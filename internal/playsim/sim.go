package playsim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
)

// ErrBadOptions: an Options value out of its documented range.
var ErrBadOptions = errors.New("playsim: bad options")

// Label says who drives an account: Human or one of the bot Strategies.
type Label string

// Account labels.
const (
	Human Label = "human"
	// BotLoop plays a small set of promoted tracks to the end, back to
	// back, around the clock.
	BotLoop Label = "loop"
	// BotThreshold plays promoted tracks for just over 30 s each, many
	// hours a day.
	BotThreshold Label = "threshold"
	// BotFarm runs many accounts on each device of a phone farm behind
	// one IP, rotating accounts around the clock.
	BotFarm Label = "farm"
	// BotMimic imitates a human: a time zone with sleep hours, sessions,
	// random skips at human-like times, a few friends, a little library
	// activity, but a narrow promoted catalogue.
	BotMimic Label = "mimic"
	// BotMuted plays promoted tracks with the volume muted, day and night,
	// a few accounts per device on data-centre IPs.
	BotMuted Label = "muted"
	// BotSlowLow stays under the radar: a dozen plays a day at human hours
	// from residential IPs, mostly promoted tracks.
	BotSlowLow Label = "slowlow"
	// BotSmallFarm stays under the scorer's minimum of streams: farms of
	// 10 accounts, each streaming the farm's 2–5 promoted tracks a few
	// times in the month (3–19 plays, some popular tracks as cover) in
	// short sessions at human hours, 5 accounts per phone (each with its
	// own device registration) and 3 per residential proxy IP.
	BotSmallFarm Label = "smallfarm"
)

// MaxLightPlays is the most plays a light human (Options.WithLight) or a
// BotSmallFarm account makes in the simulated span: under the fraud
// scorer's minimum of 20 streams, so neither is ever scored alone.
const MaxLightPlays = 19

// Strategies lists the bot strategies the simulator runs, in report order.
var Strategies = []Label{BotLoop, BotThreshold, BotFarm, BotMimic, BotMuted, BotSlowLow, BotSmallFarm}

// Options configures a simulation. DefaultOptions: seed 1, 600 humans, 300
// light humans, 20 bot accounts per strategy, 30 days from 2026-11-01
// 00:00 UTC.
type Options struct {
	seed   uint64
	humans int
	light  int
	bots   int
	start  time.Time
	days   int
}

// DefaultOptions returns the defaults above.
func DefaultOptions() Options {
	return Options{seed: 1, humans: 600, light: 300, bots: 20, start: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), days: 30}
}

// WithSeed sets the seed; the same seed, options and shape give the same
// plays.
func (o Options) WithSeed(s uint64) Options { o.seed = s; return o }

// WithHumans sets the number of human accounts (0–100,000).
func (o Options) WithHumans(n int) Options { o.humans = n; return o }

// WithLight sets the number of light human accounts (0–100,000): humans
// shaped on lastfm-2k listeners like the others who make at most
// MaxLightPlays plays in the span, half of them new users joining on a
// random day, the other half light listeners of a few sessions.
func (o Options) WithLight(n int) Options { o.light = n; return o }

// WithBots sets the number of accounts per bot strategy (0–10,000).
func (o Options) WithBots(n int) Options { o.bots = n; return o }

// WithStart sets the first simulated instant (plays start at or after it).
func (o Options) WithStart(t time.Time) Options { o.start = t.UTC(); return o }

// WithDays sets the simulated span in days (1–366).
func (o Options) WithDays(d int) Options { o.days = d; return o }

// Seed returns the seed.
func (o Options) Seed() uint64 { return o.seed }

// Account is one simulated account with its label and the facts the relay
// does not learn from play events (IP, friends, library edits): the
// fraud scorer takes those as explicit inputs.
type Account struct {
	User         model.UserID
	Label        Label
	Devices      []model.DeviceID
	IP           string
	Friends      int
	LibraryEdits int
}

// Play is one play event as the relay logs it: the uploading device, the
// device's user, and the uploaded record.
type Play struct {
	Device model.DeviceID
	User   model.UserID
	Event  api.PlayRecord
}

const (
	hourMs = int64(time.Hour / time.Millisecond)
	dayMs  = 24 * hourMs
)

// localHour is the relative chance a human starts a session at each local
// hour: little at night, a morning commute, an evening peak.
var localHour = cumulative([]float64{0.35, 0.15, 0.07, 0.04, 0.04, 0.08, 0.35, 0.9, 1.1, 0.9, 0.8, 0.9,
	1.1, 1.0, 0.9, 1.0, 1.2, 1.5, 1.8, 2.0, 2.0, 1.7, 1.2, 0.7})

// timeZones are UTC offsets (hours) with the weights of lastfm-like
// listeners (mostly Europe, the Americas, some Asia).
var (
	tzOffsets = []int{-8, -6, -5, -3, 0, 1, 2, 3, 8, 9}
	tzWeights = cumulative([]float64{3, 2, 4, 3, 4, 8, 3, 2, 1, 1})
)

type gen struct {
	o      Options
	s      Shape
	pop    []float64 // cumulative popularity
	start  int64
	emit   func(Play)
	seq    map[model.DeviceID]uint64
	listen []int // permutation of shape listeners
}

func (g *gen) rng(kind string, i int) *rand.Rand {
	return rand.New(rand.NewPCG(g.o.seed, hash64(kind, uint64(i))))
}

func hash64(s string, xs ...uint64) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	for _, x := range xs {
		h.Write(binary.BigEndian.AppendUint64(nil, x))
	}
	return h.Sum64()
}

// Catalogue: artist a has 1–5 albums of 8–14 tracks lasting 150–360 s;
// promoted artists are numbered from Shape.Artists on.
func albums(a int) int    { return 1 + int(hash64("albums", uint64(a))%5) }
func tracks(a, b int) int { return 8 + int(hash64("tracks", uint64(a), uint64(b))%7) }
func trackID(a, b, k int) model.TrackID {
	return model.TrackID(fmt.Sprintf("%016x", hash64("track", uint64(a), uint64(b), uint64(k))))
}
func durationMs(a, b, k int) int64 {
	return 150_000 + int64(hash64("dur", uint64(a), uint64(b), uint64(k))%210_000)
}

type track struct{ a, b, k int }

func (t track) id() model.TrackID { return trackID(t.a, t.b, t.k) }
func (t track) dur() int64        { return durationMs(t.a, t.b, t.k) }

func randomTrack(r *rand.Rand, a int) track {
	b := r.IntN(albums(a))
	return track{a, b, r.IntN(tracks(a, b))}
}

// Run simulates the population and calls emit for every play, each
// account's plays in time order, accounts one after another (humans
// first, then light humans, then bots). It returns the accounts. Deterministic in the options and shape.
func Run(opts Options, shape Shape, emit func(Play)) ([]Account, error) {
	switch {
	case opts.humans < 0 || opts.humans > 100_000, opts.light < 0 || opts.light > 100_000, opts.bots < 0 || opts.bots > 10_000, opts.days < 1 || opts.days > 366:
		return nil, fmt.Errorf("%w: humans %d, light %d, bots %d, days %d", ErrBadOptions, opts.humans, opts.light, opts.bots, opts.days)
	case len(shape.Listeners) == 0 || shape.Artists == 0 || len(shape.Popularity) != shape.Artists:
		return nil, ErrBadShape
	}
	g := &gen{o: opts, s: shape, pop: cumulative(shape.Popularity), start: opts.start.UnixMilli(), emit: emit, seq: map[model.DeviceID]uint64{}}
	g.listen = rand.New(rand.NewPCG(opts.seed, 0x11)).Perm(len(shape.Listeners))
	var accts []Account
	accts = append(accts, g.humans()...)
	accts = append(accts, g.lightHumans()...)
	for si, s := range Strategies {
		accts = append(accts, g.bots(si, s)...)
	}
	return accts, nil
}

func (g *gen) id(kind string, i int) string {
	return fmt.Sprintf("%016x", hash64(kind, g.o.seed, uint64(i)))
}

// registration returns the device id the relay logs for user's plays on
// the physical device dev: each account on a shared phone or family
// tablet registers its own device key, since the relay refuses a key
// already registered to another account (relay.ErrDeviceTaken).
func (g *gen) registration(dev model.DeviceID, user model.UserID) model.DeviceID {
	return model.DeviceID(fmt.Sprintf("%016x", hash64("reg/"+string(dev)+"/"+string(user), g.o.seed)))
}

func (g *gen) play(dev model.DeviceID, user model.UserID, t track, ctx model.PlayContext, started, played int64, end model.EndReason, muted, offline bool) int64 {
	dev = g.registration(dev, user)
	played = min(max(played, 0), t.dur())
	seq := g.seq[dev]
	g.seq[dev] = seq + 1
	src := model.SourceStream
	if offline {
		src = model.SourceDownload
	}
	g.emit(Play{Device: dev, User: user, Event: api.PlayRecord{Seq: seq, Track: t.id(), Tier: model.TierNormal, Context: ctx,
		StartedAt: started, PlayedMs: played, EndReason: end, Offline: offline, VolumeMuted: muted, Source: src, TrustedTime: offline}})
	return started + played
}

// skipMs is when a human skips: log-normal, median 12 s.
func skipMs(r *rand.Rand) int64 {
	return max(int64(math.Exp(math.Log(12_000)+0.8*r.NormFloat64())), 1000)
}

func poisson(r *rand.Rand, mean float64) int {
	l, k, p := math.Exp(-mean), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// humanKind varies the humans: most are ordinary; some listen all
// workday in the background, some fall asleep to a short playlist that
// repeats, some share a device with their household, some sit behind a
// carrier-grade NAT with many others.
type human struct {
	r         *rand.Rand
	user      model.UserID
	devs      []model.DeviceID
	tz        int
	l         Listener
	cum       []float64
	active    float64
	sessions  float64
	length    float64
	skip      float64
	muted     float64
	offline   float64
	lib       []track
	sleeper   bool
	worker    bool
	sleepList []track
	explore   float64
	limit     int // the most plays in the span (0: no limit)
	plays     int
}

func (g *gen) humans() []Account {
	var out []Account
	var sharedDev model.DeviceID
	var household string
	cgnat := ""
	for i := range g.o.humans {
		r := g.rng("human", i)
		h := &human{r: r, user: model.UserID(g.id("user-h", i)), l: g.s.Listeners[g.listen[i%len(g.listen)]]}
		h.cum = cumulative(h.l.Weights)
		h.tz = tzOffsets[pick(r, tzWeights)]
		h.active = 0.15 + 0.8*r.Float64()
		h.sessions = 0.3 + 1.5*r.Float64()
		h.length = math.Exp(math.Log(9) + 0.6*r.NormFloat64())
		h.skip = 0.03 + 0.45*r.Float64()*r.Float64()*2
		h.skip = min(h.skip, 0.6)
		h.muted = 0.002
		if r.Float64() < 0.05 {
			h.muted = 0.03 + 0.1*r.Float64()
		}
		if r.Float64() < 0.4 {
			h.offline = 0.1 + 0.4*r.Float64()
		}
		h.explore = 0.05 + 0.15*r.Float64()
		h.sleeper = r.Float64() < 0.04
		h.worker = r.Float64() < 0.08
		for range 20 + r.IntN(150) {
			h.lib = append(h.lib, g.tasteTrack(h))
		}
		h.sleepList = h.lib[:min(len(h.lib), 8+r.IntN(10))]
		// lastfm-2k's users were sampled through its friend graph, so all
		// have friends; on a music service many listeners never use the
		// social features: 40% of the simulated humans have no friends.
		acct := Account{User: h.user, Label: Human, Friends: h.l.Friends}
		if r.Float64() < 0.4 {
			acct.Friends = 0
		}
		if r.Float64() > 0.25 {
			acct.LibraryEdits = 1 + poisson(r, 1+12*r.Float64())
		}
		// Households: a new one every 1–3 accounts, sharing the home IP
		// and, in 30% of them, a family device (tablet, TV).
		if household == "" || r.Float64() < 0.6 {
			household = "ip-h-" + g.id("home", i)
			sharedDev = ""
			if r.Float64() < 0.3 {
				sharedDev = model.DeviceID(g.id("dev-family", i))
			}
		}
		acct.IP = household
		if r.Float64() < 0.06 { // mobile carrier NAT: dozens of users per IP
			if cgnat == "" || r.Float64() < 0.03 {
				cgnat = "ip-cgnat-" + g.id("cgnat", i)
			}
			acct.IP = cgnat
		}
		for d := range 1 + r.IntN(3) {
			h.devs = append(h.devs, model.DeviceID(g.id("dev-h", i*8+d)))
		}
		if sharedDev != "" {
			h.devs = append(h.devs, sharedDev)
		}
		for _, d := range h.devs {
			acct.Devices = append(acct.Devices, g.registration(d, h.user))
		}
		g.runHuman(h)
		out = append(out, acct)
	}
	return out
}

func (g *gen) tasteTrack(h *human) track {
	a := h.l.Artists[pick(h.r, h.cum)]
	if h.r.Float64() < h.explore {
		a = pick(h.r, g.pop)
	}
	return randomTrack(h.r, a)
}

func (g *gen) runHuman(h *human) {
	r := h.r
	busy := int64(0)
	for d := range g.o.days {
		day := g.start + int64(d)*dayMs
		var starts []int64
		if r.Float64() < h.active {
			for range 1 + poisson(r, h.sessions) {
				lh := pick(r, localHour)
				starts = append(starts, day+int64(lh-h.tz)*hourMs+r.Int64N(hourMs))
			}
		}
		wd := (d + int(g.o.start.Weekday())) % 7
		work := int64(-1)
		if h.worker && wd >= 1 && wd <= 5 && r.Float64() < 0.8 {
			work = day + int64(9-h.tz)*hourMs + r.Int64N(hourMs/2)
			starts = append(starts, work)
		}
		slices.Sort(starts)
		for _, s := range starts {
			n := 1 + int(r.ExpFloat64()*h.length)
			if s == work {
				n = 60 + r.IntN(60) // a workday in the background
			}
			busy = g.session(h, max(s, busy+60_000, g.start), n)
		}
		if h.sleeper && r.Float64() < 0.5 {
			s := max(day+int64(23-h.tz)*hourMs+r.Int64N(hourMs), busy+60_000)
			busy = g.sleep(h, s)
		}
	}
}

// session plays n tracks from start: an album in order, an artist's
// tracks, the user's playlist, with skips and a possible early stop.
func (g *gen) session(h *human, t int64, n int) int64 {
	r := h.r
	dev := h.devs[0]
	if len(h.devs) > 1 && r.Float64() < 0.35 {
		dev = h.devs[1+r.IntN(len(h.devs)-1)]
	}
	offline := r.Float64() < h.offline
	var next func() (track, model.PlayContext)
	switch x := r.Float64(); {
	case x < 0.45: // an album from its first (or a chosen) track, in order
		cur := g.tasteTrack(h)
		if r.Float64() < 0.7 {
			cur.k = 0
		}
		cur.k--
		next = func() (track, model.PlayContext) {
			cur.k++
			if cur.k >= tracks(cur.a, cur.b) {
				cur = g.tasteTrack(h)
				cur.k = 0
			}
			return cur, model.PlayContext{Kind: "album", ID: fmt.Sprintf("al-%d-%d", cur.a, cur.b)}
		}
	case x < 0.7:
		a := g.tasteTrack(h).a
		next = func() (track, model.PlayContext) {
			return randomTrack(r, a), model.PlayContext{Kind: "artist", ID: fmt.Sprintf("ar-%d", a)}
		}
	case x < 0.92:
		next = func() (track, model.PlayContext) {
			return h.lib[r.IntN(len(h.lib))], model.PlayContext{Kind: "playlist", ID: "pl-" + string(h.user)}
		}
	default:
		next = func() (track, model.PlayContext) { return g.tasteTrack(h), model.PlayContext{Kind: "track"} }
	}
	for i := range n {
		if h.limit > 0 && h.plays >= h.limit {
			break
		}
		h.plays++
		tr, ctx := next()
		played, end := tr.dur(), model.EndCompleted
		switch {
		case r.Float64() < h.skip:
			played, end = min(skipMs(r), tr.dur()), model.EndSkipped
		case i == n-1 && r.Float64() < 0.3:
			played, end = int64(float64(tr.dur())*r.Float64()), model.EndStopped
		}
		t = g.play(dev, h.user, tr, ctx, t, played, end, r.Float64() < h.muted, offline) + 500 + r.Int64N(2500)
	}
	return t
}

// sleep plays the sleeper's short playlist in order for 5–8 hours.
func (g *gen) sleep(h *human, t int64) int64 {
	end := t + 5*hourMs + h.r.Int64N(3*hourMs)
	ctx := model.PlayContext{Kind: "playlist", ID: "sleep-" + string(h.user)}
	for i := 0; t < end; i++ {
		tr := h.sleepList[i%len(h.sleepList)]
		t = g.play(h.devs[0], h.user, tr, ctx, t, tr.dur(), model.EndCompleted, false, false) + 300
	}
	return t
}

// lightHumans are humans with few plays in the span (at most
// MaxLightPlays): each takes a lastfm-2k listener's taste as the others do
// (the listeners after the regular humans' in the seed's permutation);
// half are new users joining on a random day, half light listeners active
// on a few days; each has its own home IP and one or two devices.
func (g *gen) lightHumans() []Account {
	var out []Account
	for i := range g.o.light {
		r := g.rng("light", i)
		h := &human{r: r, user: model.UserID(g.id("user-l", i)), l: g.s.Listeners[g.listen[(g.o.humans+i)%len(g.listen)]]}
		h.cum = cumulative(h.l.Weights)
		h.tz = tzOffsets[pick(r, tzWeights)]
		h.length = math.Exp(math.Log(5) + 0.6*r.NormFloat64())
		h.skip = min(0.03+0.9*r.Float64()*r.Float64(), 0.6)
		h.muted = 0.002
		if r.Float64() < 0.4 {
			h.offline = 0.1 + 0.4*r.Float64()
		}
		h.explore = 0.05 + 0.15*r.Float64()
		for range 10 + r.IntN(40) {
			h.lib = append(h.lib, g.tasteTrack(h))
		}
		h.limit = 1 + r.IntN(MaxLightPlays)
		from, active := 0, 0.05+0.25*r.Float64()
		if r.Float64() < 0.5 { // a new user: joins on a random day, keen at first
			from, active = r.IntN(g.o.days), 0.3+0.5*r.Float64()
		}
		acct := Account{User: h.user, Label: Human, Friends: h.l.Friends, IP: "ip-l-" + g.id("light-home", i)}
		if r.Float64() < 0.4 {
			acct.Friends = 0
		}
		if r.Float64() > 0.5 {
			acct.LibraryEdits = 1 + poisson(r, 2)
		}
		for d := range 1 + r.IntN(2) {
			h.devs = append(h.devs, model.DeviceID(g.id("dev-l", i*8+d)))
		}
		for _, d := range h.devs {
			acct.Devices = append(acct.Devices, g.registration(d, h.user))
		}
		busy := int64(0)
		for d := from; d < g.o.days && h.plays < h.limit; d++ {
			if d > from && r.Float64() >= active {
				continue
			}
			s := g.start + int64(d)*dayMs + int64(pick(r, localHour)-h.tz)*hourMs + r.Int64N(hourMs)
			busy = g.session(h, max(s, busy+60_000, g.start), 1+int(r.ExpFloat64()*h.length))
		}
		out = append(out, acct)
	}
	return out
}

// Humans returns the number of human accounts.
func (o Options) Humans() int { return o.humans }

// Light returns the number of light human accounts.
func (o Options) Light() int { return o.light }

// Bots returns the number of accounts per bot strategy.
func (o Options) Bots() int { return o.bots }
