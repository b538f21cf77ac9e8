package fraud_test

import (
	"fmt"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/fraud"
)

// An account cutting every play just over 30 s, ten hours a day, from a
// data-centre IP it shares with seven others, with no friends or library
// activity: the shipped model flags it and says why.
func Example() {
	x := fraud.NewExtractor()
	start := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC).UnixMilli()
	for day := range 20 {
		t := start + int64(day)*24*3600*1000
		for i := range 1000 {
			x.Add(fraud.Play{Device: "dev-1", User: "acct-1", Event: api.PlayRecord{
				Seq: uint64(day*1000 + i), Track: model.TrackID(fmt.Sprintf("promo-%02d", i%40)), Tier: model.TierNormal,
				StartedAt: t, PlayedMs: 32_000, EndReason: model.EndSkipped, Source: model.SourceStream}})
			t += 36_000
		}
	}
	info := map[model.UserID]fraud.AccountInfo{"acct-1": {IP: "203.0.113.7", Social: true}}
	for i := range 7 {
		info[model.UserID(fmt.Sprintf("other-%d", i))] = fraud.AccountInfo{IP: "203.0.113.7"}
	}
	m, err := fraud.DefaultModel()
	if err != nil {
		panic(err)
	}
	f, _ := x.Account("acct-1", fraud.NewInputs(info))
	s := m.Score(f)
	fmt.Println("flagged:", s.Flagged)
	fmt.Println(s.Explain(m.Threshold))
	// Output:
	// flagged: true
	// score 0.998 (threshold 0.932): skip rate 1.00 (+1.4), plays cut just over 30 s 1.00 (+1.4), accounts per IP (log2) 3.00 (+1.2)
}
