package interop

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/internal/testtool"
	"github.com/segue-fm/segue/sync/docs"
)

// engineResult is one run of the engine workload (engine-bench.mjs prints
// the same fields as JSON).
type engineResult struct {
	Engine       string  `json:"engine"`
	BuildMS      float64 `json:"build_ms"`
	EditMSPerOp  float64 `json:"edit_ms_per_op"`
	SaveMS       float64 `json:"save_ms"`
	SaveBytes    float64 `json:"save_bytes"`
	LoadMS       float64 `json:"load_ms"`
	MergeMS      float64 `json:"merge_ms"`
	ReadMS       float64 `json:"read_ms"`
	ReadEntries  int     `json:"read_entries"`
	FirstEntryAt string  `json:"first"`
}

func (r engineResult) report(b *testing.B) {
	b.ReportMetric(r.BuildMS, "build-ms")
	b.ReportMetric(r.EditMSPerOp, "edit-ms/op")
	b.ReportMetric(r.SaveMS, "save-ms")
	b.ReportMetric(r.SaveBytes, "save-B")
	b.ReportMetric(r.LoadMS, "load-ms")
	b.ReportMetric(r.MergeMS, "merge-ms")
	b.ReportMetric(r.ReadMS, "read-ms")
	b.ReportMetric(0, "ns/op")
}

// engineEntryID, enginePos: the deterministic ids and positions
// engine-bench.mjs uses.
func engineEntryID(i int) string            { return fmt.Sprintf("%016x", uint64(i+1)*0x9e3779b97f4a7c15) }
func enginePos(prefix string, i int) string { return fmt.Sprintf("%s%06d", prefix, i) }

func ms(t0 time.Time) float64 { return float64(time.Since(t0)) / float64(time.Millisecond) }

// goEngineWorkload runs the workload of engine-bench.mjs with automerge-go
// (automerge 0.5.0 through cgo): build n entries in one commit, edits
// moves (one commit each), save, load, two forks making edits/2 moves
// each then a merge, and a read of the ordered entries (docs.Playlist with
// a fresh view: the full read).
func goEngineWorkload(n, edits int) (engineResult, error) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := engineResult{Engine: "automerge-go (automerge 0.5.0, cgo)"}
	t0 := time.Now()
	d := automerge.New()
	if err := d.SetActorID(fmt.Sprintf("%032x", 0xaa)); err != nil {
		return r, err
	}
	root := d.RootMap()
	for _, kv := range []struct {
		k string
		v any
	}{{"type", "playlist"}, {"name", "Big"}, {"description", ""}, {"owner", "alice"},
		{"collaborators", automerge.NewMap()}, {"public", false}, {"entries", automerge.NewMap()}} {
		if err := root.Set(kv.k, kv.v); err != nil {
			return r, err
		}
	}
	entries := d.Path("entries").Map()
	for i := range n {
		e := automerge.NewMap()
		if err := entries.Set(engineEntryID(i), e); err != nil {
			return r, err
		}
		for _, kv := range []struct {
			k string
			v any
		}{{"trackId", fmt.Sprintf("trk%06d", i)}, {"pos", enginePos("a", i)}, {"addedBy", "alice"}, {"addedAt", at}} {
			if err := e.Set(kv.k, kv.v); err != nil {
				return r, err
			}
		}
	}
	if _, err := d.Commit(fmt.Sprintf("add %d", n), automerge.CommitOptions{Time: &at}); err != nil {
		return r, err
	}
	r.BuildMS = ms(t0)

	move := func(d *automerge.Doc, i int, prefix string) error {
		if err := d.Path("entries", engineEntryID((i*7919)%n), "pos").Set(enginePos(prefix, i)); err != nil {
			return err
		}
		_, err := d.Commit("move", automerge.CommitOptions{Time: &at})
		return err
	}
	t0 = time.Now()
	for i := range edits {
		if err := move(d, i, "b"); err != nil {
			return r, err
		}
	}
	r.EditMSPerOp = ms(t0) / float64(edits)

	t0 = time.Now()
	saved := d.Save()
	r.SaveMS, r.SaveBytes = ms(t0), float64(len(saved))

	t0 = time.Now()
	loaded, err := automerge.Load(saved)
	if err != nil {
		return r, err
	}
	r.LoadMS = ms(t0)

	a, err := loaded.Fork()
	if err != nil {
		return r, err
	}
	b, err := loaded.Fork()
	if err != nil {
		return r, err
	}
	for i := range edits / 2 {
		if err := move(a, i, "c"); err != nil {
			return r, err
		}
		if err := move(b, i+edits/2, "d"); err != nil {
			return r, err
		}
	}
	t0 = time.Now()
	if _, err := a.Merge(b); err != nil {
		return r, err
	}
	r.MergeMS = ms(t0)

	t0 = time.Now()
	p, err := docs.OpenPlaylist(a, docs.DefaultOptions())
	if err != nil {
		return r, err
	}
	es, err := p.Entries()
	if err != nil {
		return r, err
	}
	r.ReadMS = ms(t0)
	r.ReadEntries = len(es)
	r.FirstEntryAt = string(es[0].ID) + " " + es[0].Pos
	return r, nil
}

// BenchmarkEngineWorkload runs the same 10,000-entry edit/merge/load
// workload with automerge-go (go) and with @automerge/automerge 3.x in
// Node (js-core: the Wasm core's API, what a Go binding of the newer core
// would call; js-frontend: the JS document API an app uses). Needs node
// and sync/interop/install.sh. Run with:
//
//	sync/interop/install.sh
//	go test -run '^$' -bench EngineWorkload -benchtime 1x ./sync/interop/
//
// The sub-benchmarks check that every engine ends with the same entries
// in the same order.
func BenchmarkEngineWorkload(b *testing.B) {
	const n, edits = 10_000, 1_000
	var first string
	check := func(b *testing.B, r engineResult) {
		if r.ReadEntries != n {
			b.Fatalf("%s read %d entries, want %d", r.Engine, r.ReadEntries, n)
		}
		if first == "" {
			first = r.FirstEntryAt
		} else if r.FirstEntryAt != first {
			b.Fatalf("%s: first entry %q, go had %q", r.Engine, r.FirstEntryAt, first)
		}
	}
	b.Run("go", func(b *testing.B) {
		for range b.N {
			r, err := goEngineWorkload(n, edits)
			if err != nil {
				b.Fatal(err)
			}
			check(b, r)
			r.report(b)
		}
	})
	for _, mode := range []string{"core", "frontend"} {
		b.Run("js-"+mode, func(b *testing.B) {
			node := testtool.Need(b, "node")
			needModules(b)
			for range b.N {
				out, err := exec.CommandContext(b.Context(), node, "engine-bench.mjs", strconv.Itoa(n), strconv.Itoa(edits), mode).Output()
				if err != nil {
					b.Fatalf("engine-bench.mjs: %v", err)
				}
				var r engineResult
				if err := json.Unmarshal(out, &r); err != nil {
					b.Fatalf("engine-bench.mjs output %q: %v", out, err)
				}
				check(b, r)
				b.Logf("%s", out)
				r.report(b)
			}
		})
	}
}
