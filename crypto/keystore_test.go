package crypto

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// cheap Argon2 settings keep tests fast; the defaults are exercised once.
var cheapArgon = Argon2Params{Time: 1, Memory: 64, Threads: 1}

func TestKeyStores(t *testing.T) {
	tests := []struct {
		name string
		open func(t *testing.T) KeyStore
	}{
		{"memory", func(t *testing.T) KeyStore { return &MemoryKeyStore{} }},
		{"file-plain", func(t *testing.T) KeyStore {
			ks, err := NewFileKeyStore(t.TempDir(), DefaultFileKeyStoreOptions())
			if err != nil {
				t.Fatal(err)
			}
			return ks
		}},
		{"file-passphrase", func(t *testing.T) KeyStore {
			ks, err := NewFileKeyStore(t.TempDir(), DefaultFileKeyStoreOptions().WithPassphrase([]byte("pw")).WithArgon2(cheapArgon))
			if err != nil {
				t.Fatal(err)
			}
			return ks
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			ks := tc.open(t)
			if _, err := ks.Load(ctx, "a"); !errors.Is(err, ErrKeyNotFound) {
				t.Fatalf("load missing: %v", err)
			}
			secret := []byte("s3cret")
			for _, v := range [][]byte{secret, {}, bytes.Repeat([]byte{7}, 5000), []byte("replaced")} {
				if err := ks.Save(ctx, "a", v); err != nil {
					t.Fatal(err)
				}
				got, err := ks.Load(ctx, "a")
				if err != nil || !bytes.Equal(got, v) {
					t.Fatalf("load = %q, %v; want %q", got, err, v)
				}
				if len(got) > 0 {
					got[0] ^= 1 // the copy is the caller's
					if again, _ := ks.Load(ctx, "a"); !bytes.Equal(again, v) {
						t.Fatal("Load returned an aliased slice")
					}
				}
			}
			for _, bad := range []string{"", "../x", "a/b", ".hidden", "x y", string(make([]byte, 65))} {
				if err := ks.Save(ctx, bad, secret); !errors.Is(err, ErrBadKeyName) {
					t.Errorf("save %q: %v", bad, err)
				}
				if _, err := ks.Load(ctx, bad); !errors.Is(err, ErrBadKeyName) {
					t.Errorf("load %q: %v", bad, err)
				}
			}
			id1, err := LoadOrCreateIdentity(ctx, ks, seeded(1))
			if err != nil {
				t.Fatal(err)
			}
			id2, err := LoadOrCreateIdentity(ctx, ks, seeded(2))
			if err != nil {
				t.Fatal(err)
			}
			if id1.DeviceID() != id2.DeviceID() || !bytes.Equal(id1.HPKEPublic(), id2.HPKEPublic()) {
				t.Fatal("identity not reloaded identically")
			}
		})
	}
}

