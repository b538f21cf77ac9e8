package engine_test

import (
	"testing"

	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/store/storetest"
	"github.com/segue-fm/segue/wasm/engine"
)

// TestSplitConformance runs store/storetest on a Split whose memory
// prefixes catch part of the suite's keys, so routing and merged
// iteration are both exercised.
func TestSplitConformance(t *testing.T) {
	for _, prefixes := range [][]string{engine.CachePrefixes, {"k/0", "t/a", "new/00", "w/1", "keep"}, {""}} {
		t.Run("", func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) store.Store {
				return engine.NewSplit(store.NewMemory(), store.NewMemory(), prefixes...)
			})
		})
	}
}
