// Package webgen turns the web player's sources and its built wasm module
// into the files server/web embeds: each asset under a content-hashed name,
// precompressed with brotli and gzip, and index.html pointing at them. The
// output depends only on its inputs (no time, no file names in the gzip
// header), so a rebuild from the same sources and Go toolchain gives the
// same bytes. scripts/build-web.sh runs it through server/web/gen.
package webgen

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/andybalholm/brotli"
)

// Assets are the sources, in wasm/web, that become hashed assets (besides
// segue.wasm and Go's wasm_exec.js).
var Assets = []string{"app.js", "offline.js", "segue.js", "worklet.js", "style.css"}

// Bundled are the files wasm/playlists/build.sh writes (the esbuild bundle
// of the playlists module and Automerge's wasm); Read takes them from its
// bundle directory.
var Bundled = []string{"playlists.js", "automerge.wasm"}

// Worker is the service worker's source in wasm/web: served as is at
// /sw.js (a worker's URL cannot change between builds), no-cache.
const Worker = "sw.js"

// ErrMissing is returned when an input file is missing.
var ErrMissing = errors.New("webgen: missing input")

// Manifest describes one build: the logical name → hashed name of every
// asset, the SHA-256 of every asset's plain bytes, and the Go toolchain
// that built the wasm (the build is reproducible only with the same one).
type Manifest struct {
	Go     string            `json:"go"`
	Files  map[string]string `json:"files"`
	SHA256 map[string]string `json:"sha256"`
	Index  string            `json:"index_sha256"`
	// Worker is the SHA-256 of sw.js.
	Worker string `json:"sw_sha256"`
}

// Input holds the plain bytes of every asset, the index template and the
// service worker.
type Input struct {
	Files  map[string][]byte
	Index  []byte
	Worker []byte
}

// Read loads the sources from src (wasm/web), the module from wasmPath,
// the Bundled files from bundle and wasm_exec.js from the running
// toolchain's GOROOT.
func Read(src, wasmPath, bundle string) (Input, error) {
	in := Input{Files: map[string][]byte{}}
	read := func(name, path string) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrMissing, err)
		}
		in.Files[name] = b
		return nil
	}
	for _, a := range Assets {
		if err := read(a, filepath.Join(src, a)); err != nil {
			return in, err
		}
	}
	for _, a := range Bundled {
		if err := read(a, filepath.Join(bundle, a)); err != nil {
			return in, err
		}
	}
	if err := read("segue.wasm", wasmPath); err != nil {
		return in, err
	}
	if err := read("wasm_exec.js", filepath.Join(runtime.GOROOT(), "lib", "wasm", "wasm_exec.js")); err != nil {
		return in, err
	}
	var err error
	if in.Index, err = os.ReadFile(filepath.Join(src, "index.html")); err != nil {
		return in, fmt.Errorf("%w: %w", ErrMissing, err)
	}
	if in.Worker, err = os.ReadFile(filepath.Join(src, Worker)); err != nil {
		return in, fmt.Errorf("%w: %w", ErrMissing, err)
	}
	return in, nil
}

// Hashed returns name with the first 12 hex digits of the SHA-256 of b
// before its extension: app.js → app.0123456789ab.js.
func Hashed(name string, b []byte) string {
	sum := sha256.Sum256(b)
	ext := filepath.Ext(name)
	return strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:6]) + ext
}

