package badgerstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/ristretto/v2/z"
)

// ErrDamaged is returned by Open when dir holds a Badger store that cannot
// be opened completely: a missing or unreadable MANIFEST next to data
// files, a table file the MANIFEST lists that is missing or unreadable
// (truncated, garbage), table files beside a MANIFEST that lists none, or,
// with WithStrict, a MANIFEST ending in a partial record or any table file
// the MANIFEST does not list. The message names the file. These are found
// by a check that only reads, before Badger touches dir; a panic of
// Badger's own open is ErrDamaged too, after Badger may have written.
// After Open, a read or transaction during which a table block failed its
// checksum or could not be decoded, or a value-log value failed its
// checksum, fails with ErrDamaged naming the file: its answer could miss
// records or hold changed bytes; from then on every Update fails with it
// too, nothing written.
var ErrDamaged = errors.New("badgerstore: damaged store")

// ErrLocked is returned by Open when the store is open already, in
// another process or in this one (Badger allows one read-write opener
// per directory); the message says which.
var ErrLocked = errors.New("badgerstore: store is in use")

// manifestName is Badger's MANIFEST file (badger.ManifestFilename).
const manifestName = badger.ManifestFilename

// maxPanicText bounds the part of a recovered Badger panic quoted in an
// error.
const maxPanicText = 200

// checkBeforeOpen inspects dir, reading only, for damage Badger would
// either panic on or silently repair by dropping data (see ErrDamaged).
// An absent directory or one without Badger files is a fresh store.
func checkBeforeOpen(dir string, strict bool) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("badgerstore: read %s: %w", dir, err)
	}
	release, err := probeLock(dir)
	if err != nil {
		return err
	}
	defer release()
	onDisk := map[uint64]string{} // table id → file name
	var data []string             // every Badger file other than MANIFEST
	hasManifest := false
	for _, e := range entries {
		n := e.Name()
		if id, ok := table.ParseFileID(n); ok {
			onDisk[id] = n
		}
		switch {
		case n == manifestName:
			hasManifest = true
		case strings.HasSuffix(n, ".sst"), strings.HasSuffix(n, ".vlog"), strings.HasSuffix(n, ".mem"),
			n == badger.KeyRegistryFileName, n == "DISCARD":
			data = append(data, n)
		}
	}
	mpath := filepath.Join(dir, manifestName)
	if !hasManifest {
		if len(data) == 0 {
			return nil
		}
		slices.Sort(data)
		return fmt.Errorf("%w: %s is missing but %s holds Badger data (%s): Badger would start an empty store",
			ErrDamaged, mpath, dir, data[0])
	}
	m, err := readManifest(mpath, dir, strict)
	if err != nil {
		return err
	}
	for id, tm := range m.Tables {
		name, ok := onDisk[id]
		if !ok {
			return fmt.Errorf("%w: %s lists table %s, which is missing", ErrDamaged, mpath, table.IDToFilename(id))
		}
		if err := checkTable(filepath.Join(dir, name), tm); err != nil {
			return err
		}
	}
	var orphans []string
	for id, name := range onDisk {
		if _, ok := m.Tables[id]; !ok {
			orphans = append(orphans, name)
		}
	}
	slices.Sort(orphans)
	if len(orphans) > 0 && (strict || len(m.Tables) == 0) {
		return fmt.Errorf("%w: %s is not listed in %s (%d such tables) and Badger would delete it: the MANIFEST lost records "+
			"(restore a backup), or the process was killed while compacting and the file is a leftover (move it away)",
			ErrDamaged, filepath.Join(dir, orphans[0]), mpath, len(orphans))
	}
	return nil
}

// readManifest replays the MANIFEST at path without modifying it. With
// strict, a partial last record (which Badger would cut off) is damage.
func readManifest(path, dir string, strict bool) (badger.Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return badger.Manifest{}, fmt.Errorf("%w: %s: %v", ErrDamaged, path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return badger.Manifest{}, fmt.Errorf("%w: %s: %v", ErrDamaged, path, err)
	}
	m, end, err := badger.ReplayManifestFile(f, 0, badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		return badger.Manifest{}, fmt.Errorf("%w: %s is unreadable: %v", ErrDamaged, path, err)
	}
	if strict && end != st.Size() {
		return badger.Manifest{}, fmt.Errorf("%w: %s ends in a partial record (%d of %d bytes readable): truncated or damaged",
			ErrDamaged, path, end, st.Size())
	}
	return m, nil
}

// checkTable opens the table file at path read-only as Badger would on
// start-up, turning Badger's panics on a damaged table into ErrDamaged.
func checkTable(path string, tm badger.TableManifest) (err error) {
	if tm.KeyID != 0 {
		return fmt.Errorf("%w: %s is encrypted, which this store never does", ErrDamaged, path)
	}
	defer func() {
		if r := recover(); r != nil {
			msg, _, _ := strings.Cut(fmt.Sprint(r), "\n")
			if len(msg) > maxPanicText {
				msg = msg[:maxPanicText]
			}
			err = fmt.Errorf("%w: %s is unreadable (badger: %s)", ErrDamaged, path, msg)
		}
	}()
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrDamaged, path, err)
	}
	if st.Size() == 0 {
		return fmt.Errorf("%w: %s is empty", ErrDamaged, path)
	}
	mf, err := z.OpenMmapFile(path, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrDamaged, path, err)
	}
	defer mf.Close(-1)
	_, err = table.OpenTable(mf, table.Options{
		ReadOnly:           true,
		BlockSize:          badger.DefaultOptions("").BlockSize,
		BloomFalsePositive: badger.DefaultOptions("").BloomFalsePositive,
		ChkMode:            options.NoVerification,
		Compression:        tm.Compression,
	})
	if err != nil {
		return fmt.Errorf("%w: %s is unreadable: %v", ErrDamaged, path, err)
	}
	return nil
}

// openRecovered calls badger.Open, turning a panic in the calling
// goroutine into ErrDamaged.
func openRecovered(bo badger.Options) (db *badger.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			msg, _, _ := strings.Cut(fmt.Sprint(r), "\n")
			if len(msg) > maxPanicText {
				msg = msg[:maxPanicText]
			}
			db, err = nil, fmt.Errorf("%w: %s: badger panicked: %s", ErrDamaged, bo.Dir, msg)
		}
	}()
	return badger.Open(bo)
}
