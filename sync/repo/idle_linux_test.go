package repo

import (
	"context"
	"syscall"
	"testing"
)

// threadNice returns the nice value of the calling thread.
func threadNice(t *testing.T) int {
	t.Helper()
	// The raw getpriority system call returns 20 − nice.
	p, err := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid())
	if err != nil {
		t.Fatal(err)
	}
	return 20 - p
}

// TestCompactionBuildsIdle: a background compaction builds its snapshot
// on a thread at nice 19 (the hook before it reads the store runs there),
// while the rest of it — queueing the write under the document's lock,
// where a starved thread would hold up the document's edits — runs at
// the process's priority.
func TestCompactionBuildsIdle(t *testing.T) {
	for _, tc := range bgCases {
		t.Run(tc.name, func(t *testing.T) {
			f := newBGFixture(t, tc.relay, 120)
			nice := make(chan int, 2)
			f.hook = func(_ context.Context, built bool) {
				n := threadNice(t)
				if built {
					n = -100 - n // after the build, tagged
				}
				nice <- n
			}
			f.untilCompacting(t)
			if err := settle(f.h); err != nil {
				t.Fatal(err)
			}
			own := threadNice(t)
			if n := <-nice; n != 19 {
				t.Fatalf("the build runs at nice %d, want 19", n)
			}
			if n := -100 - <-nice; n != own {
				t.Fatalf("the compaction queues its write at nice %d, want the process's %d", n, own)
			}
		})
	}
}