// Plan computes the manifest and the rendered index.html without
// compressing anything (cheap: the up-to-date test uses it).
func Plan(in Input, goVersion string) (Manifest, []byte, error) {
	m := Manifest{Go: goVersion, Files: map[string]string{}, SHA256: map[string]string{}}
	names := make([]string, 0, len(in.Files))
	for n := range in.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	index := string(in.Index)
	for _, n := range names {
		b := in.Files[n]
		sum := sha256.Sum256(b)
		m.Files[n] = Hashed(n, b)
		m.SHA256[n] = hex.EncodeToString(sum[:])
		index = strings.ReplaceAll(index, "{{"+n+"}}", "/assets/"+m.Files[n])
	}
	if i := strings.Index(index, "{{"); i >= 0 {
		return m, nil, fmt.Errorf("%w: index.html names an unknown asset near %q", ErrMissing, index[i:min(len(index), i+30)])
	}
	sum := sha256.Sum256([]byte(index))
	m.Index = hex.EncodeToString(sum[:])
	sum = sha256.Sum256(in.Worker)
	m.Worker = hex.EncodeToString(sum[:])
	return m, []byte(index), nil
}

// Write renders the build into out (emptied first): index.html,
// manifest.json and, for each asset, <hashed>.br and <hashed>.gz. An asset
// whose hashed name out already holds, with both compressed forms
// decompressing to its bytes, keeps them: brotli at level 11 of the wasm
// modules takes minutes, and a change to one script need not redo it.
func Write(in Input, goVersion, out string) (Manifest, error) {
	m, index, err := Plan(in, goVersion)
	if err != nil {
		return m, err
	}
	kept := map[string]packed{}
	for n, b := range in.Files {
		base := filepath.Join(out, "assets", m.Files[n])
		if p, ok := reuse(base, b); ok {
			kept[n] = p
		}
	}
	if err := os.RemoveAll(out); err != nil {
		return m, err
	}
	if err := os.MkdirAll(filepath.Join(out, "assets"), 0o755); err != nil {
		return m, err
	}
	for n, b := range in.Files {
		p, ok := kept[n]
		if !ok {
			if p.br, p.gz, err = compress(b); err != nil {
				return m, err
			}
		}
		base := filepath.Join(out, "assets", m.Files[n])
		if err := os.WriteFile(base+".br", p.br, 0o644); err != nil {
			return m, err
		}
		if err := os.WriteFile(base+".gz", p.gz, 0o644); err != nil {
			return m, err
		}
	}
	if err := os.WriteFile(filepath.Join(out, "index.html"), index, 0o644); err != nil {
		return m, err
	}
	if err := os.WriteFile(filepath.Join(out, Worker), in.Worker, 0o644); err != nil {
		return m, err
	}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, err
	}
	return m, os.WriteFile(filepath.Join(out, "manifest.json"), append(mb, '\n'), 0o644)
}

// packed is one asset's brotli and gzip forms.
type packed struct{ br, gz []byte }

// compress returns b as brotli (level 11) and gzip (level 9).
func compress(b []byte) (br, gz []byte, err error) {
	var bb, gb bytes.Buffer
	w := brotli.NewWriterLevel(&bb, brotli.BestCompression)
	if _, err := w.Write(b); err != nil {
		return nil, nil, err
	}
	if err := w.Close(); err != nil {
		return nil, nil, err
	}
	g, _ := gzip.NewWriterLevel(&gb, gzip.BestCompression)
	if _, err := g.Write(b); err != nil {
		return nil, nil, err
	}
	if err := g.Close(); err != nil {
		return nil, nil, err
	}
	return bb.Bytes(), gb.Bytes(), nil
}

// reuse returns base.br and base.gz when both exist and decompress to
// exactly plain.
func reuse(base string, plain []byte) (packed, bool) {
	var p packed
	var err error
	if p.br, err = os.ReadFile(base + ".br"); err != nil {
		return p, false
	}
	if p.gz, err = os.ReadFile(base + ".gz"); err != nil {
		return p, false
	}
	b, err := io.ReadAll(brotli.NewReader(bytes.NewReader(p.br)))
	if err != nil || !bytes.Equal(b, plain) {
		return p, false
	}
	g, err := gzip.NewReader(bytes.NewReader(p.gz))
	if err != nil {
		return p, false
	}
	if b, err = io.ReadAll(g); err != nil || !bytes.Equal(b, plain) {
		return p, false
	}
	return p, true
}
