package audit_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
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

// locate returns the key of the block holding record i, the encodings
// of the records in it, and i's position among them.
func locate(t *testing.T, st store.Store, i uint64) ([]byte, [][]byte, int) {
	t.Helper()
	var key []byte
	var raws [][]byte
	err := st.Iterate(context.Background(), []byte("aud/r/"), false, func(k, v []byte) error {
		if binary.BigEndian.Uint64(k[len("aud/r/"):]) > i {
			return store.ErrStop
		}
		key, raws = bytes.Clone(k), nil
		for rest := v; len(rest) > 0; {
			var r audit.Record
			tail, err := testDec.UnmarshalFirst(rest, &r)
			if err != nil {
				return err
			}
			raws, rest = append(raws, bytes.Clone(rest[:len(rest)-len(tail)])), tail
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for pos, raw := range raws {
		var r audit.Record
		if err := testDec.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		if r.Index == i {
			return key, raws, pos
		}
	}
	t.Fatalf("record %d not found", i)
	return nil, nil, 0
}

// setBlock stores raws as the block under key (deleting key when empty).
func setBlock(t *testing.T, st store.Store, key []byte, raws [][]byte) {
	t.Helper()
	var err error
	if len(raws) == 0 {
		err = st.Delete(context.Background(), key)
	} else {
		err = st.Set(context.Background(), key, bytes.Join(raws, nil))
	}
	if err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, st store.Store, i uint64) audit.Record {
	t.Helper()
	_, raws, pos := locate(t, st, i)
	var r audit.Record
	if err := testDec.Unmarshal(raws[pos], &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// put replaces record i (found by its stored index) with r and returns
// the hash of r's encoding.
func put(t *testing.T, st store.Store, i uint64, r audit.Record) [32]byte {
	t.Helper()
	b, err := cborx.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	key, raws, pos := locate(t, st, i)
	raws[pos] = b
	setBlock(t, st, key, raws)
	return sha256.Sum256(b)
}

// delRec removes record i from its block.
func delRec(t *testing.T, st store.Store, i uint64) {
	t.Helper()
	key, raws, pos := locate(t, st, i)
	setBlock(t, st, key, slices.Delete(raws, pos, pos+1))
}

// swap exchanges the stored records i and j (same block or not).
func swap(t *testing.T, st store.Store, i, j uint64) {
	t.Helper()
	ki, ri, pi := locate(t, st, i)
	kj, rj, pj := locate(t, st, j)
	if bytes.Equal(ki, kj) {
		ri[pi], ri[pj] = ri[pj], ri[pi]
		setBlock(t, st, ki, ri)
		return
	}
	ri[pi], rj[pj] = rj[pj], ri[pi]
	setBlock(t, st, ki, ri)
	setBlock(t, st, kj, rj)
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
		{"delete", func(t *testing.T, st store.Store) { delRec(t, st, 7) }, "record 7 missing"},
		{"delete inside a block", func(t *testing.T, st store.Store) { delRec(t, st, 9) }, "record 9 missing (next present is 10): deleted"},
		{"delete the last of a block", func(t *testing.T, st store.Store) { delRec(t, st, 6) }, "record 6 missing (next present is 7): deleted"},
		{"delete a whole block", func(t *testing.T, st store.Store) { del(t, st, recKey(7)) }, "record 7 missing (next present is 20): deleted"},
		{"reorder", func(t *testing.T, st store.Store) { swap(t, st, 3, 4) }, "record 3 holds index 4: reordered"},
		{"reorder across blocks", func(t *testing.T, st store.Store) { swap(t, st, 6, 7) }, "record 6 holds index 7: reordered"},
		{"truncate before a checkpoint", func(t *testing.T, st store.Store) {
			for i := uint64(15); i < 25; i++ {
				delRec(t, st, i)
			}
		}, "truncated from record 15"},
		{"truncate after the last checkpoint", func(t *testing.T, st store.Store) {
			for i := uint64(21); i < 25; i++ {
				delRec(t, st, i)
			}
		}, "truncated from record 21"},
		{"garbage appended to a block", func(t *testing.T, st store.Store) {
			key, raws, _ := locate(t, st, 3)
			setBlock(t, st, key, append(raws, []byte{0xff}))
		}, "record 7 does not decode"},
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
	r := get(t, st, 2)
	r.Played = 99000
	prev := put(t, st, 2, r)
	for i := uint64(3); i < 7; i++ {
		x := get(t, st, i)
		x.Prev = prev
		prev = put(t, st, i, x)
	}
	st.Set(ctx, []byte("aud/head"), binary.BigEndian.AppendUint64(prev[:], 7))
	if _, err := audit.Verify(ctx, st, key.Public().(ed25519.PublicKey)); !errors.Is(err, audit.ErrTampered) || !strings.Contains(err.Error(), "checkpoint at 3") {
		t.Fatalf("forged November: %v", err)
	}
}

var testDec = cborx.Limits{MaxNestedLevels: 4, MaxArrayElements: 64, MaxMapPairs: 32}.DecMode()

// TestBlocks: records appended in one transaction share a block of at
// most MaxBlockRecords; blocks of one record (the layout earlier versions
// wrote for every record) and larger blocks verify together, and Records
// returns every record once, in index order.
func TestBlocks(t *testing.T) {
	ctx := context.Background()
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	st := store.NewMemory()
	c := audit.NewChain(st, key, 500, nil)
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
	for range 3 {
		appendN(1)
	}
	appendN(2*audit.MaxBlockRecords + 5)
	appendN(1)
	total := uint64(3 + 2*audit.MaxBlockRecords + 5 + 1)
	var starts []uint64
	err := st.Iterate(ctx, []byte("aud/r/"), false, func(k, _ []byte) error {
		starts = append(starts, binary.BigEndian.Uint64(k[len("aud/r/"):]))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	m := uint64(audit.MaxBlockRecords)
	if want := []uint64{0, 1, 2, 3, 3 + m, 3 + 2*m, total - 1}; !slices.Equal(starts, want) {
		t.Fatalf("blocks start at %v, want %v", starts, want)
	}
	rep, err := audit.Verify(ctx, st, pub)
	if err != nil || rep.Records != total || rep.Checkpoints != int(total/500) {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
	var next uint64
	err = audit.Records(ctx, st, func(r audit.Record) error {
		if r.Index != next {
			return fmt.Errorf("record %d where %d was expected", r.Index, next)
		}
		next++
		return nil
	})
	if err != nil || next != total {
		t.Fatalf("records: %d, %v", next, err)
	}
	// An edit deep inside the large block is named.
	r := get(t, st, 3+m+17)
	r.Played = 1
	put(t, st, 3+m+17, r)
	if _, err := audit.Verify(ctx, st, pub); !errors.Is(err, audit.ErrTampered) || !strings.Contains(err.Error(), fmt.Sprintf("record %d edited", 3+m+17)) {
		t.Fatalf("edit inside a block: %v", err)
	}
}
