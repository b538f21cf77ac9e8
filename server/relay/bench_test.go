package relay_test

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkServeChunk measures the audio origin over loopback: 8
// concurrent keep-alive clients fetch 256 KiB chunks (token auth, manifest
// resolution, Badger read, http.ServeContent) for b.N requests in total.
func BenchmarkServeChunk(b *testing.B) {
	const (
		clients   = 8
		chunkSize = 256 << 10
		nChunks   = 16
	)
	e := startRelay(b, nChunks, chunkSize)
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var next, bytes atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	b.SetBytes(chunkSize)
	b.ResetTimer()
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				req, _ := http.NewRequest("GET", fmt.Sprintf("%s/v1/audio/tr1/high/chunks/%d", e.base, i%nChunks), nil)
				req.Header.Set("Authorization", "Bearer "+e.token)
				resp, err := cl.Do(req)
				if err != nil {
					errs <- err
					return
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || n != chunkSize {
					errs <- fmt.Errorf("chunk %d: status %d, %d bytes, %v", i%nChunks, resp.StatusCode, n, err)
					return
				}
				bytes.Add(n)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "req/s")
	b.ReportMetric(float64(bytes.Load())/el.Seconds()/1e6, "MB/s")
}