func TestFileKeyStoreOnDisk(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "keys")
	opts := DefaultFileKeyStoreOptions().WithPassphrase([]byte("correct horse")).WithArgon2(cheapArgon)
	ks, err := NewFileKeyStore(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	id, err := LoadOrCreateIdentity(ctx, ks, seeded(9))
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, IdentityKeyName+".key"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", st.Mode().Perm())
	}
	if dst, _ := os.Stat(dir); dst.Mode().Perm() != 0o700 {
		t.Fatalf("key dir mode %v", dst.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("leftover files: %v", entries)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, IdentityKeyName+".key"))
	secret, _ := id.MarshalBinary()
	if bytes.Contains(raw, secret[len(secret)-32:]) {
		t.Fatal("secret visible in protected file")
	}

	// A new process (new store instance) reloads the same identity.
	ks2, _ := NewFileKeyStore(dir, opts)
	id2, err := LoadOrCreateIdentity(ctx, ks2, seeded(10))
	if err != nil || id2.DeviceID() != id.DeviceID() {
		t.Fatalf("reload: %v, %v vs %v", err, id2, id.DeviceID())
	}

	wrong, _ := NewFileKeyStore(dir, opts.WithPassphrase([]byte("wrong")))
	plain, _ := NewFileKeyStore(dir, DefaultFileKeyStoreOptions())
	for name, s := range map[string]*FileKeyStore{"wrong": wrong, "none": plain} {
		if _, err := s.Load(ctx, IdentityKeyName); !errors.Is(err, ErrWrongPassphrase) {
			t.Errorf("%s passphrase: %v", name, err)
		}
		if _, err := LoadOrCreateIdentity(ctx, s, seeded(11)); !errors.Is(err, ErrWrongPassphrase) {
			t.Errorf("%s passphrase must not create a new identity: %v", name, err)
		}
	}
	if err := plain.Save(ctx, "plainkey", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Load(ctx, "plainkey"); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("protected store read a plain file: %v", err)
	}

	// Damage: every single-byte corruption is caught.
	path := filepath.Join(dir, IdentityKeyName+".key")
	for i := range raw {
		bad := bytes.Clone(raw)
		bad[i] ^= 0x40
		if err := os.WriteFile(path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := ks.Load(ctx, IdentityKeyName)
		if !errors.Is(err, ErrWrongPassphrase) && !errors.Is(err, ErrBadKeyFile) {
			t.Fatalf("corrupt byte %d: %v", i, err)
		}
	}
	for _, bad := range [][]byte{nil, []byte("SGK"), []byte("SGK1"), []byte("SGK1\x07"), raw[:20]} {
		if err := os.WriteFile(path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := ks.Load(ctx, IdentityKeyName); !errors.Is(err, ErrBadKeyFile) {
			t.Errorf("file %x: %v", bad, err)
		}
	}
}

func TestArgon2Options(t *testing.T) {
	for _, p := range []Argon2Params{{0, 64, 1}, {17, 64, 1}, {1, 4, 1}, {1, 64, 0}, {1, 2 << 20, 1}} {
		if _, err := NewFileKeyStore(t.TempDir(), DefaultFileKeyStoreOptions().WithPassphrase([]byte("p")).WithArgon2(p)); err == nil {
			t.Errorf("accepted argon2 %+v", p)
		}
	}
	// The default cost, once: it must work end to end.
	ks, err := NewFileKeyStore(t.TempDir(), DefaultFileKeyStoreOptions().WithPassphrase([]byte("p")))
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.Save(t.Context(), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if got, err := ks.Load(t.Context(), "k"); err != nil || string(got) != "v" {
		t.Fatalf("default argon2 round trip: %q, %v", got, err)
	}
}

func FuzzDecodeKeyFile(f *testing.F) {
	ks, err := NewFileKeyStore(f.TempDir(), DefaultFileKeyStoreOptions().WithPassphrase([]byte("pw")).WithArgon2(cheapArgon).WithRand(seeded(5)))
	if err != nil {
		f.Fatal(err)
	}
	// Seeded salt and nonce: every fuzz worker builds the same file.
	prot, err := ks.encode("k", []byte("secret"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(prot, true)
	f.Add([]byte("SGK1\x00plain secret"), false)
	f.Add([]byte("SGK1\x01"), true)
	f.Fuzz(func(t *testing.T, raw []byte, withPass bool) {
		var pass []byte
		if withPass {
			pass = []byte("pw")
		}
		_, err := decodeKeyFile(raw, "k", pass)
		// Without the passphrase nobody can make a protected file other
		// than the one sealed above open.
		if err == nil && withPass && !bytes.Equal(raw, prot) {
			t.Fatalf("forged protected file opened: %x", raw)
		}
	})
}

// raceStore is a MemoryKeyStore whose first Load of the identity answers
// ErrKeyNotFound and then stores other (another tab creating the identity
// between this one's load and save); with unreadable, every Load answers
// ErrKeyNotFound (a stored secret the store cannot read).
type raceStore struct {
	MemoryKeyStore
	other      []byte
	unreadable bool
	loads      int
}

func (s *raceStore) Load(ctx context.Context, name string) ([]byte, error) {
	s.loads++
	if name == IdentityKeyName && (s.loads == 1 || s.unreadable) {
		if s.loads == 1 {
			if err := s.MemoryKeyStore.Save(ctx, name, s.other); err != nil {
				return nil, err
			}
		}
		return nil, fmt.Errorf("%w: %s", ErrKeyNotFound, name)
	}
	return s.MemoryKeyStore.Load(ctx, name)
}

// TestLoadOrCreateIdentityRace: an identity another user of a
// KeyCreator store saved after this one's load is the one returned and
// kept. Before, the later save replaced it: two tabs opening a fresh
// browser at once each kept their own identity in memory and one in the
// store, and the tab whose identity was replaced signed in as a device
// whose keys no reload could find. A stored identity the store cannot
// read is replaced, as before.
func TestLoadOrCreateIdentityRace(t *testing.T) {
	other, err := NewIdentity(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := other.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name       string
		unreadable bool
		wantOther  bool
	}{{"saved by another meanwhile", false, true}, {"stored unreadable", true, false}} {
		t.Run(c.name, func(t *testing.T) {
			ks := &raceStore{other: raw, unreadable: c.unreadable}
			id, err := LoadOrCreateIdentity(t.Context(), ks, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			if got := id.DeviceID() == other.DeviceID(); got != c.wantOther {
				t.Fatalf("returned the other's identity: %v, want %v", got, c.wantOther)
			}
			kept, err := ks.MemoryKeyStore.Load(t.Context(), IdentityKeyName)
			if err != nil {
				t.Fatal(err)
			}
			mine, err := id.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(kept, mine) {
				t.Fatal("the store keeps another identity than the one returned")
			}
		})
	}
}
