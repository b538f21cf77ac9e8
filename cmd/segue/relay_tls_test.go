package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunRelayFlagRefusals: flags that cannot work are refused before
// anything is opened (usage errors), or fail with a clear error.
func TestRunRelayFlagRefusals(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	missing := filepath.Join(t.TempDir(), "none.pem")
	cases := []struct {
		name    string
		args    []string
		usage   bool   // want errUsage
		errText string // else: want an error containing this
	}{
		{"cert without key", []string{"-tls-cert", missing}, true, ""},
		{"key without cert", []string{"-tls-key", missing}, true, ""},
		{"unreadable pair", []string{"-tls-cert", missing, "-tls-key", missing}, false, "load tls key pair"},
		{"pprof on a public address", []string{"-pprof", "0.0.0.0:6060"}, true, ""},
		{"contention profiles without pprof", []string{"-pprof-contention"}, true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"-init", "-data", data, "-listen", "127.0.0.1:0", "-insecure-fast-passwords"}, c.args...)
			err := runRelay(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{})
			switch {
			case c.usage && !errors.Is(err, errUsage):
				t.Fatalf("err %v, want errUsage", err)
			case !c.usage && (err == nil || errors.Is(err, errUsage) || !strings.Contains(err.Error(), c.errText)):
				t.Fatalf("err %v, want one containing %q", err, c.errText)
			}
		})
	}
}
