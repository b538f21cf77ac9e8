// Package storetest is the conformance suite every store.Store backend
// must pass. A backend's test calls Run with a function that opens a
// fresh, empty store:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			s, err := badgerstore.Open(t.Context(), t.TempDir(), badgerstore.DefaultOptions())
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		})
//	}
//
// The suite closes every store it opens.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/segue-fm/segue/store"
)

// Run runs every conformance test as a subtest of t. open must return a
// new empty store (apart from the schema key) each time it is called.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"GetSetDelete", testGetSetDelete},
		{"InvalidKeys", testInvalidKeys},
		{"IterateOrder", testIterateOrder},
		{"IterateStop", testIterateStop},
		{"IterateWritesDuringIteration", testIterateWrites},
		{"UpdateRollback", testUpdateRollback},
		{"TxnReadYourWrites", testTxnReadYourWrites},
		{"TxnAfterUpdate", testTxnAfterUpdate},
		{"ConcurrentWriters", testConcurrentWriters},
		{"ValuesNotAliased", testNotAliased},
		{"EmptyValue", testEmptyValue},
		{"LargeValues", testLargeValues},
		{"ContextCancel", testContextCancel},
		{"Schema", testSchema},
		{"RandomAgainstModel", testRandomModel},
		{"Closed", testClosed},
		{"ValueSize", testValueSize},
		{"IterateFrom", testIterateFrom},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

func mustSet(t *testing.T, s store.Store, k, v string) {
	t.Helper()
	if err := s.Set(t.Context(), []byte(k), []byte(v)); err != nil {
		t.Fatalf("set %q: %v", k, err)
	}
}

func wantValue(t *testing.T, s store.Store, k, want string) {
	t.Helper()
	got, err := s.Get(t.Context(), []byte(k))
	if err != nil {
		t.Fatalf("get %q: %v", k, err)
	}
	if string(got) != want {
		t.Fatalf("get %q = %q, want %q", k, got, want)
	}
}

func wantMissing(t *testing.T, s store.Store, k string) {
	t.Helper()
	if v, err := s.Get(t.Context(), []byte(k)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get %q = %q, %v; want ErrNotFound", k, v, err)
	}
}

// collect returns "key=value" strings for prefix, excluding the schema key.
func collect(t *testing.T, iter func(prefix []byte, reverse bool, fn func(k, v []byte) error) error, prefix string, reverse bool) []string {
	t.Helper()
	var out []string
	err := iter([]byte(prefix), reverse, func(k, v []byte) error {
		if !bytes.Equal(k, store.SchemaKey) {
			out = append(out, string(k)+"="+string(v))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("iterate %q reverse=%v: %v", prefix, reverse, err)
	}
	return out
}

func storeIter(ctx context.Context, s store.Store) func([]byte, bool, func(k, v []byte) error) error {
	return func(p []byte, r bool, fn func(k, v []byte) error) error { return s.Iterate(ctx, p, r, fn) }
}

func testGetSetDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	steps := []struct {
		op, key, val string
		want         string // "" with missing=true means ErrNotFound
		missing      bool
	}{
		{op: "get", key: "a", missing: true},
		{op: "set", key: "a", val: "1"},
		{op: "get", key: "a", want: "1"},
		{op: "set", key: "a", val: "2"},
		{op: "get", key: "a", want: "2"},
		{op: "set", key: "ab", val: "3"},
		{op: "get", key: "ab", want: "3"},
		{op: "del", key: "a"},
		{op: "get", key: "a", missing: true},
		{op: "get", key: "ab", want: "3"},
		{op: "del", key: "never-there"},
		{op: "get", key: "\x00", missing: true},
		{op: "set", key: "\x00\xff", val: "bin"},
		{op: "get", key: "\x00\xff", want: "bin"},
	}
	for i, st := range steps {
		switch st.op {
		case "set":
			if err := s.Set(ctx, []byte(st.key), []byte(st.val)); err != nil {
				t.Fatalf("step %d set: %v", i, err)
			}
		case "del":
			if err := s.Delete(ctx, []byte(st.key)); err != nil {
				t.Fatalf("step %d delete: %v", i, err)
			}
		case "get":
			if st.missing {
				wantMissing(t, s, st.key)
			} else {
				wantValue(t, s, st.key, st.want)
			}
		}
	}
}

func testInvalidKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, k := range [][]byte{nil, {}, bytes.Repeat([]byte("k"), store.MaxKeySize+1), []byte("!badger!x")} {
		if err := s.Set(ctx, k, []byte("v")); !errors.Is(err, store.ErrInvalidKey) {
			t.Errorf("set key of %d bytes: %v, want ErrInvalidKey", len(k), err)
		}
		if err := s.Delete(ctx, k); !errors.Is(err, store.ErrInvalidKey) {
			t.Errorf("delete key of %d bytes: %v, want ErrInvalidKey", len(k), err)
		}
	}
	long := bytes.Repeat([]byte("k"), store.MaxKeySize)
	if err := s.Set(ctx, long, []byte("v")); err != nil {
		t.Fatalf("set key of MaxKeySize bytes: %v", err)
	}
	wantValue(t, s, string(long), "v")
}

