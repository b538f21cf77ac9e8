package search

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"
	bq "github.com/blevesearch/bleve/v2/search/query"

	core "github.com/segue-fm/segue/core/search"
	"github.com/segue-fm/segue/internal/catalogen"
	"github.com/segue-fm/segue/internal/cputime"
	"github.com/segue-fm/segue/store"
)

// The benchmarks build both indexes once over a generated catalog of
// SEGUE_SEARCH_BENCH_TRACKS tracks (default 100,000; docs/BENCHMARKS.md
// records the 1,000,000-track run) and compare this package's index with
// Bleve's fuzzy match query (Fuzziness 1, the default of Bleve's fuzzy
// query; default mapping and analyzer; scorch on disk) on the same mixed
// query set.

type benchSet struct {
	entries []Entry
	queries []string
	segue   *Index
	bleve   bleve.Index

	segueBuild, bleveBuild time.Duration
	// segueCPU and bleveCPU are the process CPU time of each build (all
	// threads, garbage collection included).
	segueCPU, bleveCPU   time.Duration
	segueHeap, bleveHeap uint64
}

var (
	benchOnce sync.Once
	bench     *benchSet
)

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// catalogEntries turns a generated catalog into index entries.
func catalogEntries(c catalogen.Catalog) []Entry {
	names := make(map[string]string, len(c.Artists))
	var out []Entry
	for _, a := range c.Artists {
		names[a.ID] = a.Name
		out = append(out, Entry{Kind: KindArtist, ID: a.ID, Title: a.Name, Popularity: a.Popularity})
	}
	albums := make(map[string]string, len(c.Albums))
	for _, al := range c.Albums {
		albums[al.ID] = al.Title
		out = append(out, Entry{Kind: KindAlbum, ID: al.ID, Title: al.Title, Artists: []string{names[al.ArtistID]}})
	}
	for _, t := range c.Tracks {
		e := Entry{Kind: KindTrack, ID: t.ID, Title: t.Title, Album: albums[t.AlbumID], Popularity: t.Popularity}
		for _, a := range t.ArtistIDs {
			e.Artists = append(e.Artists, names[a])
		}
		out = append(out, e)
	}
	return out
}

// mixedQueries makes n queries of 1 to 4 words from entries: exact, with a
// typo inside the budget, and with the last word cut (typing).
func mixedQueries(r *rand.Rand, entries []Entry, n int) []string {
	var out []string
	for len(out) < n {
		e := entries[r.IntN(len(entries))]
		words := strings.Fields(e.Title)
		if e.Kind == KindTrack && len(e.Artists) > 0 && r.IntN(2) == 0 {
			words = append(words, strings.Fields(e.Artists[0])...)
		}
		words = words[:min(len(words), 1+r.IntN(4))]
		switch r.IntN(3) {
		case 1: // a typo in a word long enough
			for i, w := range words {
				rs := []rune(w)
				if len(rs) >= 5 {
					k := 1 + r.IntN(len(rs)-2)
					rs[k], rs[k+1] = rs[k+1], rs[k]
					words[i] = string(rs)
					break
				}
			}
		case 2: // typing: the last word cut
			rs := []rune(words[len(words)-1])
			words[len(words)-1] = string(rs[:max(1, len(rs)*2/3)])
		}
		out = append(out, strings.ToLower(strings.Join(words, " ")))
	}
	return out
}

func setup(b testing.TB) *benchSet {
	benchOnce.Do(func() {
		n := 100_000
		if s := os.Getenv("SEGUE_SEARCH_BENCH_TRACKS"); s != "" {
			v, err := strconv.Atoi(s)
			if err != nil || v < 1000 {
				panic(fmt.Sprintf("SEGUE_SEARCH_BENCH_TRACKS=%q: want a number ≥ 1000", s))
			}
			n = v
		}
		bs := &benchSet{entries: catalogEntries(catalogen.Generate(1, n))}
		bs.queries = mixedQueries(rand.New(rand.NewPCG(2, 3)), bs.entries, 2000)

		h0 := heapInUse()
		start := time.Now()
		cpu0, _ := cputime.Process()
		ix, err := OpenIndex(context.Background(), store.NewMemory(), DefaultOptions())
		if err == nil {
			err = ix.Upsert(context.Background(), bs.entries...)
		}
		if err != nil {
			panic(err)
		}
		bs.segue, bs.segueBuild = ix, time.Since(start)
		cpu1, _ := cputime.Process()
		bs.segueCPU = cpu1 - cpu0
		bs.segueHeap = heapInUse() - h0

		if os.Getenv("SEGUE_SEARCH_BENCH_NO_BLEVE") == "" {
			h0 = heapInUse()
			start = time.Now()
			cpu0, _ = cputime.Process()
			dir, err := os.MkdirTemp("", "segue-bleve-bench")
			if err != nil {
				panic(err)
			}
			bi, err := bleve.New(dir+"/idx", bleve.NewIndexMapping())
			if err != nil {
				panic(err)
			}
			batch := bi.NewBatch()
			for _, e := range bs.entries {
				if err := batch.Index(e.Key(), map[string]any{"title": e.Title, "artists": e.Artists, "album": e.Album}); err != nil {
					panic(err)
				}
				if batch.Size() >= 10_000 {
					if err := bi.Batch(batch); err != nil {
						panic(err)
					}
					batch = bi.NewBatch()
				}
			}
			if err := bi.Batch(batch); err != nil {
				panic(err)
			}
			bs.bleve, bs.bleveBuild = bi, time.Since(start)
			cpu1, _ = cputime.Process()
			bs.bleveCPU = cpu1 - cpu0
			bs.bleveHeap = heapInUse() - h0
		}
		bench = bs
	})
	b.Logf("%d entries; build: segue %v (CPU %v, heap %d MiB), bleve %v (CPU %v, heap %d MiB); VmRSS %s",
		len(bench.entries), bench.segueBuild.Round(time.Millisecond), bench.segueCPU.Round(time.Millisecond), bench.segueHeap>>20,
		bench.bleveBuild.Round(time.Millisecond), bench.bleveCPU.Round(time.Millisecond), bench.bleveHeap>>20, vmRSS())
	return bench
}

func vmRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmRSS:"))
		}
	}
	return "unknown"
}

func (bs *benchSet) run(engine string, q string) (int, error) {
	if engine == "bleve" {
		mq := bq.NewMatchQuery(q)
		mq.SetFuzziness(1)
		res, err := bs.bleve.Search(bleve.NewSearchRequestOptions(mq, 10, 0, false))
		if err != nil {
			return 0, err
		}
		return len(res.Hits), nil
	}
	pq, err := core.ParseQuery(q)
	if err != nil {
		return 0, err
	}
	hits, _, err := bs.segue.Search(Request{Query: pq, Limit: 10})
	return len(hits), err
}

func BenchmarkSearch(b *testing.B) {
	bs := setup(b)
	engines := []string{"segue"}
	if bs.bleve != nil {
		engines = append(engines, "bleve")
	}
	for _, engine := range engines {
		b.Run(engine+"/1-client", func(b *testing.B) {
			// The goroutine keeps its thread so that the thread's CPU
			// time is the queries' own work (plus this goroutine's share
			// of garbage collection), whatever the machine's load.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			lat := make([]time.Duration, 0, b.N)
			// one and multi hold the latencies of one-word and longer
			// queries apart (one-word queries take another path).
			var one, multi []time.Duration
			// slow keeps every query's latency for the slowest-queries
			// log (SEGUE_SEARCH_BENCH_SLOW=N logs the N slowest).
			var slow []slowQuery
			found := 0
			cpu0, cpuOK := cputime.Thread()
			for i := 0; b.Loop(); i++ {
				start := time.Now()
				q := bs.queries[i%len(bs.queries)]
				n, err := bs.run(engine, q)
				d := time.Since(start)
				lat = append(lat, d)
				slow = append(slow, slowQuery{q, d})
				if strings.Contains(strings.TrimSpace(q), " ") {
					multi = append(multi, d)
				} else {
					one = append(one, d)
				}
				if err != nil {
					b.Fatal(err)
				}
				if n > 0 {
					found++
				}
			}
			if cpu1, ok := cputime.Thread(); ok && cpuOK {
				b.ReportMetric(float64((cpu1-cpu0).Microseconds())/1000/float64(len(lat)), "cpu-ms/q")
			}
			logSlowest(b, slow)
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(100*float64(found)/float64(len(lat)), "%found")
			for _, part := range []struct {
				name string
				lat  []time.Duration
			}{{"1w", one}, {"multi", multi}} {
				if len(part.lat) > 0 {
					slices.Sort(part.lat)
					b.ReportMetric(float64(part.lat[len(part.lat)/2].Microseconds())/1000, "p50-"+part.name+"-ms")
					b.ReportMetric(float64(part.lat[len(part.lat)*99/100].Microseconds())/1000, "p99-"+part.name+"-ms")
				}
			}
		})
		b.Run(engine+"/8-clients", func(b *testing.B) {
			b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
			var next sync.Mutex
			i := 0
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					next.Lock()
					q := bs.queries[i%len(bs.queries)]
					i++
					next.Unlock()
					if _, err := bs.run(engine, q); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "q/s")
		})
	}
}

type slowQuery struct {
	q string
	d time.Duration
}

// logSlowest logs the SEGUE_SEARCH_BENCH_SLOW slowest queries of a run, to
// see which queries make the tail.
func logSlowest(b *testing.B, qs []slowQuery) {
	n, err := strconv.Atoi(os.Getenv("SEGUE_SEARCH_BENCH_SLOW"))
	if err != nil || n <= 0 {
		return
	}
	slices.SortFunc(qs, func(a, b slowQuery) int { return int(b.d - a.d) })
	for _, s := range qs[:min(n, len(qs))] {
		b.Logf("slow: %8.2f ms  %q", float64(s.d.Microseconds())/1000, s.q)
	}
}
