package fraud

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
)

var t0 = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC).UnixMilli()

func ev(track string, startH float64, played int64, end model.EndReason) api.PlayRecord {
	return api.PlayRecord{Track: model.TrackID(track), StartedAt: t0 + int64(startH*float64(msPerHour)), PlayedMs: played, EndReason: end, Tier: model.TierNormal}
}

// TestAccountFeatures checks each feature on hand-made plays.
func TestAccountFeatures(t *testing.T) {
	x := NewExtractor()
	add := func(dev, user string, e api.PlayRecord) {
		x.Add(Play{Device: model.DeviceID(dev), User: model.UserID(user), Event: e})
	}
	// u1: 10 plays on day one at 20:00–21:00 UTC: a loop a→b→c→a…, 2
	// skipped at 35 s (just over 30 s), 1 skipped at 31 s, 1 muted; and
	// a play of 29.999 s, under the stream threshold, which is ignored.
	for i := range 10 {
		e := ev(string(rune('a'+i%3)), 20+float64(i)/10, 200_000, model.EndCompleted)
		switch i {
		case 1, 2:
			e.PlayedMs, e.EndReason = 35_000, model.EndSkipped
		case 3:
			e.PlayedMs, e.EndReason = 41_000, model.EndSkipped
		}
		e.VolumeMuted = i == 4
		add("d1", "u1", e)
	}
	add("d1", "u1", ev("short", 3, MinPlayedMs-1, model.EndSkipped))
	// u2 shares d1 and plays around the clock on two days.
	for h := range 48 {
		add("d1", "u2", ev("z", float64(h), 200_000, model.EndCompleted))
	}
	in := NewInputs(map[model.UserID]AccountInfo{
		"u1": {IP: "ip1", Social: true, Friends: 0, LibraryEdits: 3},
		"u2": {IP: "ip1"},
		"u3": {IP: "ip1"},
	})
	f, ok := x.Account("u1", in)
	if !ok {
		t.Fatal("u1 unseen")
	}
	for _, c := range []struct {
		f    Feature
		want float64
	}{
		{PlaysPerDay, math.Log1p(10)},
		{HoursPerDay, 1},
		{QuietHours, 23}, // all in hour 20
		{SkipRate, 0.3},
		{DistinctTracks, 0.3},
		{TopTracks, 1},
		{JustOver30, 0.2},
		{Rotation, 0},
		{Loops, 0.9}, // every transition of the 3-cycle repeats ≥ 3 times: 9 transitions
		{Muted, 0.1},
		{AccountsPerDevice, 1},
		{AccountsPerIP, math.Log2(3)},
		{NoFriends, 1},
		{Friends, 0},
		{LibraryEdits, math.Log1p(3)},
	} {
		if math.Abs(f[c.f]-c.want) > 1e-9 {
			t.Errorf("%s = %v, want %v", c.f, f[c.f], c.want)
		}
	}
	g, _ := x.Account("u2", in)
	if g[QuietHours] != 0 || g[HoursPerDay] != 24 || g[Rotation] != 1 {
		t.Errorf("u2: quiet %v, hours/day %v, rotation %v; want 0, 24, 1", g[QuietHours], g[HoursPerDay], g[Rotation])
	}
	if !math.IsNaN(g[Friends]) || !math.IsNaN(g[NoFriends]) || !math.IsNaN(g[LibraryEdits]) {
		t.Errorf("u2 has no social info but features %v %v %v", g[NoFriends], g[Friends], g[LibraryEdits])
	}
	if _, ok := x.Account("nobody", in); ok {
		t.Error("unseen account has features")
	}
	d, ok := x.Device("d1")
	if !ok || d[AccountsPerDevice] != 1 || !math.IsNaN(d[AccountsPerIP]) {
		t.Errorf("device d1: %v %v", ok, d)
	}
	if got := x.Users(); len(got) != 2 || got[0] != "u1" || got[1] != "u2" {
		t.Errorf("Users() = %v", got)
	}
	if n := x.Plays("u1"); n != 10 {
		t.Errorf("u1: %d plays, want its 10 streams", n)
	}
}

// TestShortPlaysDoNotDilute: plays under the stream threshold cost a
// device nothing (not paid, not checked for overlaps), so a bot could add
// any number of them; they change no feature and no score. Before, 3 such
// plays per stream took every simulated bot strategy under the threshold.
func TestShortPlaysDoNotDilute(t *testing.T) {
	m, err := DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	bot, diluted := NewExtractor(), NewExtractor()
	const n = 7 * 24 * 18 // a loop bot: 2 tracks of 200 s back to back for a week
	for i := range n {
		e := ev(string(rune('a'+i%2)), float64(i)/18, 200_000, model.EndCompleted)
		bot.Add(Play{Device: "d", User: "bot", Event: e})
		diluted.Add(Play{Device: "d", User: "bot", Event: e})
		for k := range 5 { // 5 fillers a stream: other tracks, skipped
			f := ev(fmt.Sprintf("pop%d-%d", i, k), float64(i)/18+float64(k)/1000, 2_000, model.EndSkipped)
			diluted.Add(Play{Device: "d", User: "bot", Event: f})
		}
	}
	in := NewInputs(nil)
	want, _ := bot.Account("bot", in)
	got, _ := diluted.Account("bot", in)
	for i := range AccountsPerIP {
		if got[i] != want[i] {
			t.Errorf("%s: %v with fillers, %v without", i, got[i], want[i])
		}
	}
	if s := m.Score(got); !s.Flagged {
		t.Errorf("diluted loop bot not flagged: %s", s.Explain(m.Threshold))
	}
	if got := diluted.Plays("bot"); got != n {
		t.Errorf("%d plays, want the %d streams", got, n)
	}
}

// TestFeatureNames: every feature has a name and a description.
func TestFeatureNames(t *testing.T) {
	for i := range NumFeatures {
		if featureNames[i] == "" || featureText[i] == "" || i.String() != featureNames[i] {
			t.Errorf("feature %d: %q %q", i, featureNames[i], featureText[i])
		}
	}
	if Feature(-1).String() != "unknown" || NumFeatures.String() != "unknown" {
		t.Error("out-of-range feature has a name")
	}
}

// FuzzExtractor: plays with any field values (they come from devices)
// give finite behaviour features and a score in [0, 1].
func FuzzExtractor(f *testing.F) {
	f.Add("t", int64(0), int64(31_000), "skipped", true, "d", "u")
	f.Add("", int64(-1), int64(-5), "", false, "", "")
	f.Add("x", int64(math.MaxInt64), int64(math.MinInt64), "completed", false, "d2", "u")
	m, err := DefaultModel()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, track string, started, played int64, end string, muted bool, dev, user string) {
		x := NewExtractor()
		for i := range 3 {
			x.Add(Play{Device: model.DeviceID(dev), User: model.UserID(user), Event: api.PlayRecord{Track: model.TrackID(track),
				StartedAt: started + int64(i), PlayedMs: played, EndReason: model.EndReason(end), VolumeMuted: muted}})
		}
		fs, ok := x.Account(model.UserID(user), NewInputs(nil))
		if ok != (played >= MinPlayedMs) {
			t.Fatalf("account seen %v after 3 plays of %d ms", ok, played)
		}
		if !ok {
			return
		}
		for i := range AccountsPerIP {
			if math.IsNaN(fs[i]) || math.IsInf(fs[i], 0) {
				t.Fatalf("%s = %v", i, fs[i])
			}
		}
		if s := m.Score(fs); !(s.Value >= 0 && s.Value <= 1) {
			t.Fatalf("score %v", s.Value)
		}
	})
}
