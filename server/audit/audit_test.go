package audit_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/internal/cborx"
	"github.com/segue-fm/segue/server/audit"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/store/badgerstore"
)

func recKey(i uint64) []byte { return binary.BigEndian.AppendUint64([]byte("aud/r/"), i) }

// filled returns a Badger store holding a 25-record chain with
// checkpoints at 10 and 20, appended in three transactions.
func filled(t *testing.T, key ed25519.PrivateKey) store.Store {
	t.Helper()
	st, err := badgerstore.Open(context.Background(), t.TempDir(), badgerstore.DefaultOptions().WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := audit.NewChain(st, key, 10, func() time.Time { return time.UnixMilli(1_800_000_000_000) })
	i := 0
	for _, n := range []int{7, 13, 5} {
		err := c.Update(context.Background(), func(_ store.Txn, add func(audit.Record) error) error {
			for range n {
				r := audit.Record{Kind: audit.KindStream, Device: "d", User: "u", Seq: uint64(i), Track: "t", Played: 31000}
				if i%4 == 0 {
					r.Kind, r.Reason = audit.KindRejection, "unknown_track"
				}
				if err := add(r); err != nil {
					return err
				}
				i++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func get(t *testing.T, st store.Store, i uint64) audit.Record {
	t.Helper()
	b, err := st.Get(context.Background(), recKey(i))
	if err != nil {
		t.Fatal(err)
	}
	var r audit.Record
	dm := cborx.Limits{MaxNestedLevels: 4, MaxArrayElements: 64, MaxMapPairs: 32}.DecMode()
	if err := dm.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func put(t *testing.T, st store.Store, i uint64, r audit.Record) [32]byte {
	t.Helper()
	b, err := cborx.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Set(context.Background(), recKey(i), b); err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func del(t *testing.T, st store.Store, k []byte) {
	t.Helper()
	if err := st.Delete(context.Background(), k); err != nil {
		t.Fatal(err)
	}
}

// TestVerify tampers with a chain in every way the issue lists and
// checks that Verify names the first bad record.
func TestVerify(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, st store.Store)
		want   string // in the error; "" means intact
	}{
		{"intact", func(*testing.T, store.Store) {}, ""},
		{"edit", func(t *testing.T, st store.Store) {
			r := get(t, st, 5)
			r.Played = 60000
			put(t, st, 5, r)
		}, "record 5 edited"},
		{"edit last", func(t *testing.T, st store.Store) {
			r := get(t, st, 24)
			r.Track = "other"
			put(t, st, 24, r)
		}, "record 24 edited"},
		{"edit and rechain to the end", func(t *testing.T, st store.Store) {
			r := get(t, st, 12)
			r.Kind, r.Reason = audit.KindStream, ""
			h := put(t, st, 12, r)
			for i := uint64(13); i < 25; i++ {
				r := get(t, st, i)
				r.Prev = h
				h = put(t, st, i, r)
			}
			b := binary.BigEndian.AppendUint64(h[:], 25)
			if err := st.Set(ctx, []byte("aud/head"), b); err != nil {
				t.Fatal(err)
			}
		}, "checkpoint at 20: head differs: record 19 edited"},
		{"delete", func(t *testing.T, st store.Store) { del(t, st, recKey(7)) }, "record 7 missing"},
		{"reorder", func(t *testing.T, st store.Store) {
			a, b := get(t, st, 3), get(t, st, 4)
			put(t, st, 3, b)
			put(t, st, 4, a)
		}, "record 3 holds index 4: reordered"},
		{"truncate before a checkpoint", func(t *testing.T, st store.Store) {
			for i := uint64(15); i < 25; i++ {
				del(t, st, recKey(i))
			}
		}, "truncated from record 15"},
		{"truncate after the last checkpoint", func(t *testing.T, st store.Store) {
			for i := uint64(21); i < 25; i++ {
				del(t, st, recKey(i))
			}
		}, "truncated from record 21"},
		{"forged checkpoint", func(t *testing.T, st store.Store) {
			if err := st.Set(ctx, binary.BigEndian.AppendUint64([]byte("aud/c/"), 10), []byte("junk")); err != nil {
				t.Fatal(err)
			}
		}, "checkpoint at 10: signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := filled(t, key)
			tc.tamper(t, st)
			rep, err := audit.Verify(ctx, st, pub)
			if tc.want == "" {
				if err != nil || rep.Records != 25 || rep.Checkpoints != 2 {
					t.Fatalf("intact chain: %+v, %v", rep, err)
				}
				return
			}
			if !errors.Is(err, audit.ErrTampered) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want ErrTampered naming %q", err, tc.want)
			}
		})
	}
	// A checkpoint signed by another key does not verify.
	st := filled(t, key)
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := audit.Verify(ctx, st, other); !errors.Is(err, audit.ErrTampered) {
		t.Errorf("other key: %v", err)
	}
}

// TestMonthEndCheckpoint: the first record of a new month signs a
// checkpoint closing the previous month's records (even between the
// every-N checkpoints), Verify reports the months closed, and an edit of
// a closed month's record is caught by it.
func TestMonthEndCheckpoint(t *testing.T) {
	ctx := context.Background()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	st := store.NewMemory()
	now := time.Date(2026, 11, 30, 23, 59, 0, 0, time.UTC)
	c := audit.NewChain(st, key, 1000, func() time.Time { return now })
	appendN := func(n int) {
		err := c.Update(ctx, func(_ store.Txn, add func(audit.Record) error) error {
			for range n {
				if err := add(audit.Record{Kind: audit.KindStream, Device: "d", Track: "t", Played: 31000}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	appendN(3)
	now = time.Date(2026, 12, 1, 0, 0, 1, 0, time.UTC)
	appendN(2)
	appendN(1)
	now = time.Date(2027, 1, 15, 0, 0, 0, 0, time.UTC)
	appendN(1)
	rep, err := audit.Verify(ctx, st, key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != 7 || rep.Checkpoints != 2 || strings.Join(rep.MonthEnds, ",") != "2026-11,2026-12" {
		t.Fatalf("report %+v: want 7 records, month ends 2026-11 (at 3) and 2026-12 (at 6)", rep)
	}
	if _, err := st.Get(ctx, binary.BigEndian.AppendUint64([]byte("aud/c/"), 3)); err != nil {
		t.Fatalf("no checkpoint at 3: %v", err)
	}
	// Rewrite record 2 and the chain after it consistently, as a forger
	// without the key would: the November checkpoint no longer matches.
	b, _ := st.Get(ctx, recKey(2))
	var r audit.Record
	if err := testDec.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	r.Played = 99000
	nb, _ := cborx.Marshal(r)
	st.Set(ctx, recKey(2), nb)
	prev := sha256.Sum256(nb)
	for i := uint64(3); i < 7; i++ {
		b, _ := st.Get(ctx, recKey(i))
		var x audit.Record
		testDec.Unmarshal(b, &x)
		x.Prev = prev
		nb, _ := cborx.Marshal(x)
		st.Set(ctx, recKey(i), nb)
		prev = sha256.Sum256(nb)
	}
	st.Set(ctx, []byte("aud/head"), binary.BigEndian.AppendUint64(prev[:], 7))
	if _, err := audit.Verify(ctx, st, key.Public().(ed25519.PublicKey)); !errors.Is(err, audit.ErrTampered) || !strings.Contains(err.Error(), "checkpoint at 3") {
		t.Fatalf("forged November: %v", err)
	}
}

var testDec = cborx.Limits{MaxNestedLevels: 4, MaxArrayElements: 64, MaxMapPairs: 32}.DecMode()
