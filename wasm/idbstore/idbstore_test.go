//go:build js && wasm

package idbstore_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/store/storetest"
	"github.com/segue-fm/segue/wasm/idbstore"
)

var dbs atomic.Int64

// TestConformance runs store/storetest on IndexedDB. It runs only in a
// browser: server/web's TestIndexedDBConformance builds this test binary
// for GOOS=js and runs it in Chromium.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := idbstore.Open(t.Context(), fmt.Sprintf("storetest-%d", dbs.Add(1)))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
