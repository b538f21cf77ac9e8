package catalog

import (
	"crypto/ed25519"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/segue-fm/segue/internal/dirhash"
	"github.com/segue-fm/segue/store/badgerstore"
)

func quietDD() DataDirOptions {
	return DefaultDataDirOptions().WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// initDir initialises a data directory with a published release in it and
// returns its path and catalog public key.
func initDir(t *testing.T) (string, ed25519.PublicKey) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	d, err := OpenDataDirWith(t.Context(), dir, quietDD().WithInit(InitNew))
	if err != nil {
		t.Fatal(err)
	}
	if !d.Created {
		t.Fatal("InitNew did not report Created")
	}
	r, _ := newFixture(6).release(t, d.Catalog, "A", 1)
	if err := d.Catalog.Publish(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	pub := d.Signer.Public().(ed25519.PublicKey)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, pub
}

func TestOpenDataDirModes(t *testing.T) {
	ctx := t.Context()
	absent := filepath.Join(t.TempDir(), "absent")
	if _, err := OpenDataDirWith(ctx, absent, quietDD()); !errors.Is(err, ErrNotInitialized) {
		t.Fatalf("absent dir, OpenExisting: %v, want ErrNotInitialized", err)
	}
	if _, err := os.Stat(absent); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("refused open created the directory: %v", err)
	}
	empty := t.TempDir()
	if _, err := OpenDataDirWith(ctx, empty, quietDD()); !errors.Is(err, ErrNotInitialized) {
		t.Fatalf("empty dir, OpenExisting: %v, want ErrNotInitialized", err)
	}
	dir, pub := initDir(t)
	if _, err := OpenDataDirWith(ctx, dir, quietDD().WithInit(InitNew)); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("InitNew on a data dir: %v, want ErrNotEmpty", err)
	}
	for _, m := range []InitMode{OpenExisting, InitIfEmpty} {
		d, err := OpenDataDirWith(ctx, dir, quietDD().WithInit(m))
		if err != nil {
			t.Fatalf("mode %d: %v", m, err)
		}
		if d.Created || !d.Signer.Public().(ed25519.PublicKey).Equal(pub) {
			t.Fatalf("mode %d: created %v, key changed %v", m, d.Created, !d.Signer.Public().(ed25519.PublicKey).Equal(pub))
		}
		d.Close()
	}
}

// TestOpenDataDirRefusesDamage damages an initialised directory and checks
// the open fails naming the file, regenerates nothing and writes nothing.
func TestOpenDataDirRefusesDamage(t *testing.T) {
	other, _ := initDir(t)
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string) string // returns the file the error must name
		want   error
		// opened: the store id is compared after Badger opened the store,
		// which may rewrite its own files.
		opened bool
	}{
		{"missing MANIFEST", func(t *testing.T, dir string) string {
			return remove(t, filepath.Join(dir, "db", "MANIFEST"))
		}, ErrDamagedDataDir, false},
		{"MANIFEST cut short", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "db", "MANIFEST")
			st, _ := os.Stat(p)
			if err := os.Truncate(p, st.Size()/2); err != nil {
				t.Fatal(err)
			}
			return p
		}, badgerstore.ErrDamaged, false},
		{"missing signing key", func(t *testing.T, dir string) string {
			return remove(t, filepath.Join(dir, "keys", SigningKeyName+".key"))
		}, ErrDamagedDataDir, false},
		{"missing at-rest key", func(t *testing.T, dir string) string {
			return remove(t, filepath.Join(dir, "keys", AtRestKeyName+".key"))
		}, ErrDamagedDataDir, false},
		{"garbage key file", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "keys", SigningKeyName+".key")
			if err := os.WriteFile(p, []byte("garbage garbage garbage garbage garbage"), 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}, ErrDamagedDataDir, false},
		{"key of another directory", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "keys", AtRestKeyName+".key")
			b, err := os.ReadFile(filepath.Join(other, "keys", AtRestKeyName+".key"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}, ErrDamagedDataDir, false},
		{"store of another directory", func(t *testing.T, dir string) string {
			if err := os.RemoveAll(filepath.Join(dir, "db")); err != nil {
				t.Fatal(err)
			}
			if err := os.CopyFS(filepath.Join(dir, "db"), os.DirFS(filepath.Join(other, "db"))); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(dir, "db")
		}, ErrDamagedDataDir, true},
		{"garbage identity file", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, IdentityFile)
			if err := os.WriteFile(p, []byte("{"), 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}, ErrDamagedDataDir, false},
		{"no identity file and no key", func(t *testing.T, dir string) string {
			remove(t, filepath.Join(dir, IdentityFile))
			return remove(t, filepath.Join(dir, "keys", SigningKeyName+".key"))
		}, ErrDamagedDataDir, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir, _ := initDir(t)
			file := tc.damage(t, dir)
			before, err := dirhash.Sum(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range []InitMode{OpenExisting, InitIfEmpty} {
				d, err := OpenDataDirWith(t.Context(), dir, quietDD().WithInit(m))
				if err == nil {
					d.Close()
					t.Fatalf("mode %d: damaged directory opened", m)
				}
				if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), file) {
					t.Fatalf("mode %d: err = %v, want %v naming %s", m, err, tc.want, file)
				}
			}
			if after, err := dirhash.Sum(dir); !tc.opened && (err != nil || after != before) {
				t.Fatalf("the refused open changed the directory (%v)", err)
			}
		})
	}
}

