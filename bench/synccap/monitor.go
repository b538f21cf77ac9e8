package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/segue-fm/segue/internal/cmem"
)

// monitor samples the relay's CPU time and RSS every second and prints
// one line per sample ("t=… cpu=…cores rss=…MiB"), with the relay's Go
// heap (heap=… in use, live=… allocated, from its /metrics) when it has
// the admin token.
type monitor struct {
	pid        int
	url, token string
	hc         *http.Client
	done       chan struct{}
}

// clockTick is USER_HZ, the unit of utime and stime in /proc/<pid>/stat
// (100 on every Linux platform Go supports).
const clockTick = 100

func startMonitor(pid int, url, token string) *monitor {
	m := &monitor{pid: pid, url: url, token: token, hc: &http.Client{Timeout: 2 * time.Second}, done: make(chan struct{})}
	if pid <= 0 {
		return m
	}
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		start, last := time.Now(), m.cpu()
		for {
			select {
			case <-m.done:
				return
			case now := <-t.C:
				c := m.cpu()
				heap := ""
				if r, ok := m.metrics(); ok {
					heap = fmt.Sprintf(" heap=%dMiB live=%dMiB docs=%d unloads=%d", r.inuse>>20, r.alloc>>20, r.loaded, r.unloads)
				}
				fmt.Printf("relay t=%.0fs cpu=%.2fcores rss=%dMiB%s\n", now.Sub(start).Seconds(), (c - last).Seconds(), m.rss()>>20, heap)
				last = c
			}
		}
	}()
	return m
}

func (m *monitor) stop() { close(m.done) }

// relayMetrics are the figures the monitor reads from the relay's
// /metrics: its Go heap in use (go_memstats_heap_inuse_bytes: spans
// holding objects, garbage not yet swept included) and allocated
// (go_memstats_heap_alloc_bytes), and the sync repository's loaded
// documents and unloads.
type relayMetrics struct {
	inuse, alloc, loaded, unloads uint64
}

// metrics reads the relay's /metrics; ok is false without the admin
// token or an answer.
func (m *monitor) metrics() (r relayMetrics, ok bool) {
	if m.token == "" {
		return r, false
	}
	req, err := http.NewRequest(http.MethodGet, m.url+"/metrics", nil)
	if err != nil {
		return r, false
	}
	req.Header.Set("Authorization", "Bearer "+m.token)
	resp, err := m.hc.Do(req)
	if err != nil {
		return r, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return r, false
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return r, false
	}
	var got int
	for line := range strings.SplitSeq(string(b), "\n") {
		name, v, found := strings.Cut(line, " ")
		if !found {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			continue
		}
		switch name {
		case "go_memstats_heap_inuse_bytes":
			r.inuse, got = uint64(f), got+1
		case "go_memstats_heap_alloc_bytes":
			r.alloc, got = uint64(f), got+1
		case "segue_sync_documents_loaded":
			r.loaded = uint64(f)
		case "segue_sync_document_unloads_total":
			r.unloads = uint64(f)
		}
	}
	return r, got == 2
}

// cpu returns the relay's user + system CPU time (0 when unknown).
func (m *monitor) cpu() time.Duration {
	if m.pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", m.pid))
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name; utime and stime are
	// fields 14 and 15 of the whole line.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+stime) * time.Second / clockTick
}

// rss returns the relay's resident set size in bytes (0 when unknown).
func (m *monitor) rss() uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", m.pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// selfMonitor prints the generator's own CPU, RSS, Go heap, C heap (in
// use and freed but held, glibc only) and backlog every second ("gen
// t=… cpu=…cores rss=…MiB heap=…MiB cheap=…MiB cfree=…MiB inflight=…
// pending=… ledger=…"), so that a run whose generator is at its core's
// limit or growing shows it, and keeps its peak RSS.
type selfMonitor struct {
	done chan struct{}
	exit chan struct{}
	peak atomic.Uint64
}

func startSelfMonitor(st *stats) *selfMonitor {
	m := &selfMonitor{done: make(chan struct{}), exit: make(chan struct{})}
	self := &monitor{pid: os.Getpid()}
	m.peak.Store(self.rss())
	go func() {
		defer close(m.exit)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		start, last := time.Now(), ownCPU()
		for {
			select {
			case <-m.done:
				return
			case now := <-t.C:
				c := ownCPU()
				rss := self.rss()
				m.peak.Store(max(m.peak.Load(), rss))
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				st.mu.Lock()
				pending := len(st.byHash)
				secAck, secFol := st.secAck, st.secFol
				st.secAck, st.secFol = 0, 0
				st.mu.Unlock()
				ch := cmem.Stats()
				fmt.Printf("gen t=%.0fs cpu=%.2fcores rss=%dMiB heap=%dMiB cheap=%dMiB cfree=%dMiB inflight=%d pending=%d ledger=%d ackmax=%.1fms folmax=%.1fms\n",
					now.Sub(start).Seconds(), (c - last).Seconds(), rss>>20, ms.HeapInuse>>20, ch.InUse>>20, ch.Free>>20, st.inflight.Load(), pending, st.led.len(),
					float64(secAck.Microseconds())/1000, float64(secFol.Microseconds())/1000)
				last = c
			}
		}
	}()
	return m
}

// stop ends the sampling and returns the peak RSS seen, in bytes.
func (m *selfMonitor) stop() uint64 {
	close(m.done)
	<-m.exit
	return m.peak.Load()
}

// genBoundCores and genBoundLag are the thresholds above which a run is
// reported as generator-bound: its own CPU over the edit phase (of the
// one core it is pinned to), or the p99 delay with which its schedule
// dispatched edits (it could not keep time).
const (
	genBoundCores = 0.9
	genBoundLag   = 50 * time.Millisecond
)

// verdict says whether a run measured the relay or the generator.
type verdict struct {
	cores  float64
	lagP99 time.Duration
}

func (v verdict) bound() bool { return v.cores >= genBoundCores || v.lagP99 > genBoundLag }

// String is the summary's verdict: "GENERATOR-BOUND (reasons)" or
// "generator not the limit".
func (v verdict) String() string {
	if !v.bound() {
		return fmt.Sprintf("generator not the limit (CPU < %.1f core, schedule lag p99 ≤ %s)", genBoundCores, genBoundLag)
	}
	var why []string
	if v.cores >= genBoundCores {
		why = append(why, fmt.Sprintf("CPU %.2f ≥ %.1f core", v.cores, genBoundCores))
	}
	if v.lagP99 > genBoundLag {
		why = append(why, fmt.Sprintf("schedule lag p99 %s > %s", v.lagP99.Round(time.Millisecond), genBoundLag))
	}
	return "GENERATOR-BOUND (" + strings.Join(why, ", ") + "): the relay's figures of this run are lower bounds"
}
