package sparkals

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
	"gonum.org/v1/gonum/mat"

	"github.com/segue-fm/segue/core/model"
)

// Errors of the factor loader.
var (
	// ErrMalformed: the directory, manifest or a Parquet file is not a
	// factor set as documented in the package comment.
	ErrMalformed = errors.New("sparkals: malformed factors")
	// ErrTooLarge: a file, the rank, the rows or the values exceed the
	// Limits.
	ErrTooLarge = errors.New("sparkals: factors too large")
)

// Format is the manifest's format tag this package reads and writes.
const Format = "segue.als-factors.v1"

// The file names of a factor directory.
const (
	ManifestFile = "manifest.json"
	UserDir      = "user_factors"
	ItemDir      = "item_factors"
	// UserColumn and ItemColumn name the id column of each side;
	// FeaturesColumn names the factor column (Spark ALSModel's name).
	UserColumn     = "user"
	ItemColumn     = "track"
	FeaturesColumn = "features"
)

// maxManifest bounds manifest.json.
const maxManifest = 64 << 10

// Limits bound what Load and Parse accept. Start from DefaultLimits.
type Limits struct {
	// MaxRank is the largest factor rank (default 1024).
	MaxRank int
	// MaxRows is the most rows of one side, users or items (default
	// 10,000,000).
	MaxRows int
	// MaxValues is the most factor values of one side, rows × rank
	// (default 2²⁸, 2 GiB as float64).
	MaxValues int
	// MaxFileBytes is the largest Parquet file (default 4 GiB).
	MaxFileBytes int64
	// MaxFiles is the most part files of one side (default 4096).
	MaxFiles int
}

// DefaultLimits returns the defaults documented on each field.
func DefaultLimits() Limits {
	return Limits{MaxRank: 1024, MaxRows: 10_000_000, MaxValues: 1 << 28, MaxFileBytes: 4 << 30, MaxFiles: 4096}
}

// Manifest describes one training run's factors.
type Manifest struct {
	// Format is always Format.
	Format string `json:"format"`
	// RunID names the training run; ExportID the event-log export it
	// trained on. Both are opaque to the relay and logged.
	RunID    string `json:"run_id"`
	ExportID string `json:"export_id"`
	// Created is when the run finished.
	Created time.Time `json:"created"`
	// Rank is the number of factors per row.
	Rank int `json:"rank"`
	// Users and Items are the row counts of user_factors and
	// item_factors.
	Users int `json:"users"`
	Items int `json:"items"`
}

// Table is one side's factors: row r of Factors belongs to IDs[r]. IDs
// are distinct and valid (model.ValidID); Factors has no NaN or ±Inf.
type Table struct {
	IDs     []string
	Factors *mat.Dense // len(IDs) × rank; nil when IDs is empty
}

// Rank returns the table's number of factors (0 when empty).
func (t Table) Rank() int {
	if t.Factors == nil {
		return 0
	}
	_, c := t.Factors.Dims()
	return c
}

// Factors is one loaded factor directory.
type Factors struct {
	Manifest Manifest
	Users    Table
	Items    Table
}

// Load reads the factor directory dir: the manifest, then every part file
// of user_factors and item_factors, checking everything against the
// manifest and lim. It returns the factors or an error (ErrMalformed,
// ErrTooLarge, or the file system's), never a partial set.
func Load(ctx context.Context, dir string, lim Limits) (*Factors, error) {
	m, err := readManifest(filepath.Join(dir, ManifestFile), lim)
	if err != nil {
		return nil, err
	}
	f := &Factors{Manifest: m}
	if f.Users, err = loadSide(ctx, filepath.Join(dir, UserDir), UserColumn, m.Rank, m.Users, lim); err != nil {
		return nil, err
	}
	if f.Items, err = loadSide(ctx, filepath.Join(dir, ItemDir), ItemColumn, m.Rank, m.Items, lim); err != nil {
		return nil, err
	}
	return f, nil
}

