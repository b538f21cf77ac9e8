package interop

import (
	"os"
	"testing"

	"github.com/segue-fm/segue/internal/testtool"
)

// needModules fails (CI) or skips the test when sync/interop/install.sh
// has not installed the npm packages.
func needModules(t testing.TB) {
	t.Helper()
	if _, err := os.Stat("node_modules/@automerge/automerge-repo/package.json"); err == nil {
		return
	}
	msg := "npm packages missing; run sync/interop/install.sh (scripts/install-test-deps.sh)"
	if testtool.InCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