// orderKeys exercise byte order, 0x00 and 0xff edges and prefix ends.
var orderKeys = []string{
	"a", "a\x00", "a/1", "a/2", "a/10", "a\xfe", "a\xff", "a\xff\x00", "a\xff\xff", "a\xff\xff\xff",
	"b", "b/x", "\xff", "\xff\x00", "\xff\xff", "\xff\xff\x01", "\x00", "\x01\xff",
}

func testIterateOrder(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, k := range orderKeys {
		mustSet(t, s, k, "v"+k)
	}
	sorted := slices.Clone(orderKeys)
	slices.Sort(sorted)
	for _, prefix := range []string{"", "a", "a/", "a\xff", "a\xff\xff", "b", "\xff", "\xff\xff", "c", "\x00", "a/10"} {
		var want []string
		for _, k := range sorted {
			if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
				want = append(want, k+"=v"+k)
			}
		}
		for _, reverse := range []bool{false, true} {
			w := slices.Clone(want)
			if reverse {
				slices.Reverse(w)
			}
			if got := collect(t, storeIter(ctx, s), prefix, reverse); !slices.Equal(got, w) {
				t.Errorf("prefix %q reverse=%v:\n got %q\nwant %q", prefix, reverse, got, w)
			}
			err := s.Update(ctx, func(tx store.Txn) error {
				if got := collect(t, tx.Iterate, prefix, reverse); !slices.Equal(got, w) {
					t.Errorf("txn prefix %q reverse=%v:\n got %q\nwant %q", prefix, reverse, got, w)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
}

func testIterateStop(t *testing.T, s store.Store) {
	ctx := t.Context()
	for i := range 10 {
		mustSet(t, s, fmt.Sprintf("k/%02d", i), "v")
	}
	boom := errors.New("boom")
	tests := []struct {
		name    string
		stopAt  int
		ret     error
		wantErr error
		reverse bool
	}{
		{"stop", 3, store.ErrStop, nil, false},
		{"stop-reverse", 3, store.ErrStop, nil, true},
		{"wrapped-stop", 5, fmt.Errorf("done: %w", store.ErrStop), nil, false},
		{"error", 2, boom, boom, false},
		{"error-reverse", 2, boom, boom, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check := func(iter func([]byte, bool, func(k, v []byte) error) error) {
				n := 0
				err := iter([]byte("k/"), tc.reverse, func(k, v []byte) error {
					n++
					if n == tc.stopAt {
						return tc.ret
					}
					return nil
				})
				if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
					t.Errorf("err = %v, want %v", err, tc.wantErr)
				}
				if n != tc.stopAt {
					t.Errorf("callback ran %d times, want %d", n, tc.stopAt)
				}
			}
			check(storeIter(ctx, s))
			err := s.Update(ctx, func(tx store.Txn) error { check(tx.Iterate); return nil })
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func testIterateWrites(t *testing.T, s store.Store) {
	ctx := t.Context()
	for i := range 5 {
		mustSet(t, s, fmt.Sprintf("w/%d", i), "old")
	}
	n := 0
	err := s.Iterate(ctx, []byte("w/"), false, func(k, v []byte) error {
		n++
		if string(v) != "old" {
			t.Errorf("%q = %q during iteration, want old", k, v)
		}
		return s.Set(ctx, k, []byte("new"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Fatalf("visited %d keys, want 5", n)
	}
	for i := range 5 {
		wantValue(t, s, fmt.Sprintf("w/%d", i), "new")
	}
}

func testUpdateRollback(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustSet(t, s, "keep", "orig")
	mustSet(t, s, "gone", "orig")
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx store.Txn) error {
		for i := range 100 {
			if err := tx.Set([]byte(fmt.Sprintf("new/%03d", i)), []byte("x")); err != nil {
				return err
			}
		}
		if err := tx.Set([]byte("keep"), []byte("changed")); err != nil {
			return err
		}
		if err := tx.Delete([]byte("gone")); err != nil {
			return err
		}
		return fmt.Errorf("fail late: %w", boom)
	})
	if !errors.Is(err, boom) {
		t.Fatalf("update err = %v, want boom", err)
	}
	wantValue(t, s, "keep", "orig")
	wantValue(t, s, "gone", "orig")
	if got := collect(t, storeIter(ctx, s), "new/", false); len(got) != 0 {
		t.Fatalf("rolled-back keys visible: %q", got)
	}
}

func testTxnReadYourWrites(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustSet(t, s, "t/a", "1")
	mustSet(t, s, "t/b", "2")
	mustSet(t, s, "t/c", "3")
	err := s.Update(ctx, func(tx store.Txn) error {
		steps := []struct {
			op, key, val string
		}{
			{"set", "t/b", "22"},
			{"set", "t/d", "4"},
			{"del", "t/c", ""},
			{"set", "t/0", "0"},
			{"del", "t/0", ""},
			{"del", "t/a", ""},
			{"set", "t/a", "11"},
		}
		for _, st := range steps {
			var err error
			if st.op == "set" {
				err = tx.Set([]byte(st.key), []byte(st.val))
			} else {
				err = tx.Delete([]byte(st.key))
			}
			if err != nil {
				return err
			}
		}
		for k, want := range map[string]string{"t/a": "11", "t/b": "22", "t/d": "4"} {
			got, err := tx.Get([]byte(k))
			if err != nil || string(got) != want {
				t.Errorf("txn get %q = %q, %v; want %q", k, got, err, want)
			}
		}
		for _, k := range []string{"t/c", "t/0"} {
			if _, err := tx.Get([]byte(k)); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("txn get deleted %q: %v, want ErrNotFound", k, err)
			}
		}
		want := []string{"t/a=11", "t/b=22", "t/d=4"}
		if got := collect(t, tx.Iterate, "t/", false); !slices.Equal(got, want) {
			t.Errorf("txn iterate = %q, want %q", got, want)
		}
		slices.Reverse(want)
		if got := collect(t, tx.Iterate, "t/", true); !slices.Equal(got, want) {
			t.Errorf("txn reverse iterate = %q, want %q", got, want)
		}
		// Not visible outside before commit.
		wantValue(t, s, "t/b", "2")
		wantMissing(t, s, "t/d")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"t/a=11", "t/b=22", "t/d=4"}
	if got := collect(t, storeIter(ctx, s), "t/", false); !slices.Equal(got, want) {
		t.Fatalf("after commit = %q, want %q", got, want)
	}
}

func testTxnAfterUpdate(t *testing.T, s store.Store) {
	var leaked store.Txn
	if err := s.Update(t.Context(), func(tx store.Txn) error { leaked = tx; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := leaked.Set([]byte("late"), []byte("x")); !errors.Is(err, store.ErrTxnDone) {
		t.Errorf("set after update: %v, want ErrTxnDone", err)
	}
	if _, err := leaked.Get([]byte("late")); !errors.Is(err, store.ErrTxnDone) {
		t.Errorf("get after update: %v, want ErrTxnDone", err)
	}
	if err := leaked.Delete([]byte("late")); !errors.Is(err, store.ErrTxnDone) {
		t.Errorf("delete after update: %v, want ErrTxnDone", err)
	}
	if err := leaked.Iterate(nil, false, func(k, v []byte) error { return nil }); !errors.Is(err, store.ErrTxnDone) {
		t.Errorf("iterate after update: %v, want ErrTxnDone", err)
	}
	wantMissing(t, s, "late")
}

// testConcurrentWriters runs read-modify-write increments of shared
// counters from several goroutines: with serializable transactions no
// increment is lost.
func testConcurrentWriters(t *testing.T, s store.Store) {
	ctx := t.Context()
	const workers, perWorker, counters = 8, 25, 3
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				key := store.Key("ctr", fmt.Sprint((w+i)%counters))
				err := s.Update(ctx, func(tx store.Txn) error {
					var n uint64
					raw, err := tx.Get(key)
					switch {
					case errors.Is(err, store.ErrNotFound):
					case err != nil:
						return err
					default:
						if n, err = store.Uint64(raw); err != nil {
							return err
						}
					}
					if err := tx.Set(key, []byte(store.U64(n+1))); err != nil {
						return err
					}
					return tx.Set(store.Key("own", fmt.Sprint(w), fmt.Sprint(i)), []byte("x"))
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var total uint64
	for c := range counters {
		raw, err := s.Get(ctx, store.Key("ctr", fmt.Sprint(c)))
		if err != nil {
			t.Fatal(err)
		}
		n, err := store.Uint64(raw)
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
	if total != workers*perWorker {
		t.Fatalf("counters sum to %d, want %d (lost updates)", total, workers*perWorker)
	}
	if got := collect(t, storeIter(ctx, s), "own/", false); len(got) != workers*perWorker {
		t.Fatalf("%d own keys, want %d", len(got), workers*perWorker)
	}
}

func testNotAliased(t *testing.T, s store.Store) {
	ctx := t.Context()
	k, v := []byte("alias"), []byte("value")
	if err := s.Set(ctx, k, v); err != nil {
		t.Fatal(err)
	}
	v[0], k[0] = 'X', 'X'
	wantValue(t, s, "alias", "value")
	got, err := s.Get(ctx, []byte("alias"))
	if err != nil {
		t.Fatal(err)
	}
	got[0] = 'Y'
	wantValue(t, s, "alias", "value")

	tk, tv := []byte("alias2"), []byte("inside")
	err = s.Update(ctx, func(tx store.Txn) error {
		if err := tx.Set(tk, tv); err != nil {
			return err
		}
		tk[0], tv[0] = 'X', 'X'
		g, err := tx.Get([]byte("alias2"))
		if err != nil {
			return err
		}
		if string(g) != "inside" {
			t.Errorf("txn get after caller mutation = %q", g)
		}
		g[0] = 'Z'
		g2, err := tx.Get([]byte("alias2"))
		if err != nil {
			return err
		}
		if string(g2) != "inside" {
			t.Errorf("txn get after result mutation = %q", g2)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantValue(t, s, "alias2", "inside")
	wantMissing(t, s, "Xlias2")
}

func testEmptyValue(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, v := range [][]byte{nil, {}} {
		if err := s.Set(ctx, []byte("empty"), v); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, []byte("empty"))
		if err != nil || len(got) != 0 {
			t.Fatalf("get empty = %q, %v; want present and empty", got, err)
		}
		if got := collect(t, storeIter(ctx, s), "empty", false); !slices.Equal(got, []string{"empty="}) {
			t.Fatalf("iterate = %q", got)
		}
	}
}

func testLargeValues(t *testing.T, s store.Store) {
	ctx := t.Context()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{1 << 20, 1<<20 + 1, 3 << 20} {
		v := make([]byte, size)
		for i := range v {
			v[i] = byte(rng.Uint32())
		}
		k := []byte(fmt.Sprintf("big/%d", size))
		if err := s.Set(ctx, k, v); err != nil {
			t.Fatalf("set %d bytes: %v", size, err)
		}
		got, err := s.Get(ctx, k)
		if err != nil || !bytes.Equal(got, v) {
			t.Fatalf("get %d bytes: equal=%v err=%v", size, bytes.Equal(got, v), err)
		}
	}
	n := 0
	err := s.Iterate(ctx, []byte("big/"), false, func(k, v []byte) error {
		n++
		if len(v) < 1<<20 {
			t.Errorf("%q has %d bytes", k, len(v))
		}
		return nil
	})
	if err != nil || n != 3 {
		t.Fatalf("iterate big: n=%d err=%v", n, err)
	}
}

func testContextCancel(t *testing.T, s store.Store) {
	for i := range 1000 {
		mustSet(t, s, fmt.Sprintf("c/%04d", i), "v")
	}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Get(cancelled, []byte("c/0001")); !errors.Is(err, context.Canceled) {
		t.Errorf("get: %v", err)
	}
	if err := s.Set(cancelled, []byte("c/new"), []byte("v")); !errors.Is(err, context.Canceled) {
		t.Errorf("set: %v", err)
	}
	if err := s.Delete(cancelled, []byte("c/0001")); !errors.Is(err, context.Canceled) {
		t.Errorf("delete: %v", err)
	}
	if err := s.Iterate(cancelled, []byte("c/"), false, func(k, v []byte) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("iterate: %v", err)
	}
	wantMissing(t, s, "c/new")
	wantValue(t, s, "c/0001", "v")

	// Cancelled during fn: nothing is committed.
	ctx, cancel := context.WithCancel(t.Context())
	err := s.Update(ctx, func(tx store.Txn) error {
		if err := tx.Set([]byte("c/during"), []byte("v")); err != nil {
			return err
		}
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("update cancelled during fn: %v", err)
	}
	wantMissing(t, s, "c/during")

	// Cancelled mid-iteration: the iteration ends with the context error.
	ctx, cancel = context.WithCancel(t.Context())
	defer cancel()
	n := 0
	err = s.Iterate(ctx, []byte("c/"), false, func(k, v []byte) error {
		n++
		if n == 10 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || n >= 1000 {
		t.Errorf("iterate cancelled after 10: n=%d err=%v", n, err)
	}
}

func testSchema(t *testing.T, s store.Store) {
	ctx := t.Context()
	if err := store.CheckSchema(ctx, s); err != nil {
		t.Fatalf("check fresh: %v", err)
	}
	raw, err := s.Get(ctx, store.SchemaKey)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := store.Uint32(raw); err != nil || v != store.SchemaVersion {
		t.Fatalf("schema = %d, %v; want %d", v, err, store.SchemaVersion)
	}
	if err := store.CheckSchema(ctx, s); err != nil {
		t.Fatalf("check again: %v", err)
	}
	tests := []struct {
		name    string
		stored  []byte
		steps   map[uint32]store.Migration
		wantErr error
		want    uint32
	}{
		{"too-new", []byte(store.U32(store.SchemaVersion + 1)), nil, store.ErrSchemaTooNew, store.SchemaVersion + 1},
		{"much-too-new", []byte(store.U32(1 << 31)), nil, store.ErrSchemaTooNew, 1 << 31},
		{"malformed", []byte{1, 2}, nil, store.ErrBadSchema, 0},
		{"old-no-migration", []byte(store.U32(0)), nil, store.ErrSchemaTooOld, 0},
		{"version-1-upgraded", []byte(store.U32(1)), nil, nil, store.SchemaVersion},
		{"old-migrated", []byte(store.U32(0)), map[uint32]store.Migration{
			0: func(tx store.Txn, from uint32) error { return tx.Set([]byte("migrated"), []byte(fmt.Sprint(from))) },
		}, nil, store.SchemaVersion},
		{"migration-fails", []byte(store.U32(0)), map[uint32]store.Migration{
			0: func(tx store.Txn, from uint32) error {
				if err := tx.Set([]byte("half"), []byte("x")); err != nil {
					return err
				}
				return errors.New("cannot")
			},
		}, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Set(ctx, store.SchemaKey, tc.stored); err != nil {
				t.Fatal(err)
			}
			err := store.Migrate(ctx, s, tc.steps)
			switch {
			case tc.name == "migration-fails":
				if err == nil {
					t.Fatal("failing migration succeeded")
				}
				wantMissing(t, s, "half")
			case !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil):
				t.Fatalf("migrate: %v, want %v", err, tc.wantErr)
			}
			raw, gerr := s.Get(ctx, store.SchemaKey)
			if gerr != nil {
				t.Fatal(gerr)
			}
			if tc.wantErr == store.ErrBadSchema {
				if !bytes.Equal(raw, tc.stored) {
					t.Fatalf("malformed schema rewritten to %x", raw)
				}
				return
			}
			if v, _ := store.Uint32(raw); v != tc.want {
				t.Fatalf("schema after = %d, want %d", v, tc.want)
			}
		})
	}
	wantValue(t, s, "migrated", "0")
	if err := s.Set(ctx, store.SchemaKey, []byte(store.U32(store.SchemaVersion))); err != nil {
		t.Fatal(err)
	}
}

// testRandomModel applies a seeded random mix of writes, transactions and
// rollbacks, and compares the store with a map after every step.
func testRandomModel(t *testing.T, s store.Store) {
	ctx := t.Context()
	rng := rand.New(rand.NewPCG(42, 7))
	model := map[string]string{}
	alphabet := []byte{0x00, 'a', 'b', '/', 0xfe, 0xff}
	randKey := func() string {
		n := 1 + rng.IntN(4)
		k := make([]byte, n)
		for i := range k {
			k[i] = alphabet[rng.IntN(len(alphabet))]
		}
		if k[0] == '!' {
			k[0] = 'a'
		}
		return "r" + string(k)
	}
	check := func(step int) {
		t.Helper()
		keys := make([]string, 0, len(model))
		for k := range model {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		want := make([]string, 0, len(keys))
		for _, k := range keys {
			want = append(want, k+"="+model[k])
		}
		if got := collect(t, storeIter(ctx, s), "r", false); !slices.Equal(got, want) {
			t.Fatalf("step %d: store %q\nmodel %q", step, got, want)
		}
		for _, p := range []string{"ra", "r\xff", "r\xff\xff", "ra/"} {
			var w []string
			for _, kv := range want {
				if bytes.HasPrefix([]byte(kv), []byte(p)) {
					w = append(w, kv)
				}
			}
			slices.Reverse(w)
			if got := collect(t, storeIter(ctx, s), p, true); !slices.Equal(got, w) {
				t.Fatalf("step %d reverse %q: store %q\nmodel %q", step, p, got, w)
			}
		}
	}
	for step := range 200 {
		switch op := rng.IntN(4); op {
		case 0:
			k, v := randKey(), fmt.Sprint(rng.IntN(100))
			mustSet(t, s, k, v)
			model[k] = v
		case 1:
			k := randKey()
			if err := s.Delete(ctx, []byte(k)); err != nil {
				t.Fatal(err)
			}
			delete(model, k)
		default:
			commit := op == 2
			staged := map[string]*string{}
			n := 1 + rng.IntN(30)
			err := s.Update(ctx, func(tx store.Txn) error {
				clear(staged)
				for range n {
					k := randKey()
					if rng.IntN(3) == 0 {
						if err := tx.Delete([]byte(k)); err != nil {
							return err
						}
						staged[k] = nil
					} else {
						v := fmt.Sprint(rng.IntN(100))
						if err := tx.Set([]byte(k), []byte(v)); err != nil {
							return err
						}
						staged[k] = &v
					}
				}
				if !commit {
					return store.ErrStop // any error rolls back
				}
				return nil
			})
			if commit && err != nil {
				t.Fatal(err)
			}
			if !commit && !errors.Is(err, store.ErrStop) {
				t.Fatalf("rollback update: %v", err)
			}
			if commit {
				for k, v := range staged {
					if v == nil {
						delete(model, k)
					} else {
						model[k] = *v
					}
				}
			}
		}
		check(step)
	}
}

func testClosed(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustSet(t, s, "x", "y")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := s.Get(ctx, []byte("x")); !errors.Is(err, store.ErrClosed) {
		t.Errorf("get: %v", err)
	}
	if err := s.Set(ctx, []byte("x"), nil); !errors.Is(err, store.ErrClosed) {
		t.Errorf("set: %v", err)
	}
	if err := s.Delete(ctx, []byte("x")); !errors.Is(err, store.ErrClosed) {
		t.Errorf("delete: %v", err)
	}
	if err := s.Iterate(ctx, nil, false, func(k, v []byte) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Errorf("iterate: %v", err)
	}
	if err := s.Update(ctx, func(store.Txn) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Errorf("update: %v", err)
	}
}

// testValueSize: a store.ValueSizer tells each value's length, never
// less and at most store.ValueSizeSlack more, for values kept inline and
// in Badger's value log (1 MiB and over), after an overwrite too; a
// missing or deleted key is ErrNotFound. Skipped for other stores.
func testValueSize(t *testing.T, s store.Store) {
	vs, ok := s.(store.ValueSizer)
	if !ok {
		t.Skip("not a store.ValueSizer")
	}
	ctx := t.Context()
	long := string(bytes.Repeat([]byte("k"), 300))
	for _, key := range []string{"size/", "size/" + long + "/"} {
		for _, n := range []int{0, 1, 127, 128, 100 << 10, 1<<20 - 1, 1 << 20, 1<<20 + 1, 3 << 20, 16 << 20} {
			k := []byte(key + strconv.Itoa(n))
			if err := s.Set(ctx, k, make([]byte, n)); err != nil {
				t.Fatal(err)
			}
			got, err := vs.ValueSize(ctx, k)
			if err != nil || got < int64(n) || got > int64(n)+store.ValueSizeSlack {
				t.Errorf("ValueSize of %d bytes (key of %d): %d, %v", n, len(k), got, err)
			}
		}
	}
	k := []byte("size/over")
	mustSet(t, s, string(k), strings.Repeat("x", 2<<20))
	mustSet(t, s, string(k), "abc")
	if got, err := vs.ValueSize(ctx, k); err != nil || got != 3 {
		t.Errorf("ValueSize after an overwrite with 3 bytes: %d, %v", got, err)
	}
	if err := s.Delete(ctx, k); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"size/over", "size/none"} {
		if _, err := vs.ValueSize(ctx, []byte(k)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ValueSize of %s: %v, want ErrNotFound", k, err)
		}
	}
}

// testIterateFrom: a store.Seeker iterates the keys of a prefix from a
// given key on, ascending, whether that key is stored or not, before the
// prefix or past it; ErrStop ends it with nil and fn's error is
// returned. Skipped for other stores.
func testIterateFrom(t *testing.T, s store.Store) {
	sk, ok := s.(store.Seeker)
	if !ok {
		t.Skip("not a store.Seeker")
	}
	ctx := t.Context()
	for _, k := range []string{"o/z", "p/a", "p/b", "p/c", "p/d", "q/x"} {
		mustSet(t, s, k, "v"+k)
	}
	list := func(from string, stopAt int) ([]string, error) {
		var got []string
		err := sk.IterateFrom(ctx, []byte("p/"), []byte(from), func(k, v []byte) error {
			if string(v) != "v"+string(k) {
				t.Errorf("%s = %q", k, v)
			}
			got = append(got, string(k))
			if len(got) == stopAt {
				return store.ErrStop
			}
			return nil
		})
		return got, err
	}
	for _, c := range []struct {
		from string
		want []string
	}{
		{"p/b", []string{"p/b", "p/c", "p/d"}},
		{"p/bb", []string{"p/c", "p/d"}},
		{"p/", []string{"p/a", "p/b", "p/c", "p/d"}},
		{"", []string{"p/a", "p/b", "p/c", "p/d"}},
		{"a", []string{"p/a", "p/b", "p/c", "p/d"}},
		{"p/d", []string{"p/d"}},
		{"p/e", nil},
		{"q", nil},
	} {
		got, err := list(c.from, 0)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("from %q: %q, %v; want %q", c.from, got, err, c.want)
		}
	}
	if got, err := list("p/b", 1); err != nil || !slices.Equal(got, []string{"p/b"}) {
		t.Errorf("stopped after one: %q, %v", got, err)
	}
	boom := errors.New("boom")
	if err := sk.IterateFrom(ctx, []byte("p/"), []byte("p/c"), func(_, _ []byte) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("fn's error: %v, want it returned", err)
	}
}
