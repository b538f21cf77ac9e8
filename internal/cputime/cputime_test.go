package cputime_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/segue-fm/segue/internal/cputime"
)

// TestAdvancesWithWork: spinning for 50 ms of wall time on a locked
// thread adds CPU time to both the thread and the process, and sleeping
// adds almost none to the thread.
func TestAdvancesWithWork(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("cputime reads getrusage on linux only")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p0, ok1 := cputime.Process()
	t0, ok2 := cputime.Thread()
	if !ok1 || !ok2 {
		t.Fatal("getrusage failed")
	}
	for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
	}
	p1, _ := cputime.Process()
	t1, _ := cputime.Thread()
	if t1 <= t0 || p1 <= p0 || p1-p0 < t1-t0 {
		t.Fatalf("after spinning: thread %v → %v, process %v → %v", t0, t1, p0, p1)
	}
	time.Sleep(100 * time.Millisecond)
	t2, _ := cputime.Thread()
	if t2-t1 > 50*time.Millisecond {
		t.Fatalf("sleeping 100 ms cost the thread %v of CPU", t2-t1)
	}
}
