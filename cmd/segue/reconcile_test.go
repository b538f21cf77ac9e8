package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/segue-fm/segue/server/catalog"
)

// TestReconcileCLI runs `segue reconcile` in process on an empty relay
// data directory (nothing counted, nothing served) and checks its usage
// errors; server/reconcile's tests cover the comparison on a real relay.
func TestReconcileCLI(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dd, err := catalog.OpenDataDir(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	dd.Close()
	var out, errb bytes.Buffer
	if err := runReconcile(ctx, []string{"--data", dir, "--day", "2026-11-30"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if want := "2026-11-30: 0 counted streams (0 online, 0 offline): 0 backed, 0 counted but unbacked; 0 (device, track) backed but uncounted\n"; out.String() != want {
		t.Errorf("output %q", out.String())
	}
	out.Reset()
	edgeDir := t.TempDir() // an edge's access records: none yet
	if err := runReconcile(ctx, []string{"--data", dir, "--day", "2026-11-30", "--edge-access", edgeDir, "--edge-access", edgeDir}, &out, &errb); err != nil || !strings.HasPrefix(out.String(), "2026-11-30: 0 counted streams") {
		t.Errorf("--edge-access: %v %q", err, out.String())
	}
	out.Reset()
	if err := runReconcile(ctx, []string{"--data", dir, "--day", "2026-11-30", "--json"}, &out, &errb); err != nil || !strings.Contains(out.String(), `"day": "2026-11-30"`) {
		t.Errorf("json: %v %s", err, out.String())
	}
	if err := os.WriteFile(filepath.Join(edgeDir, "file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]string{
		{"--data", dir, "--day", "2026-11-31"},
		{"--data", dir, "--day", "30.11.2026"},
		{"--day", "2026-11-30"},
		{"--data", dir, "--day", "2026-11-30", "--threshold", "-1s"},
		{"--data", dir, "--day", "2026-11-30", "extra"},
		{"--data", dir, "--day", "2026-11-30", "--edge-access", dir + "/none"},
		{"--data", dir, "--day", "2026-11-30", "--edge-access", filepath.Join(edgeDir, "file")},
	} {
		if err := runReconcile(ctx, bad, &out, &errb); !errors.Is(err, errUsage) {
			t.Errorf("%q: %v, want a usage error", bad, err)
		}
	}
	if err := runReconcile(ctx, []string{"--data", t.TempDir() + "/none", "--day", "2026-11-30"}, &out, &errb); err == nil || errors.Is(err, errUsage) {
		t.Errorf("missing data dir: %v", err)
	}
}
