package relay

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/store"
)

// cachedAccounts returns accounts over a memory store with one device of
// "ada" registered, its token, the store and a settable clock.
func cachedAccounts(t *testing.T, entries int) (*accounts, store.Store, string, Device, *time.Time) {
	t.Helper()
	ctx := context.Background()
	clock := time.Unix(2_000_000_000, 0)
	o := DefaultOptions("").WithArgonParams(FastArgonParams).WithAuthCache(entries).
		WithTokenTTL(time.Hour).WithClock(func() time.Time { return clock })
	st := store.NewMemory()
	a := newAccounts(st, o)
	t.Cleanup(a.cache.close)
	if err := a.create(ctx, "ada", "right password", "", "10.0.0.1", true); err != nil {
		t.Fatal(err)
	}
	id, err := crypto.NewIdentity(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, hp := id.SignPublic(), id.HPKEPublic()
	req := &api.RegisterRequest{Username: "ada", Password: "right password", Name: "phone",
		SignPub: sp, HPKEPub: hp, Issued: clock.Unix(), Sig: id.Sign(crypto.DeviceProofMessage("ada", "phone", sp, hp, clock))}
	dev, tok, _, err := a.register(ctx, req, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return a, st, tok, dev, &clock
}

// warm authenticates tok until the cache holds it (ristretto admits
// asynchronously) and fails the test if it never does.
func warm(t *testing.T, a *accounts, tok string) {
	t.Helper()
	for range 100 {
		if _, err := a.authenticate(context.Background(), tok); err != nil {
			t.Fatalf("authenticate: %v", err)
		}
		a.cache.c.Wait()
		if _, ok := a.cache.get(sha256Of(tok)); ok {
			return
		}
	}
	t.Fatal("token never cached")
}

// TestAuthCacheServesAndInvalidates: a warm token is answered from memory
// (it keeps working after its device record vanishes behind the cache's
// back), and invalidate, which every device or token writer calls after
// committing, makes the next request read the store and fail.
func TestAuthCacheServesAndInvalidates(t *testing.T) {
	ctx := context.Background()
	a, st, tok, dev, _ := cachedAccounts(t, 1000)
	warm(t, a, tok)
	if err := st.Update(ctx, func(tx store.Txn) error { return tx.Delete(DeviceKey(dev.ID)) }); err != nil {
		t.Fatal(err)
	}
	got, err := a.authenticate(ctx, tok)
	if err != nil || got.Device.ID != dev.ID {
		t.Fatalf("cached authenticate = %v, %v; want the device from memory", got, err)
	}
	a.cache.invalidate()
	if _, err := a.authenticate(ctx, tok); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("after invalidate: %v, want ErrUnauthorized", err)
	}
}

// TestAuthCacheExpiry: a cached token stops working the moment the relay's
// clock passes its expiry, without any invalidation.
func TestAuthCacheExpiry(t *testing.T) {
	a, _, tok, _, clock := cachedAccounts(t, 1000)
	warm(t, a, tok)
	*clock = clock.Add(time.Hour)
	if _, err := a.authenticate(context.Background(), tok); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("expired cached token: %v, want ErrUnauthorized", err)
	}
}

// TestAuthCacheStaleFill: a resolution read under an older generation (a
// read that raced with a deletion) is never stored.
func TestAuthCacheStaleFill(t *testing.T) {
	c := newAuthCache(1000)
	defer c.close()
	sum := sha256Of("token")
	gen := c.generation()
	c.invalidate()
	s := session{Device: Device{ID: "d"}, Expires: time.Now().Add(time.Hour)}
	if got := c.fill(sum, s, gen, time.Hour); got.Device.ID != "d" {
		t.Fatalf("fill returned %v", got)
	}
	c.c.Wait()
	if _, ok := c.get(sum); ok {
		t.Fatal("a fill from before the invalidation was served")
	}
	c.fill(sum, s, c.generation(), time.Hour)
	c.c.Wait()
	if got, ok := c.get(sum); !ok || got.Device.ID != "d" {
		t.Fatalf("current fill: %v %v, want served", got, ok)
	}
	other := sum
	other[31] ^= 1 // same cache key (first 8 bytes), different token
	if _, ok := c.get(other); ok {
		t.Fatal("a different token hash was served")
	}
}

// TestAuthCacheOff: with WithAuthCache(0) every request reads the store,
// so a device record deleted behind the cache's back fails at once.
func TestAuthCacheOff(t *testing.T) {
	ctx := context.Background()
	a, st, tok, dev, _ := cachedAccounts(t, 0)
	if _, err := a.authenticate(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := st.Update(ctx, func(tx store.Txn) error { return tx.Delete(DeviceKey(dev.ID)) }); err != nil {
		t.Fatal(err)
	}
	if _, err := a.authenticate(ctx, tok); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("uncached, device deleted: %v, want ErrUnauthorized", err)
	}
}

func sha256Of(s string) [32]byte { return sha256.Sum256([]byte(s)) }
