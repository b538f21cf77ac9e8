package p2p

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
)

// TestLANQuotaPeriods drives the quota counts over a month's end with a
// fake clock: a user at the quota is refused until the next UTC month,
// the counts of past months are deleted when a new one starts, at most
// maxUsers users are counted per month (a further one refused until the
// next), and a malformed stored count refuses its user with an error
// (not a fresh quota).
func TestLANQuotaPeriods(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC)
	st := store.NewMemory()
	q := newLANQuota(DefaultOptions().WithQuota(1, 100).WithQuotaStore(st).WithClock(func() time.Time { return now }).WithLogger(slog.New(slog.DiscardHandler)))
	q.maxUsers = 2
	take := func(user model.UserID, docs int, n int64) error {
		if err := q.reserve(ctx, user, docs, n); err != nil {
			return err
		}
		defer q.release(user, docs, n)
		return st.Update(ctx, func(tx store.Txn) error { return q.charge(tx, user, docs, n) })
	}
	stored := func(user model.UserID) string {
		v, err := st.Get(ctx, quotaKey(user))
		if errors.Is(err, store.ErrNotFound) {
			return ""
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(v)
	}
	steps := []struct {
		name  string
		at    time.Time
		user  model.UserID
		docs  int
		bytes int64
		want  error
	}{
		{"a creates", now, "a", 1, 60, nil},
		{"a at the document quota", now, "a", 1, 1, ErrQuota},
		{"a at the byte quota", now, "a", 0, 41, ErrQuota},
		{"a within it", now, "a", 0, 40, nil},
		{"b counted", now, "b", 0, 1, nil},
		{"c past maxUsers", now, "c", 0, 1, ErrQuota},
		{"a in the next month", now.Add(time.Minute), "a", 1, 100, nil},
		{"c in the next month", now.Add(time.Minute), "c", 0, 1, nil},
	}
	for _, s := range steps {
		now = s.at
		err := take(s.user, s.docs, s.bytes)
		if !errors.Is(err, s.want) {
			t.Fatalf("%s: %v, want %v", s.name, err, s.want)
		}
	}
	if got := stored("a"); got != "2027-01 1 100" {
		t.Fatalf("a's count %q, want this month's", got)
	}
	if got := stored("b"); got != "" {
		t.Fatalf("b's count of last month %q kept", got)
	}
	q.maxUsers = 3
	if err := st.Set(ctx, quotaKey("d"), []byte("2027-01 x 1")); err != nil {
		t.Fatal(err)
	}
	if err := take("d", 0, 1); err == nil || errors.Is(err, ErrQuota) {
		t.Fatalf("malformed count: %v, want an error other than ErrQuota", err)
	}
}
