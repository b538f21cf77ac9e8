// Package wasmbuild builds Go packages of this module as WebAssembly
// plugins (GOOS=wasip1 GOARCH=wasm -buildmode=c-shared) for tests and
// benchmarks, caching each result by a hash of its sources so a package
// compiles once until it changes.
package wasmbuild

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
)

// ErrNoModule is returned when no go.mod is found above the working
// directory.
var ErrNoModule = errors.New("wasmbuild: go.mod not found")

var mu sync.Mutex // one build at a time within a process

// Root returns the module's root directory: the nearest parent of the
// working directory holding go.mod.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", ErrNoModule
		}
		dir = up
	}
}

// Build builds the package in dir (relative to the module root, like
// "examples/eq") and returns the .wasm bytes. srcDirs lists further
// directories (relative to the root) whose files the build depends on;
// the package's own directory, go.mod and go.sum always count. The result
// is cached in cacheDir under the hash of those files and the Go version.
func Build(ctx context.Context, cacheDir, dir string, srcDirs ...string) ([]byte, error) {
	mu.Lock()
	defer mu.Unlock()
	root, err := Root()
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n", runtime.Version(), dir)
	for _, d := range append([]string{dir, "go.mod", "go.sum"}, srcDirs...) {
		if err := hashPath(h, root, d); err != nil {
			return nil, fmt.Errorf("wasmbuild: hash %s: %w", d, err)
		}
	}
	out := filepath.Join(cacheDir, strings.ReplaceAll(dir, "/", "_")+"-"+hex.EncodeToString(h.Sum(nil)[:12])+".wasm")
	if b, err := os.ReadFile(out); err == nil {
		return b, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, err
	}
	// A unique temporary name: test binaries of several packages may
	// build the same plugin at once.
	f, err := os.CreateTemp(cacheDir, filepath.Base(out)+".*.tmp")
	if err != nil {
		return nil, err
	}
	tmp := f.Name()
	f.Close()
	defer os.Remove(tmp)
	cmd := exec.CommandContext(ctx, "go", "build", "-buildmode=c-shared", "-trimpath", "-o", tmp, "./"+dir)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("wasmbuild: go build %s: %w\n%s", dir, err, msg)
	}
	if err := os.Rename(tmp, out); err != nil {
		return nil, err
	}
	return os.ReadFile(out)
}

func hashPath(h io.Writer, root, rel string) error {
	var files []string
	err := filepath.WalkDir(filepath.Join(root, rel), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && !strings.HasSuffix(p, ".wasm") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		fmt.Fprintf(h, "%s %x\n", strings.TrimPrefix(f, root), sum)
	}
	return nil
}

// CacheDir returns the directory tests cache built plugins in:
// $SEGUE_WASM_CACHE, else os.UserCacheDir()/segue-test/wasm, else a
// directory under os.TempDir().
func CacheDir() string {
	if d := os.Getenv("SEGUE_WASM_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "segue-test", "wasm")
	}
	return filepath.Join(os.TempDir(), "segue-test-wasm")
}

// ForTest is Build for tests and benchmarks: it fails tb on error.
func ForTest(tb testing.TB, dir string, srcDirs ...string) []byte {
	tb.Helper()
	b, err := Build(context.Background(), CacheDir(), dir, srcDirs...)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
