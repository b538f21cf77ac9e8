package core_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/segue-fm/segue/core"
	tbed "github.com/segue-fm/segue/internal/testbed"
)

// TestLostIdentityDropsToken: a data directory whose device identity key
// is gone while its relay token is kept opens with a new identity and
// without the token (issued to the lost identity: the relay would wrap
// stream keys to keys this device no longer has, and it stalled on
// "cannot decrypt"), so the device says it must register again, and
// does.
func TestLostIdentityDropsToken(t *testing.T) {
	r := tbed.NewRelay(t, tbed.DefaultOptions())
	ctx := t.Context()
	dir := t.TempDir()
	opts := core.DefaultOptions().WithOrigins(r.URL).WithLogger(quiet())
	open := func() *core.Engine {
		t.Helper()
		e, err := core.Open(ctx, dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	e := open()
	tbed.Register(t, e, testUser, "laptop")
	lost := e.DeviceID()
	e.Close()
	if err := os.Remove(filepath.Join(dir, "keys", "device-identity.key")); err != nil {
		t.Fatal(err)
	}
	for range 2 { // and it stays dropped at the next open
		e = open()
		if e.DeviceID() == lost || e.Token() != "" {
			e.Close()
			t.Fatalf("device %s with token %v after its identity was lost; want a new device, no token", e.DeviceID(), e.Token() != "")
		}
		_, err := e.OpenTrack(ctx, r.Tracks[0], "low")
		e.Close()
		if !errors.Is(err, core.ErrNotRegistered) {
			t.Fatalf("OpenTrack without a token = %v, want ErrNotRegistered", err)
		}
	}
	e = open()
	defer e.Close()
	tbed.Register(t, e, testUser, "laptop again")
	if _, err := e.OpenTrack(ctx, r.Tracks[0], "low"); err != nil {
		t.Fatalf("OpenTrack after registering again: %v", err)
	}
}

// TestDamagedIdentity: a truncated, emptied or garbled identity key file
// fails Open with ErrIdentityDamaged, which says what to do, and is left
// as it was (never replaced: the device would lose its licenses).
func TestDamagedIdentity(t *testing.T) {
	opts := core.DefaultOptions().WithOrigins("http://127.0.0.1:1").WithLogger(quiet())
	for _, tc := range []struct {
		name   string
		damage func(b []byte) []byte
	}{
		{"truncated", func(b []byte) []byte { return b[:20] }},
		{"empty", func([]byte) []byte { return nil }},
		{"garbled header", func(b []byte) []byte { b[5] ^= 0xff; return b }},
		{"bad magic", func(b []byte) []byte { b[0] = 'X'; return b }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			e, err := core.Open(t.Context(), dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			e.Close()
			path := filepath.Join(dir, "keys", "device-identity.key")
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			damaged := tc.damage(b)
			if err := os.WriteFile(path, damaged, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := core.Open(t.Context(), dir, opts); !errors.Is(err, core.ErrIdentityDamaged) {
				t.Fatalf("open: %v, want ErrIdentityDamaged", err)
			}
			if after, _ := os.ReadFile(path); string(after) != string(damaged) {
				t.Fatal("the damaged identity was rewritten")
			}
		})
	}
}