func readManifest(path string, lim Limits) (Manifest, error) {
	var m Manifest
	fh, err := os.Open(path)
	if err != nil {
		return m, fmt.Errorf("sparkals: open manifest: %w", err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxManifest+1))
	if err != nil {
		return m, fmt.Errorf("sparkals: read manifest: %w", err)
	}
	if len(b) > maxManifest {
		return m, fmt.Errorf("%w: manifest over %d bytes", ErrTooLarge, maxManifest)
	}
	return ParseManifest(b, lim)
}

// ParseManifest decodes and checks manifest.json: the format tag, a rank
// in 1..lim.MaxRank, row counts in 0..lim.MaxRows, and no unknown fields.
func ParseManifest(b []byte, lim Limits) (Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("%w: manifest: %v", ErrMalformed, err)
	}
	if dec.More() {
		return Manifest{}, fmt.Errorf("%w: manifest: data after the object", ErrMalformed)
	}
	switch {
	case m.Format != Format:
		return Manifest{}, fmt.Errorf("%w: manifest format %q, want %q", ErrMalformed, m.Format, Format)
	case m.Rank < 1 || m.Users < 0 || m.Items < 0:
		return Manifest{}, fmt.Errorf("%w: manifest rank %d, users %d, items %d", ErrMalformed, m.Rank, m.Users, m.Items)
	case m.Rank > lim.MaxRank:
		return Manifest{}, fmt.Errorf("%w: rank %d over %d", ErrTooLarge, m.Rank, lim.MaxRank)
	case m.Users > lim.MaxRows || m.Items > lim.MaxRows:
		return Manifest{}, fmt.Errorf("%w: %d users, %d items, limit %d rows", ErrTooLarge, m.Users, m.Items, lim.MaxRows)
	case m.Users*m.Rank > lim.MaxValues || m.Items*m.Rank > lim.MaxValues:
		return Manifest{}, fmt.Errorf("%w: %d values per side over %d", ErrTooLarge, max(m.Users, m.Items)*m.Rank, lim.MaxValues)
	}
	return m, nil
}

// partFiles lists dir's Parquet part files in name order, ignoring
// Spark's marker and checksum files (names starting with "_" or ".").
func partFiles(dir string, lim Limits) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("sparkals: list %s: %w", filepath.Base(dir), err)
	}
	var out []string
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, "_") || strings.HasPrefix(name, ".") {
			continue
		}
		if !e.Type().IsRegular() || !strings.HasSuffix(name, ".parquet") {
			return nil, fmt.Errorf("%w: %s/%s is not a .parquet file", ErrMalformed, filepath.Base(dir), name)
		}
		if out = append(out, filepath.Join(dir, name)); len(out) > lim.MaxFiles {
			return nil, fmt.Errorf("%w: over %d part files in %s", ErrTooLarge, lim.MaxFiles, filepath.Base(dir))
		}
	}
	slices.Sort(out)
	return out, nil
}

// loadSide reads every part file of one side into one table of exactly
// rows rows of rank factors.
func loadSide(ctx context.Context, dir, idColumn string, rank, rows int, lim Limits) (Table, error) {
	files, err := partFiles(dir, lim)
	if err != nil {
		return Table{}, err
	}
	acc := newAccumulator(rank, min(rows, lim.MaxRows), lim)
	for _, path := range files {
		if err := ctx.Err(); err != nil {
			return Table{}, err
		}
		if err := readFile(path, idColumn, acc, lim); err != nil {
			return Table{}, err
		}
	}
	if len(acc.ids) != rows {
		return Table{}, fmt.Errorf("%w: %s has %d rows, the manifest says %d", ErrMalformed, filepath.Base(dir), len(acc.ids), rows)
	}
	return acc.table(), nil
}

func readFile(path, idColumn string, acc *accumulator, lim Limits) error {
	fh, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("sparkals: open %s: %w", filepath.Base(path), err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return fmt.Errorf("sparkals: stat %s: %w", filepath.Base(path), err)
	}
	if st.Size() > lim.MaxFileBytes {
		return fmt.Errorf("%w: %s is %d bytes, limit %d", ErrTooLarge, filepath.Base(path), st.Size(), lim.MaxFileBytes)
	}
	if err := parse(fh, st.Size(), idColumn, acc); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return nil
}

