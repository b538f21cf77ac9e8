// Package testtool finds the external programs that tests use as oracles
// or peers (oggenc, oggdec, ffmpeg, node, chromium, …).
//
// When CI=true a missing tool fails the test loudly: CI installs every
// tool with scripts/install-test-deps.sh, so absence there is a bug.
// Outside CI the test is skipped with a message naming the tool and the
// script that installs it.
package testtool

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run under CI (CI=true).
func InCI() bool { return os.Getenv("CI") == "true" }

// Need returns the absolute path of the program name found on PATH. When
// it is missing the test fails under CI and is skipped elsewhere.
func Need(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := "test needs " + name + " on PATH; install it with scripts/install-test-deps.sh"
	if InCI() {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
	return ""
}
