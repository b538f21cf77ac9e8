package player_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player"
)

// TestSetupCachePlaysTheSame plays the demo album with and without the
// setup cache: the output is bit-identical, and with the cache every
// track after the first reuses the tier's one setup.
func TestSetupCachePlaysTheSame(t *testing.T) {
	src, ids := newMemSource(t)
	for _, tier := range []model.Tier{model.TierHigh, model.TierLow} {
		t.Run(string(tier), func(t *testing.T) {
			base := player.DefaultOptions().WithTier(tier).WithShuffleRand(rand.New(rand.NewPCG(1, 2)))
			for _, tc := range []struct {
				name     string
				opts     player.Options
				hits     uint64
				held     int
				disabled bool
			}{
				{name: "default", opts: base, hits: uint64(len(ids) - 1), held: 1},
				{name: "one entry", opts: base.WithSetupCache(1), hits: uint64(len(ids) - 1), held: 1},
				{name: "off", opts: base.WithSetupCache(0), disabled: true},
			} {
				t.Run(tc.name, func(t *testing.T) {
					if got := tc.opts.SetupCache() == nil; got != tc.disabled {
						t.Fatalf("SetupCache() nil = %t, want %t", got, tc.disabled)
					}
					want, _ := playToWAV(t, src, base.WithSetupCache(0), albumItems(ids), nil)
					got, _ := playToWAV(t, src, tc.opts, albumItems(ids), nil)
					if len(got) != len(want) {
						t.Fatalf("%d samples, without cache %d", len(got), len(want))
					}
					for i := range got {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("sample %d: %v, without cache %v", i, got[i], want[i])
						}
					}
					st := tc.opts.SetupCache().Stats()
					if st.Hits != tc.hits || st.Len != tc.held {
						t.Fatalf("cache %+v, want %d hits, %d held", st, tc.hits, tc.held)
					}
				})
			}
		})
	}
}