// Parse reads one Parquet part file of size bytes whose id column is
// idColumn (UserColumn or ItemColumn). rank is the expected rank; 0 takes
// the first row's. The result is checked like Load's.
func Parse(r io.ReaderAt, size int64, idColumn string, rank int, lim Limits) (Table, error) {
	if size > lim.MaxFileBytes {
		return Table{}, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, size, lim.MaxFileBytes)
	}
	if rank > lim.MaxRank {
		return Table{}, fmt.Errorf("%w: rank %d over %d", ErrTooLarge, rank, lim.MaxRank)
	}
	acc := newAccumulator(rank, 0, lim)
	if err := parse(r, size, idColumn, acc); err != nil {
		return Table{}, err
	}
	return acc.table(), nil
}

// accumulator collects rows across the part files of one side.
type accumulator struct {
	rank   int
	lim    Limits
	ids    []string
	seen   map[string]bool
	values []float64
}

func newAccumulator(rank, rowsHint int, lim Limits) *accumulator {
	return &accumulator{rank: rank, lim: lim, seen: make(map[string]bool, rowsHint), ids: make([]string, 0, rowsHint)}
}

func (a *accumulator) add(id string, features []float64) error {
	if !model.ValidID(id) {
		return fmt.Errorf("%w: invalid id %q", ErrMalformed, id)
	}
	if a.seen[id] {
		return fmt.Errorf("%w: duplicate id %q", ErrMalformed, id)
	}
	if len(features) == 0 {
		return fmt.Errorf("%w: id %q has no factors", ErrMalformed, id)
	}
	if a.rank == 0 {
		if len(features) > a.lim.MaxRank {
			return fmt.Errorf("%w: rank %d over %d", ErrTooLarge, len(features), a.lim.MaxRank)
		}
		a.rank = len(features)
	}
	if len(features) != a.rank {
		return fmt.Errorf("%w: id %q has %d factors, want %d", ErrMalformed, id, len(features), a.rank)
	}
	if len(a.ids) >= a.lim.MaxRows || (len(a.ids)+1)*a.rank > a.lim.MaxValues {
		return fmt.Errorf("%w: over %d rows or %d values", ErrTooLarge, a.lim.MaxRows, a.lim.MaxValues)
	}
	for _, v := range features {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: id %q has a non-finite factor %v", ErrMalformed, id, v)
		}
	}
	a.seen[id] = true
	a.ids = append(a.ids, id)
	a.values = append(a.values, features...)
	return nil
}

func (a *accumulator) table() Table {
	if len(a.ids) == 0 {
		return Table{}
	}
	return Table{IDs: a.ids, Factors: mat.NewDense(len(a.ids), a.rank, a.values)}
}

// parse reads one file into acc. parquet-go panics on some corrupt
// inputs (found by FuzzParse); a panic is reported as ErrMalformed.
func parse(r io.ReaderAt, size int64, idColumn string, acc *accumulator) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: corrupt Parquet file: %v", ErrMalformed, p)
		}
	}()
	if err := checkFooter(r, size); err != nil {
		return err
	}
	f, err := parquet.OpenFile(r, size, parquet.SkipBloomFilters(true), parquet.SkipPageIndex(true))
	if err != nil {
		return fmt.Errorf("%w: open Parquet: %v", ErrMalformed, err)
	}
	idLeaf, featLeaf, err := columns(f.Schema(), idColumn)
	if err != nil {
		return err
	}
	buf := make([]parquet.Row, 64)
	var features []float64
	for _, rg := range f.RowGroups() {
		rows := rg.Rows()
		for {
			n, rerr := rows.ReadRows(buf)
			for _, row := range buf[:n] {
				id, idSeen := "", 0
				features = features[:0]
				for _, v := range row {
					switch v.Column() {
					case idLeaf.ColumnIndex:
						if v.IsNull() || v.DefinitionLevel() < idLeaf.MaxDefinitionLevel {
							rows.Close()
							return fmt.Errorf("%w: null %s", ErrMalformed, idColumn)
						}
						id, idSeen = string(v.ByteArray()), idSeen+1
					case featLeaf.ColumnIndex:
						if v.IsNull() || v.DefinitionLevel() < featLeaf.MaxDefinitionLevel {
							rows.Close()
							return fmt.Errorf("%w: null or empty %s of %q", ErrMalformed, FeaturesColumn, id)
						}
						if v.Kind() == parquet.Float {
							features = append(features, float64(v.Float()))
						} else {
							features = append(features, v.Double())
						}
					}
				}
				if idSeen != 1 {
					rows.Close()
					return fmt.Errorf("%w: row without one %s", ErrMalformed, idColumn)
				}
				if err := acc.add(id, features); err != nil {
					rows.Close()
					return err
				}
			}
			if errors.Is(rerr, io.EOF) {
				break
			}
			if rerr != nil {
				rows.Close()
				return fmt.Errorf("%w: read rows: %v", ErrMalformed, rerr)
			}
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("%w: close rows: %v", ErrMalformed, err)
		}
	}
	return nil
}

