//go:build js && wasm

package idbstore_test

import (
	"fmt"
	"testing"

	"github.com/segue-fm/segue/core/playlog"
)

// BenchmarkAppend appends plays to the shared play queue (one Update
// each: read hist/mark, write it and the entry), with each Update holding
// the database's Web Lock as the page's do and without it, in the same
// run. It runs in Chromium through server/web's BenchmarkIndexedDBAppend
// (docs/BENCHMARKS.md).
func BenchmarkAppend(b *testing.B) {
	for _, c := range []struct {
		name string
		lock bool
	}{{"web-lock", true}, {"no-web-lock", false}} {
		b.Run(c.name, func(b *testing.B) {
			s := open(b, fmt.Sprintf("bench-%d", dbs.Add(1)))
			if !c.lock {
				s.WithoutWebLock()
			}
			q := playlog.NewShared(s)
			ctx := b.Context()
			for b.Loop() {
				if _, err := q.Append(ctx, play("ev")); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
		})
	}
}
