package sparkals

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/snappy"
	"gonum.org/v1/gonum/mat"
)

// Precision is the element type Write stores factors as.
type Precision int

const (
	// Float32 is Spark ALS's own element type (ARRAY<FLOAT>).
	Float32 Precision = iota
	// Float64 stores ARRAY<DOUBLE>, exact for factors trained in float64.
	Float64
)

// sparkSchema is the schema Spark writes for a DataFrame (id STRING,
// features ARRAY<elem>) with nullable columns: the three-level LIST of
// the Parquet spec, every level optional.
func sparkSchema(idColumn string, p Precision) *parquet.Schema {
	elem := parquet.Leaf(parquet.FloatType)
	if p == Float64 {
		elem = parquet.Leaf(parquet.DoubleType)
	}
	return parquet.NewSchema("spark_schema", parquet.Group{
		idColumn:       parquet.Optional(parquet.String()),
		FeaturesColumn: parquet.Optional(parquet.List(parquet.Optional(elem))),
	})
}

// WriteTable writes t as one Spark-style Parquet part file (snappy, the
// schema Spark writes for id STRING, features ARRAY<FLOAT|DOUBLE>) to w.
func WriteTable(w io.Writer, idColumn string, t Table, p Precision) error {
	schema := sparkSchema(idColumn, p)
	idLeaf, _ := schema.Lookup(idColumn)
	featLeaf, _ := schema.Lookup(FeaturesColumn, "list", "element")
	pw := parquet.NewWriter(w, schema, parquet.Compression(&snappy.Codec{}))
	rows := make([]parquet.Row, 0, 1)
	for r, id := range t.IDs {
		feats := t.Factors.RawRowView(r)
		row := make(parquet.Row, 0, len(feats)+1)
		for j, v := range feats {
			val := parquet.ValueOf(v)
			if p == Float32 {
				val = parquet.ValueOf(float32(v))
			}
			row = append(row, val.Level(min(j, 1), featLeaf.MaxDefinitionLevel, featLeaf.ColumnIndex))
		}
		idVal := parquet.ValueOf(id).Level(0, idLeaf.MaxDefinitionLevel, idLeaf.ColumnIndex)
		if idLeaf.ColumnIndex < featLeaf.ColumnIndex {
			row = append(parquet.Row{idVal}, row...)
		} else {
			row = append(row, idVal)
		}
		if _, err := pw.WriteRows(append(rows[:0], row)); err != nil {
			return fmt.Errorf("sparkals: write row: %w", err)
		}
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("sparkals: close Parquet writer: %w", err)
	}
	return nil
}

// Write writes a factor directory in the layout Load reads: one part
// file per side, then the manifest (last, as a Spark job must). m's
// Format, Rank, Users and Items are filled in from the tables. It is how
// factors trained in process are handed to tools that expect Spark's
// output, and how the loader is tested.
func Write(dir string, m Manifest, users, items Table, p Precision) error {
	m.Format, m.Users, m.Items = Format, len(users.IDs), len(items.IDs)
	m.Rank = max(users.Rank(), items.Rank())
	if users.Rank() != items.Rank() && len(users.IDs) > 0 && len(items.IDs) > 0 {
		return fmt.Errorf("%w: user rank %d, item rank %d", ErrMalformed, users.Rank(), items.Rank())
	}
	for _, side := range []struct {
		dir, col string
		t        Table
	}{{UserDir, UserColumn, users}, {ItemDir, ItemColumn, items}} {
		if err := os.MkdirAll(filepath.Join(dir, side.dir), 0o755); err != nil {
			return fmt.Errorf("sparkals: %w", err)
		}
		fh, err := os.Create(filepath.Join(dir, side.dir, "part-00000.snappy.parquet"))
		if err != nil {
			return fmt.Errorf("sparkals: %w", err)
		}
		if err := WriteTable(fh, side.col, side.t, p); err != nil {
			fh.Close()
			return err
		}
		if err := fh.Close(); err != nil {
			return fmt.Errorf("sparkals: %w", err)
		}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("sparkals: encode manifest: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ManifestFile), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("sparkals: write manifest: %w", err)
	}
	return nil
}

// NewTable returns the table of ids and the rows of factors (ids[r] ↔
// row r); it shares factors' storage.
func NewTable(ids []string, factors *mat.Dense) Table {
	return Table{IDs: ids, Factors: factors}
}