// TestOpenDataDirAdoptsOlderLayout opens a directory made before the
// identity file existed: it keeps its keys and gets an identity file.
func TestOpenDataDirAdoptsOlderLayout(t *testing.T) {
	dir, pub := initDir(t)
	remove(t, filepath.Join(dir, IdentityFile))
	d, err := OpenDataDirWith(t.Context(), dir, quietDD())
	if err != nil {
		t.Fatal(err)
	}
	if !d.Signer.Public().(ed25519.PublicKey).Equal(pub) {
		t.Fatal("keys changed")
	}
	d.Close()
	if _, ok, err := readIdentity(dir); !ok || err != nil {
		t.Fatalf("identity after adoption: %v %v", ok, err)
	}
}

func remove(t *testing.T, p string) string {
	t.Helper()
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestOpenDataDirStoreCacheBounds: a store cache outside
// 1…MaxStoreCacheMiB fails the open with badgerstore.ErrBadOptions,
// including sizes whose byte count would wrap, and the store opens with
// one at the bound's edges.
func TestOpenDataDirStoreCacheBounds(t *testing.T) {
	ctx := t.Context()
	dir, _ := initDir(t)
	for _, mib := range []int64{-1, MaxStoreCacheMiB + 1, 1 << 50, 1 << 62} {
		if d, err := OpenDataDirWith(ctx, dir, quietDD().WithStoreCache(mib)); !errors.Is(err, badgerstore.ErrBadOptions) {
			if err == nil {
				d.Close()
			}
			t.Fatalf("store cache %d MiB: %v, want ErrBadOptions", mib, err)
		}
	}
	for _, mib := range []int64{1, DefaultStoreCacheMiB} {
		d, err := OpenDataDirWith(ctx, dir, quietDD().WithStoreCache(mib))
		if err != nil {
			t.Fatalf("store cache %d MiB: %v", mib, err)
		}
		d.Close()
	}
}

// TestDataDirTempDir: DataDir.TempDir is DIR/tmp; what a process left
// there stays while a process has the directory open (a second open is
// refused with badgerstore.ErrLocked and removes nothing) and is removed
// by the next open, as after a kill -9.
func TestDataDirTempDir(t *testing.T) {
	ctx := t.Context()
	dir, _ := initDir(t)
	d, err := OpenDataDirWith(ctx, dir, quietDD())
	if err != nil {
		t.Fatal(err)
	}
	tmp, err := d.TempDir()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, TempDirName); tmp != want {
		t.Fatalf("TempDir %s, want %s", tmp, want)
	}
	work, err := os.MkdirTemp(tmp, "segue-ingest-")
	if err != nil {
		t.Fatal(err)
	}
	left := filepath.Join(work, "master-1.wav")
	if err := os.WriteFile(left, []byte("RIFF"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenDataDirWith(ctx, dir, quietDD()); !errors.Is(err, badgerstore.ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	if _, err := os.Stat(left); err != nil {
		t.Fatalf("a refused open touched the live process's files: %v", err)
	}
	d.Close() // as if killed: nothing removed the file
	d, err = OpenDataDirWith(ctx, dir, quietDD())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if entries, err := os.ReadDir(tmp); err != nil || len(entries) != 0 {
		t.Fatalf("after reopening, %s holds %v (%v); want it empty", tmp, entries, err)
	}
}

// TestOpenDataDirInterruptedInit: an initialisation killed part-way
// (`segue relay --init` SIGKILLed while it wrote its keys or store) left a
// directory that both `segue relay` ("not a segue data directory, or
// damaged") and `segue relay --init` ("not empty") refused, so the relay
// never started without removing files by hand. Each state a kill can
// leave behind InitMarkerFile is now taken as empty: OpenExisting refuses
// it with ErrNotInitialized writing nothing, InitNew and InitIfEmpty
// initialise it again. A marker left beside IdentityFile (killed just
// after writing it) is a complete directory, opened with its keys.
func TestOpenDataDirInterruptedInit(t *testing.T) {
	ctx := t.Context()
	// complete returns a freshly initialised directory (no marker left).
	complete := func(t *testing.T) string {
		t.Helper()
		dir := filepath.Join(t.TempDir(), "data")
		d, err := OpenDataDirWith(ctx, dir, quietDD().WithInit(InitNew))
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, InitMarkerFile)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a finished initialisation left its marker: %v", err)
		}
		return dir
	}
	// interrupted is complete less the named paths, plus the marker.
	interrupted := func(remove ...string) func(t *testing.T) string {
		return func(t *testing.T) string {
			t.Helper()
			dir := complete(t)
			for _, p := range append([]string{IdentityFile}, remove...) {
				if err := os.RemoveAll(filepath.Join(dir, p)); err != nil {
					t.Fatal(err)
				}
			}
			mark(t, dir)
			return dir
		}
	}
	cases := []struct {
		name  string
		state func(t *testing.T) string
	}{
		{"marker only", func(t *testing.T) string {
			dir := t.TempDir()
			mark(t, dir)
			return dir
		}},
		{"signing key only", interrupted("db", "keys/"+AtRestKeyName+".key")},
		{"both keys, no store", interrupted("db")},
		{"store without MANIFEST", interrupted("db/MANIFEST")},
		{"store, no identity file", interrupted()},
		{"identity file half written", func(t *testing.T) string {
			dir := interrupted()(t)
			if err := os.WriteFile(filepath.Join(dir, IdentityFile+".tmp"), []byte(`{"format":`), 0o600); err != nil {
				t.Fatal(err)
			}
			return dir
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.state(t)
			before := dirSum(t, dir)
			if _, err := OpenDataDirWith(ctx, dir, quietDD()); !errors.Is(err, ErrNotInitialized) || !strings.Contains(err.Error(), "interrupted") {
				t.Fatalf("OpenExisting: %v, want ErrNotInitialized naming the interrupted initialisation", err)
			}
			if dirSum(t, dir) != before {
				t.Fatal("the refused open changed the directory")
			}
			for _, m := range []InitMode{InitNew, InitIfEmpty} {
				if m == InitIfEmpty {
					dir = tc.state(t)
				}
				d, err := OpenDataDirWith(ctx, dir, quietDD().WithInit(m))
				if err != nil {
					t.Fatalf("mode %d: %v", m, err)
				}
				pub := d.Signer.Public().(ed25519.PublicKey)
				if !d.Created {
					t.Fatalf("mode %d: not initialised again", m)
				}
				d.Close()
				if _, err := os.Stat(filepath.Join(dir, InitMarkerFile)); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("mode %d: marker left: %v", m, err)
				}
				d, err = OpenDataDirWith(ctx, dir, quietDD())
				if err != nil {
					t.Fatalf("mode %d: reopen: %v", m, err)
				}
				if !d.Signer.Public().(ed25519.PublicKey).Equal(pub) {
					t.Fatalf("mode %d: keys changed at reopen", m)
				}
				d.Close()
			}
		})
	}
	t.Run("marker beside the identity file", func(t *testing.T) {
		dir, pub := initDir(t)
		mark(t, dir)
		d, err := OpenDataDirWith(ctx, dir, quietDD())
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if d.Created || !d.Signer.Public().(ed25519.PublicKey).Equal(pub) {
			t.Fatalf("created %v, key changed %v", d.Created, !d.Signer.Public().(ed25519.PublicKey).Equal(pub))
		}
		if _, err := os.Stat(filepath.Join(dir, InitMarkerFile)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("marker left: %v", err)
		}
	})
}

// mark writes InitMarkerFile into dir.
func mark(t *testing.T, dir string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, InitMarkerFile), nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

// dirSum is the dirhash of dir.
func dirSum(t *testing.T, dir string) string {
	t.Helper()
	s, err := dirhash.Sum(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
