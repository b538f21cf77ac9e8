package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestListenAddrIsUsage: a --listen that is no host:port (a missing or
// out-of-range port) was found only when the relay or edge bound it, exit
// 1; it is a usage error now (exit 2), found before any directory is
// made.
func TestListenAddrIsUsage(t *testing.T) {
	for _, tc := range []struct {
		cmd, addr, says string
	}{
		{"relay", "garbage", `--listen "garbage": want host:port`},
		{"relay", "127.0.0.1:99999", `--listen "127.0.0.1:99999": want host:port`},
		{"relay", "127.0.0.1:-1", `--listen "127.0.0.1:-1": want host:port`},
		{"edge", "garbage", `--listen "garbage": want host:port`},
		{"edge", "[::1]:65536", `--listen "[::1]:65536": want host:port`},
	} {
		t.Run(tc.cmd+" "+tc.addr, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "new")
			args := []string{"relay", "--init", "--data", dir, "--listen", tc.addr}
			if tc.cmd == "edge" {
				args = []string{"edge", "--parent", "http://127.0.0.1:1", "--access-dir", dir, "--listen", tc.addr}
			}
			code, out, errOut := runCmd(args...)
			if code != 2 || !strings.Contains(errOut, tc.says) {
				t.Fatalf("exit %d, want 2 saying %q\nstdout: %s\nstderr: %s", code, tc.says, out, errOut)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Fatalf("%s was made (%v)", dir, err)
			}
		})
	}
}
