package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/ingest"
	"github.com/segue-fm/segue/server/relay"
)

// TestMinimalAgainstRelay ingests the demo album into a real relay on
// 127.0.0.1 and runs the example against it.
func TestMinimalAgainstRelay(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dd, err := catalog.OpenDataDir(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	req, err := ingest.LoadAlbum(demoalbum.FS, demoalbum.AlbumPath)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ingest.Ingest(ctx, dd.Catalog, dd.Signer, req, ingest.DefaultOptions())
	dd.Close()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := relay.New(ctx, relay.DefaultOptions(dir).WithListen("127.0.0.1:0").
		WithArgonParams(relay.FastArgonParams).WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	rctx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); srv.Wait() }()
	addr, err := srv.Start(rctx)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "t.ogg")
	track := res.Tracks[0].ID
	var stdout, stderr bytes.Buffer
	err = run(ctx, []string{"-relay", "http://" + addr, "-user", "ada", "-pass", "correct horse battery",
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
