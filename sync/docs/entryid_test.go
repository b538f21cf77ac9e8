package docs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strconv"
	"testing"
)

// TestNewEntryIDs: one Add's entries get consecutive ids (16 hex digits
// like any entry id); a run that meets an existing entry is drawn again,
// and a source that only yields taken runs fails after maxIDDraws.
func TestNewEntryIDs(t *testing.T) {
	p := newPlaylist(t, 1)
	ids, err := p.Add(AtEnd(), "alice", "t1", "t2", "t3")
	if err != nil {
		t.Fatal(err)
	}
	value := func(id EntryID) uint64 {
		t.Helper()
		if len(id) != 16 {
			t.Fatalf("entry id %q is not 16 hex digits", id)
		}
		v, err := strconv.ParseUint(string(id), 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for i, id := range ids {
		if value(id) != value(ids[0])+uint64(i) {
			t.Fatalf("ids %v are not consecutive", ids)
		}
	}
	base := func(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
	taken := base(value(ids[1]) - 1) // a run of two would reuse ids[1]
	for _, tc := range []struct {
		name  string
		draws [][]byte
		want  EntryID
		err   error
	}{
		{"taken run drawn again", [][]byte{taken, base(1)}, "0000000000000001", nil},
		{"every run taken", [][]byte{taken, taken, taken, taken, taken, taken, taken, taken}, "", errIDsTaken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p.opts.rand = bytes.NewReader(bytes.Join(tc.draws, nil))
			got, err := p.newEntryIDs(2)
			if !errors.Is(err, tc.err) {
				t.Fatalf("newEntryIDs = %v, %v; want error %v", got, err, tc.err)
			}
			if tc.err == nil && (got[0] != tc.want || value(got[1]) != value(tc.want)+1) {
				t.Fatalf("newEntryIDs = %v, want a run from %s", got, tc.want)
			}
		})
	}
}
