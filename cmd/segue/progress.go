package main

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// stepLog writes a device command's progress and timing lines, stamped
// with the time since the command started like the demo's
// ("[  0.42s] …"). They go to stderr: stdout keeps only the command's
// result (an id, a playlist, a summary), so that it stays parseable.
type stepLog struct {
	w     io.Writer
	start time.Time
	mu    sync.Mutex // download events arrive from several workers
}

func newStepLog(w io.Writer) *stepLog { return &stepLog{w: w, start: time.Now()} }

// step writes one progress line.
func (p *stepLog) step(format string, a ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "[%6.2fs] %s\n", p.elapsed().Seconds(), fmt.Sprintf(format, a...))
}

// elapsed is the time since the command started.
func (p *stepLog) elapsed() time.Duration { return time.Since(p.start) }

// seconds formats d as "1.2 s" (two decimals under a second).
func seconds(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}
