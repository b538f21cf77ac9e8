package counting

import (
	"context"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
)

// TestUserMonthCountryStreams: a user's streams of a month per country
// from the month's first country and the counts under the others; a
// month without the first country's record is not ok (the caller falls
// back), and damaged records are ErrCorrupt, never a wrong split.
func TestUserMonthCountryStreams(t *testing.T) {
	u64 := func(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }
	const m = "2026-11"
	tests := []struct {
		name    string
		keys    map[string][]byte
		want    map[string]map[model.TrackID]uint64
		ok      bool
		corrupt bool
	}{
		{"no streams", nil, nil, false, false},
		{"one country", map[string][]byte{"cnt/um/u/" + m: []byte("DE"), "cnt/u/u/" + m + "/a": u64(3)},
			map[string]map[model.TrackID]uint64{"DE": {"a": 3}}, true, false},
		{"moved", map[string][]byte{"cnt/um/u/" + m: []byte("DE"), "cnt/u/u/" + m + "/a": u64(3), "cnt/u/u/" + m + "/b": u64(1),
			"cnt/uc/u/" + m + "/FR/a": u64(1), "cnt/uc/u/" + m + "/JP/b": u64(1)},
			map[string]map[model.TrackID]uint64{"DE": {"a": 2}, "FR": {"a": 1}, "JP": {"b": 1}}, true, false},
		{"counted before the record", map[string][]byte{"cnt/u/u/" + m + "/a": u64(3)}, nil, false, false},
		{"another user's keys", map[string][]byte{"cnt/um/u/" + m: []byte("DE"), "cnt/u/u/" + m + "/a": u64(1), "cnt/uc/uu/" + m + "/FR/a": u64(1)},
			map[string]map[model.TrackID]uint64{"DE": {"a": 1}}, true, false},
		{"first country damaged", map[string][]byte{"cnt/um/u/" + m: []byte("D")}, nil, false, true},
		{"more moved than counted", map[string][]byte{"cnt/um/u/" + m: []byte("DE"), "cnt/u/u/" + m + "/a": u64(1), "cnt/uc/u/" + m + "/FR/a": u64(2)}, nil, false, true},
		{"damaged count", map[string][]byte{"cnt/um/u/" + m: []byte("DE"), "cnt/u/u/" + m + "/a": u64(1), "cnt/uc/u/" + m + "/FR/a": {1}}, nil, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st := store.NewMemory()
			for k, v := range tc.keys {
				if err := st.Set(ctx, []byte(k), v); err != nil {
					t.Fatal(err)
				}
			}
			got, ok, err := UserMonthCountryStreams(ctx, st, "u", m)
			if tc.corrupt {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("err %v, want ErrCorrupt", err)
				}
				return
			}
			if err != nil || ok != tc.ok || (ok && !reflect.DeepEqual(got, tc.want)) {
				t.Fatalf("got %v, %v, %v; want %v, %v", got, ok, err, tc.want, tc.ok)
			}
		})
	}
	if _, _, err := UserMonthCountryStreams(context.Background(), store.NewMemory(), "u", "2026-13"); !errors.Is(err, ErrBadMonth) {
		t.Fatalf("bad month: %v", err)
	}
}
