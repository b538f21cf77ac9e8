package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testbed"
)

// TestMinimalAgainstRelay ingests the demo album into a real relay on
// 127.0.0.1 and runs the example against it.
func TestMinimalAgainstRelay(t *testing.T) {
	ctx := context.Background()
	r := testbed.NewRelay(t, testbed.DefaultOptions())
	out := filepath.Join(t.TempDir(), "t.ogg")
	track := r.Tracks[0]
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"-relay", r.URL, "-user", "ada", "-pass", testbed.Password,
		"-signup", "-track", string(track), "-tier", string(model.TierNormal), "-out", out}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil || !bytes.HasPrefix(b, []byte("OggS")) {
		t.Fatalf("output is not Ogg: %v", err)
	}
	if !strings.Contains(stdout.String(), "streamed "+string(track)) {
		t.Fatalf("unexpected summary %q", stdout.String())
	}
}
