package edge

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/maypok86/otter/v2"

	"github.com/segue-fm/segue/server/edge/edgetrace"
)

// edgePolicy replays a trace against the edge's own cache policy: an
// otter cache with the edge's configuration (policyOptions) and a byte
// budget, maintenance run synchronously so the replay is deterministic.
type edgePolicy struct {
	c *otter.Cache[string, int64]
}

func newEdgePolicy(t testing.TB, budget int64) *edgePolicy {
	o := policyOptions(budget, func(n int64) uint32 { return uint32(n) })
	o.Executor = func(fn func()) { fn() }
	c, err := otter.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return &edgePolicy{c: c}
}

func (p *edgePolicy) Get(k uint64) bool {
	_, ok := p.c.GetIfPresent(strconv.FormatUint(k, 36))
	return ok
}

func (p *edgePolicy) Add(k uint64, size int64) {
	p.c.Set(strconv.FormatUint(k, 36), size)
	p.c.CleanUp()
}

// ristrettoPolicy is the alternative measured beside it: ristretto v2 as
// the relay's metadata cache configures it, counters for ten times the
// 32 KiB objects the budget holds, cost = bytes; Add waits for the policy.
type ristrettoPolicy struct {
	c *ristretto.Cache[string, struct{}]
}

func newRistrettoPolicy(t testing.TB, budget int64) *ristrettoPolicy {
	c, err := ristretto.NewCache(&ristretto.Config[string, struct{}]{
		NumCounters: max(10*budget/(32<<10), 1000), MaxCost: budget, BufferItems: 64, IgnoreInternalCost: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &ristrettoPolicy{c: c}
}

func (p *ristrettoPolicy) Get(k uint64) bool {
	_, ok := p.c.Get(strconv.FormatUint(k, 36))
	return ok
}

func (p *ristrettoPolicy) Add(k uint64, size int64) {
	p.c.Set(strconv.FormatUint(k, 36), struct{}{}, size)
	p.c.Wait()
}

// capacityFor returns the smallest capacity (to 1 % of distinct bytes) at
// which Bélády's byte hit ratio reaches target, or distinct if never.
func capacityFor(reqs []edgetrace.Request, distinct int64, target float64) int64 {
	lo, hi := int64(0), distinct
	for hi-lo > distinct/100 {
		mid := (lo + hi) / 2
		if edgetrace.Belady(reqs, mid).ByteHitRatio() >= target {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// hitRatioTable replays tr at several cache sizes and returns the table
// (markdown) and the edge policy's fraction of Bélády at the size where
// Bélády reaches 95 %.
func hitRatioTable(t testing.TB, tr *edgetrace.Trace) (string, float64) {
	requested, distinct := tr.Bytes()
	c95 := capacityFor(tr.Requests, distinct, 0.95)
	var b strings.Builder
	fmt.Fprintf(&b, "%d plays, %d requests, %.1f GB requested, %.2f GB distinct; top 1%% of tracks = %.3f of plays, top 10%% = %.3f\n\n",
		len(tr.Plays), len(tr.Requests), float64(requested)/1e9, float64(distinct)/1e9, tr.PlayShare(0.01), tr.PlayShare(0.10))
	fmt.Fprintf(&b, "| cache (%% of distinct bytes) | LRU | ristretto v2 | otter v2 (edge) | Bélády | edge / Bélády |\n|---|---|---|---|---|---|\n")
	var frac float64
	sizes := []int64{distinct / 100, distinct / 50, distinct / 20, distinct / 10, distinct / 5, c95}
	for i, c := range sizes {
		l := edgetrace.LRU(tr.Requests, c)
		r := edgetrace.Replay(tr.Requests, newRistrettoPolicy(t, c))
		e := edgetrace.Replay(tr.Requests, newEdgePolicy(t, c))
		o := edgetrace.Belady(tr.Requests, c)
		label := fmt.Sprintf("%.1f %%", 100*float64(c)/float64(distinct))
		if i == len(sizes)-1 {
			label += " (Bélády = 95 %)"
			frac = e.ByteHitRatio() / o.ByteHitRatio()
		}
		fmt.Fprintf(&b, "| %s | %.3f | %.3f | %.3f | %.3f | %.3f |\n", label, l.ByteHitRatio(), r.ByteHitRatio(), e.ByteHitRatio(), o.ByteHitRatio(), e.ByteHitRatio()/o.ByteHitRatio())
	}
	return b.String(), frac
}

// TestHitRatioAgainstBelady replays the seeded trace (and a second one with
// a release spike: a new album gets 10 % of the sessions from mid-trace)
// against the edge's policy (otter v2), ristretto v2, LRU and Bélády, prints the byte hit ratios and
// checks the goal: the edge policy reaches ≥ 0.95 × Bélády's byte hit
// ratio at the cache size where Bélády reaches 95 %. SEGUE_HITRATIO_PLAYS
// sets the plays (default 40,000, as in docs/BENCHMARKS.md).
func TestHitRatioAgainstBelady(t *testing.T) {
	if testing.Short() {
		t.Skip("replays millions of requests")
	}
	plays := 40_000
	if v := os.Getenv("SEGUE_HITRATIO_PLAYS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("SEGUE_HITRATIO_PLAYS=%q: want a positive integer", v)
		}
		plays = n
	}
	for _, run := range []struct {
		name string
		opts edgetrace.Options
	}{
		{"steady", edgetrace.DefaultOptions().WithPlays(plays)},
		{"release spike", edgetrace.DefaultOptions().WithPlays(plays).WithReleaseSpike(0.1, 0.5)},
	} {
		tr, err := edgetrace.Generate(run.opts)
		if err != nil {
			t.Fatal(err)
		}
		table, frac := hitRatioTable(t, tr)
		t.Logf("%s:\n%s", run.name, table)
		if frac < 0.95 {
			t.Errorf("%s: edge policy reaches %.3f of Bélády's byte hit ratio at Bélády's 95 %% size, want ≥ 0.95", run.name, frac)
		}
	}
}
