package web_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/segue-fm/segue/internal/browsertest"
)

// TestIndexedDBConformance builds wasm/idbstore's test binary for GOOS=js
// and runs it in Chromium: the IndexedDB store must pass the
// store/storetest conformance suite the native backends pass, and its
// play-queue tests (a batch of a large queue reads about a batch, its
// count reads no value, two
// stores on one database append at once without losing a play, an
// Update holds the database's Web Lock).
func TestIndexedDBConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a wasm test binary")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	out := browsertest.RunGoTests(t, root, "./wasm/idbstore", "TestConformance", nil)
	for _, name := range []string{"TestQueueBatchReadsOnlyTheBatch", "TestQueueLenReadsNoValues", "TestTabsAppendAtOnce", "TestUpdateHoldsWebLock"} {
		if !strings.Contains(out, "--- PASS: "+name) {
			t.Errorf("%s did not pass in Chromium", name)
		}
	}
}

// BenchmarkIndexedDBAppend runs wasm/idbstore's BenchmarkAppend in
// Chromium: play-queue appends per second with each Update holding the
// database's Web Lock and without it, in the same run (its output is
// logged; the figures are in docs/BENCHMARKS.md). Run it once:
// -bench BenchmarkIndexedDBAppend -benchtime 1x.
func BenchmarkIndexedDBAppend(b *testing.B) {
	root, err := filepath.Abs("../..")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		browsertest.RunGoTests(b, root, "./wasm/idbstore", "", nil, "-test.run=^$", "-test.bench=BenchmarkAppend", "-test.benchtime=500x", "-test.count=3")
	}
}
