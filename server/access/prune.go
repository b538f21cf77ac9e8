package access

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/segue-fm/segue/internal/dirsync"
	"github.com/segue-fm/segue/store"
)

// Pruner deletes old access records (retention). Both backends implement
// it: NewStorePruner and NewFilePruner.
type Pruner interface {
	// Prune deletes the records of every UTC day that ended at or before
	// `before` (the days before before's UTC day) and returns how many
	// days it removed. It first records the first kept day, so a Prune
	// cut short by a crash has still marked the days it may have taken:
	// a later Scan reaching before that day fails with ErrPruned instead
	// of reading a partial day as if nothing had been served. The first
	// kept day never moves back.
	Prune(ctx context.Context, before time.Time) (int, error)
}

// lowKey holds the first kept day (YYYY-MM-DD) of the store backend;
// lowFile is the file backend's.
var lowKey = []byte("acc/low")

const lowFile = "pruned-before"

// pruneTx is the most keys one Prune transaction deletes.
const pruneTx = 10_000

type storePruner struct{ st store.Store }

// NewStorePruner returns the Pruner of the records NewStoreWriter keeps
// in st. It does not own st.
func NewStorePruner(st store.Store) Pruner { return storePruner{st} }

var _ Pruner = storePruner{}
var _ Pruner = filePruner{}

func (p storePruner) Prune(ctx context.Context, before time.Time) (int, error) {
	cut := startOfDay(before)
	if err := p.st.Update(ctx, func(tx store.Txn) error {
		old, err := firstKept(tx.Get)
		if err != nil || !cut.After(old) {
			return err
		}
		return tx.Set(lowKey, []byte(cut.Format(time.DateOnly)))
	}); err != nil {
		return 0, fmt.Errorf("access: prune: %w", err)
	}
	end := dayPrefix(cut)
	days, last := 0, ""
	for {
		var keys [][]byte
		err := p.st.Update(ctx, func(tx store.Txn) error {
			keys = keys[:0]
			err := tx.Iterate(recPrefix, false, func(k, _ []byte) error {
				if string(k) >= string(end) || len(keys) == pruneTx {
					return store.ErrStop
				}
				keys = append(keys, append([]byte(nil), k...))
				return nil
			})
			if err != nil {
				return err
			}
			for _, k := range keys {
				if err := tx.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return days, fmt.Errorf("access: prune: %w", err)
		}
		if len(keys) == 0 {
			return days, nil
		}
		for _, k := range keys {
			if d := dayOfKey(k); d != last {
				last = d
				days++
			}
		}
	}
}

// dayOfKey returns the day part of an acc/r/<day>/… key.
func dayOfKey(k []byte) string {
	s := strings.TrimPrefix(string(k), string(recPrefix))
	day, _, _ := strings.Cut(s, "/")
	return day
}

// firstKept reads the store backend's first kept day (zero: none pruned).
func firstKept(get func([]byte) ([]byte, error)) (time.Time, error) {
	v, err := get(lowKey)
	if errors.Is(err, store.ErrNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.DateOnly, string(v))
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: acc/low %q", ErrCorrupt, v)
	}
	return t, nil
}

type filePruner struct{ dir string }

// NewFilePruner returns the Pruner of the day files NewFileWriter writes
// in dir. Its first kept day is the file dir/pruned-before, replaced
// atomically.
func NewFilePruner(dir string) Pruner { return filePruner{dir} }

func (p filePruner) Prune(ctx context.Context, before time.Time) (int, error) {
	cut := startOfDay(before)
	old, err := fileFirstKept(p.dir)
	if err != nil {
		return 0, fmt.Errorf("access: prune: %w", err)
	}
	if cut.After(old) {
		if err := dirsync.WriteFile(filepath.Join(p.dir, lowFile), []byte(cut.Format(time.DateOnly)+"\n"), 0o600); err != nil {
			return 0, fmt.Errorf("access: prune: %w", err)
		}
	}
	names, err := filepath.Glob(filepath.Join(p.dir, "access-*.log"))
	if err != nil {
		return 0, fmt.Errorf("access: prune: %w", err)
	}
	last := fileName(cut)
	days := 0
	for _, path := range names {
		if err := ctx.Err(); err != nil {
			return days, err
		}
		name := filepath.Base(path)
		if _, err := time.Parse(time.DateOnly, strings.TrimSuffix(strings.TrimPrefix(name, "access-"), ".log")); err != nil || name >= last {
			continue
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return days, fmt.Errorf("access: prune: %w", err)
		}
		days++
	}
	return days, nil
}

// fileFirstKept reads dir's first kept day (zero: none pruned).
func fileFirstKept(dir string) (time.Time, error) {
	b, err := os.ReadFile(filepath.Join(dir, lowFile))
	if errors.Is(err, os.ErrNotExist) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.DateOnly, strings.TrimSpace(string(b)))
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %s %q", ErrCorrupt, lowFile, b)
	}
	return t, nil
}

// checkKept returns ErrPruned when a scan from `from` reaches before the
// first kept day.
func checkKept(from, low time.Time) error {
	if !low.IsZero() && from.Before(low) {
		return fmt.Errorf("%w: records before %s are gone, a scan from %s needs them", ErrPruned, low.Format(time.DateOnly), from.UTC().Format(time.RFC3339))
	}
	return nil
}

// PruneEvery is how often Retain prunes.
const PruneEvery = time.Hour

// Retain prunes p at once and then every PruneEvery until ctx ends,
// keeping the records of the last `keep` (whole UTC days: a day goes once
// all of it is older than keep) by the clock now. Failures are logged
// and retried at the next round.
func Retain(ctx context.Context, p Pruner, keep time.Duration, now func() time.Time, log *slog.Logger) {
	t := time.NewTicker(PruneEvery)
	defer t.Stop()
	for {
		switch n, err := p.Prune(ctx, now().Add(-keep)); {
		case err != nil && ctx.Err() == nil:
			log.Error("access: retention", "err", err)
		case n > 0:
			log.Info("access: pruned old records", "days", n, "retention", keep)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
