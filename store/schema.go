package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
)

// SchemaVersion is the key-schema version this code reads and writes. Bump
// it, and add a Migration from the previous version to upgrades, whenever
// the meaning of stored keys or values changes incompatibly.
//
// Version 2 frames each document snapshot and increment (doc/<id>/snap,
// doc/<id>/inc/<seq>) with its length and a CRC-32C over its key and
// payload (sync/repo). Version 1 records, bare payloads, are still read,
// so the step from 1 writes nothing but the version; it keeps a binary
// that knows only version 1, which would take a framed record for a
// damaged one and set its document aside, from opening the store.
const SchemaVersion uint32 = 2

// upgrades are the steps every Migrate applies where its caller gives
// none: steps whose data every reader of this version understands.
var upgrades = map[uint32]Migration{
	1: func(Txn, uint32) error { return nil },
}

// SchemaKey is the key holding the schema version, a 4-byte big-endian
// uint32 (docs/ARCHITECTURE.md §5).
var SchemaKey = []byte("meta/schema")

// ErrSchemaTooOld is returned by Migrate when the stored schema is older
// than SchemaVersion and no migration covers a step.
var ErrSchemaTooOld = errors.New("store: on-disk schema is older and has no migration")

// ErrBadSchema is returned when the schema key holds something other than
// a 4-byte version.
var ErrBadSchema = errors.New("store: malformed schema version")

// Migration upgrades the data inside tx from version from to from+1.
// Migrate writes the new version in the same transaction, so a step is
// applied entirely or not at all.
type Migration func(tx Txn, from uint32) error

// CheckSchema is Migrate without migrations of the caller's: it writes
// SchemaVersion to a fresh store, accepts an equal version, upgrades an
// older one the package's own steps cover, and fails with
// ErrSchemaTooNew (newer) or ErrSchemaTooOld (older, uncovered). Every
// backend's opener calls it.
func CheckSchema(ctx context.Context, s Store) error {
	return Migrate(ctx, s, nil)
}

// Migrate reads the stored schema version and brings it to SchemaVersion.
// A store without the key is fresh and gets SchemaVersion. A newer version
// returns ErrSchemaTooNew without touching anything. An older version v is
// upgraded by steps[v], steps[v+1], … each in its own Update, the
// package's own step from v where steps has none; a missing step returns
// ErrSchemaTooOld.
func Migrate(ctx context.Context, s Store, steps map[uint32]Migration) error {
	for {
		var done bool
		err := s.Update(ctx, func(tx Txn) error {
			done = false
			raw, err := tx.Get(SchemaKey)
			if errors.Is(err, ErrNotFound) {
				done = true
				return tx.Set(SchemaKey, encodeVersion(SchemaVersion))
			}
			if err != nil {
				return err
			}
			v, err := Uint32(raw)
			if err != nil {
				return fmt.Errorf("%w: %d bytes", ErrBadSchema, len(raw))
			}
			switch {
			case v == SchemaVersion:
				done = true
				return nil
			case v > SchemaVersion:
				return fmt.Errorf("%w: found %d, understand %d", ErrSchemaTooNew, v, SchemaVersion)
			}
			step := steps[v]
			if step == nil {
				step = upgrades[v]
			}
			if step == nil {
				return fmt.Errorf("%w: found %d, want %d", ErrSchemaTooOld, v, SchemaVersion)
			}
			if err := step(tx, v); err != nil {
				return fmt.Errorf("migrate schema %d to %d: %w", v, v+1, err)
			}
			return tx.Set(SchemaKey, encodeVersion(v+1))
		})
		if err != nil || done {
			return err
		}
	}
}

func encodeVersion(v uint32) []byte {
	return binary.BigEndian.AppendUint32(nil, v)
}
