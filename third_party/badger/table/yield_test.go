/*
 * segue fork: table builders yield the processor after each block (FORK.md).
 */

package table

import (
	"crypto/rand"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/y"
)

// BenchmarkBuilderBesideTicker builds a 32 MiB table (Snappy, 4 KiB
// blocks, as segue's stores) on one processor (GOMAXPROCS 1, as a relay
// pinned to one core) while another goroutine wakes every millisecond,
// and reports how late it woke (late-p50-ms … late-max-ms): the delay a
// flush or compaction adds to everything else on the processor.
func BenchmarkBuilderBesideTicker(b *testing.B) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	val := make([]byte, 512)
	_, _ = rand.Read(val)
	opts := Options{Compression: options.Snappy, BlockSize: 4 << 10, BloomFalsePositive: 0.01, TableSize: 64 << 20}
	var late []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		stop := make(chan struct{})
		done := make(chan []time.Duration)
		go func() {
			var l []time.Duration
			for {
				select {
				case <-stop:
					done <- l
					return
				default:
				}
				t := time.Now()
				time.Sleep(time.Millisecond)
				l = append(l, time.Since(t)-time.Millisecond)
			}
		}()
		bd := NewTableBuilder(opts)
		for k := 0; k < 64<<10; k++ {
			bd.Add(y.KeyWithTs([]byte(fmt.Sprintf("key%09d", k)), 1), y.ValueStruct{Value: val}, 0)
		}
		data := bd.Finish()
		bd.Close()
		close(stop)
		late = append(late, <-done...)
		if len(data) == 0 {
			b.Fatal("empty table")
		}
	}
	b.StopTimer()
	slices.Sort(late)
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	b.ReportMetric(float64(len(late)), "ticks")
	b.ReportMetric(ms(late[len(late)/2]), "late-p50-ms")
	b.ReportMetric(ms(late[len(late)*9/10]), "late-p90-ms")
	b.ReportMetric(ms(late[len(late)*99/100]), "late-p99-ms")
	b.ReportMetric(ms(late[len(late)-1]), "late-max-ms")
}
