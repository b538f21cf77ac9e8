package webgen_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/segue-fm/segue/server/web/webgen"
)

// TestWriteReusesOnlyMatchingFiles rebuilds into a directory that holds a
// previous build whose brotli file of one asset is damaged: the damaged
// file is not reused, and every asset's files decompress to its bytes.
func TestWriteReusesOnlyMatchingFiles(t *testing.T) {
	in := webgen.Input{
		Files: map[string][]byte{"a.js": []byte("console.log('a')"), "b.wasm": bytes.Repeat([]byte{0, 97, 115, 109}, 100)},
		Index: []byte(`<script src="{{a.js}}"></script><link href="{{b.wasm}}">`),
	}
	out := t.TempDir()
	m, err := webgen.Write(in, "go-test", out)
	if err != nil {
		t.Fatal(err)
	}
	a := filepath.Join(out, "assets", m.Files["a.js"]+".br")
	b := filepath.Join(out, "assets", m.Files["b.wasm"]+".br")
	if err := os.WriteFile(b, []byte("damaged"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := webgen.Write(in, "go-test", out); err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string]string{"a.js": a, "b.wasm": b} {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(brotli.NewReader(f))
		f.Close()
		if err != nil || !bytes.Equal(got, in.Files[name]) {
			t.Errorf("%s: brotli file decompresses to %q (%v)", name, got, err)
		}
	}
}
