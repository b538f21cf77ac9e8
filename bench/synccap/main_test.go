package main

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/segue-fm/segue/internal/testbed"
)

// TestRunSmall drives a real relay (internal/testbed: Badger on disk,
// HTTP on loopback) with a small scenario, with devices that keep their
// change graphs (the default; also with only 2 of each shared
// playlist's 4 followers editing it, -editors, the others holding no
// automerge document) and with devices that apply every change
// (-full-followers), and with pre-made edits (-replay, also with 2
// editors of 4), and checks that every edit is acknowledged and reaches
// every other follower (a follower's graph and document that disagreed
// would fail its next edit), that the relay's CPU and RSS are read from
// /proc, that the sync messages both ways are counted, and with -replay that the relay's documents are what the
// pre-made replicas say (checkReplayDocs). The cases run in parallel,
// each with its own relay.
func TestRunSmall(t *testing.T) {
	for _, tc := range []struct {
		name    string
		full    bool
		editors int
		replay  bool
	}{
		{"graph followers", false, 0, false},
		{"graph followers, 2 of 4 edit", false, 2, false},
		{"full followers", true, 0, false},
		{"replay", false, 0, true},
		{"replay, 2 of 4 edit", false, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rl := testbed.NewRelay(t, testbed.DefaultOptions())
			c := config{url: rl.URL, prefix: "smoke", relayPID: os.Getpid(), devices: 6, shared: 2, fols: 4,
				rate: 40, sharedFrac: 0.5, duration: 2 * time.Second, full: tc.full, editors: tc.editors, replay: tc.replay}
			st, err := run(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			if st.offered < 60 || st.errs != 0 {
				t.Fatalf("offered %d edits, %d errors (first %q)", st.offered, st.errs, st.firstErr)
			}
			if st.ack.count() != st.offered {
				t.Fatalf("%d of %d edits acknowledged", st.ack.count(), st.offered)
			}
			for _, p := range st.byHash {
				if len(p.waiting) > 0 {
					t.Fatalf("an edit never reached %d followers", len(p.waiting))
				}
			}
			if st.fol.count() == 0 {
				t.Fatal("no follower deliveries measured")
			}
			// Every edit left in a message of its own, and every delivery
			// came in a message with changes.
			if w := st.wire.snapshot(); w.out < int64(st.offered) || w.inChanged == 0 || w.inChanged > w.in || w.inChanges < int64(st.fol.count()) {
				t.Fatalf("sync messages in %d (%d with %d changes), out %d; want out ≥ %d edits, changes ≥ %d deliveries",
					w.in, w.inChanged, w.inChanges, w.out, st.offered, st.fol.count())
			}
			if n := st.led.len(); n != 0 {
				t.Fatalf("ledger holds %d edits after every edit reached everyone", n)
			}
			if tc.replay {
				checkReplayDocs(t, rl.URL, st)
			}
			m := &monitor{pid: os.Getpid()}
			if m.cpu() <= 0 || m.rss() == 0 {
				t.Fatalf("/proc readings: cpu %v rss %d", m.cpu(), m.rss())
			}
		})
	}
}