// maxFooter bounds a Parquet file's footer (its schema and row-group
// metadata): a factor file's is a few KiB per row group.
const maxFooter = 16 << 20

// checkFooter checks the magic bytes and that the footer length fits in
// the file and under maxFooter before parquet-go reads it: parquet-go
// allocates the length the file claims (up to 4 GiB) without checking it
// against the file size (found by FuzzParse).
func checkFooter(r io.ReaderAt, size int64) error {
	if size < 12 {
		return fmt.Errorf("%w: %d bytes is too short for Parquet", ErrMalformed, size)
	}
	var head, tail [4]byte
	var foot [8]byte
	if _, err := r.ReadAt(head[:], 0); err != nil {
		return fmt.Errorf("%w: read header: %v", ErrMalformed, err)
	}
	if _, err := r.ReadAt(foot[:], size-8); err != nil {
		return fmt.Errorf("%w: read footer: %v", ErrMalformed, err)
	}
	copy(tail[:], foot[4:])
	if string(head[:]) != "PAR1" || string(tail[:]) != "PAR1" {
		return fmt.Errorf("%w: open Parquet: no PAR1 magic", ErrMalformed)
	}
	n := int64(binary.LittleEndian.Uint32(foot[:4]))
	if n > size-12 || n > maxFooter {
		return fmt.Errorf("%w: open Parquet: footer of %d bytes in a file of %d", ErrMalformed, n, size)
	}
	return nil
}

// columns finds the id column (a top-level string) and the one leaf of
// the features list (FLOAT or DOUBLE, repeated once: Spark's three-level
// LIST or the legacy two-level form).
func columns(s *parquet.Schema, idColumn string) (id, feat parquet.LeafColumn, err error) {
	var okID, okFeat bool
	for _, path := range s.Columns() {
		leaf, ok := s.Lookup(path...)
		if !ok {
			continue
		}
		switch {
		case len(path) == 1 && path[0] == idColumn:
			if leaf.Node.Type().Kind() != parquet.ByteArray || leaf.MaxRepetitionLevel != 0 {
				return id, feat, fmt.Errorf("%w: column %s is not a string", ErrMalformed, idColumn)
			}
			id, okID = leaf, true
		case len(path) > 1 && path[0] == FeaturesColumn:
			if okFeat {
				return id, feat, fmt.Errorf("%w: column %s has more than one leaf", ErrMalformed, FeaturesColumn)
			}
			k := leaf.Node.Type().Kind()
			if (k != parquet.Float && k != parquet.Double) || leaf.MaxRepetitionLevel != 1 {
				return id, feat, fmt.Errorf("%w: column %s is not an array of float or double", ErrMalformed, FeaturesColumn)
			}
			feat, okFeat = leaf, true
		}
	}
	if !okID || !okFeat {
		return id, feat, fmt.Errorf("%w: want columns %s and %s", ErrMalformed, idColumn, FeaturesColumn)
	}
	return id, feat, nil
}
