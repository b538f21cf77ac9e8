package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// TestNegativeDurationsAreUsage: segue edge took a negative
// --shutdown-timeout (segue relay refuses it) and segue download a
// --sync-wait of 0 or less, which ended the playlist sync at once with
// "sync with the relay did not finish"; both are usage errors (exit 2)
// now, found before the edge or the device opens.
func TestNegativeDurationsAreUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"edge", "--parent", "http://127.0.0.1:1", "--listen", "127.0.0.1:0", "--shutdown-timeout", "-1s"}, "--shutdown-timeout -1s: want 0 (no grace) or a positive duration"},
		{[]string{"download", "--relay", "http://127.0.0.1:1", "--sync-wait", "-1s", "track:x"}, "--sync-wait -1s: want a positive duration"},
		{[]string{"download", "--relay", "http://127.0.0.1:1", "--sync-wait", "0s", "track:x"}, "--sync-wait 0s: want a positive duration"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "device")
			args := tc.args
			if args[0] == "download" {
				args = append(args, "--data", dir)
			}
			// Bounded: an edge that takes the flag serves until ctx ends.
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			var out, errOut bytes.Buffer
			code := run(ctx, args, &out, &errOut)
			if code != 2 || !strings.Contains(errOut.String(), tc.says) {
				t.Fatalf("exit %d, want 2 saying %q\nstdout: %s\nstderr: %s", code, tc.says, out.String(), errOut.String())
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Fatalf("%s was made (%v)", dir, err)
			}
		})
	}
}
