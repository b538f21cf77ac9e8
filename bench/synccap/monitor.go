package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// monitor samples the relay's CPU time and RSS every second and prints
// one line per sample ("t=… cpu=…cores rss=…MiB").
type monitor struct {
	pid  int
	done chan struct{}
}

// clockTick is USER_HZ, the unit of utime and stime in /proc/<pid>/stat
// (100 on every Linux platform Go supports).
const clockTick = 100

func startMonitor(pid int) *monitor {
	m := &monitor{pid: pid, done: make(chan struct{})}
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
				fmt.Printf("relay t=%.0fs cpu=%.2fcores rss=%dMiB\n", now.Sub(start).Seconds(), (c - last).Seconds(), m.rss()>>20)
				last = c
			}
		}
	}()
	return m
}

func (m *monitor) stop() { close(m.done) }

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
