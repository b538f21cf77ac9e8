package web_test

import (
	"path/filepath"
	"testing"

	"github.com/segue-fm/segue/internal/browsertest"
)

// TestIndexedDBConformance builds wasm/idbstore's test binary for GOOS=js
// and runs it in Chromium: the IndexedDB store must pass the
// store/storetest conformance suite the native backends pass.
func TestIndexedDBConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a wasm test binary")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	browsertest.RunGoTests(t, root, "./wasm/idbstore", "TestConformance", nil)
}
