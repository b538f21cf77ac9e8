package counting_test

import (
	"os/exec"
	"testing"
	"time"

	"github.com/segue-fm/segue/internal/cputime"
)

// cpuSelf returns this process's CPU time so far (user + system): the
// relay, its Badger and the benchmark harness.
func cpuSelf(b *testing.B) time.Duration {
	d, ok := cputime.Process()
	if !ok {
		b.Fatal("no process CPU time on this platform")
	}
	return d
}

// reportCPU reports the CPU cost per event of the relay process (relay
// during the run, from cpuSelf before and after) and of the finished load
// generator cmd: relay-µs/event, gen-µs/event, and relay-cpu-events/s =
// the events one fully available core would take at that cost. Unlike
// events/s these hardly depend on how loaded the machine is.
func reportCPU(b *testing.B, relay time.Duration, cmd *exec.Cmd, events int) {
	gen := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	us := float64(relay.Microseconds()) / float64(events)
	b.ReportMetric(us, "relay-µs/event")
	b.ReportMetric(float64(gen.Microseconds())/float64(events), "gen-µs/event")
	b.ReportMetric(1e6/us, "relay-cpu-events/s")
}
