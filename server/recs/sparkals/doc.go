// Package sparkals reads and writes the ALS factors that an external
// trainer (Spark MLlib's ALS over the relay's exported event log) hands
// back to the relay, so relayrecs can build playlists from them instead of
// training in process (docs/ARCHITECTURE.md §9, "At scale: Spark MLlib
// hand-off").
//
// A factor directory holds:
//
//	manifest.json            {"format": "segue.als-factors.v1", "run_id", "export_id",
//	                          "created" (RFC 3339), "rank", "users", "items"}
//	user_factors/*.parquet   columns user STRING, features ARRAY<FLOAT|DOUBLE>
//	item_factors/*.parquet   columns track STRING, features ARRAY<FLOAT|DOUBLE>
//
// The Parquet part files are what Spark's DataFrameWriter.parquet writes
// (one or more part-*.parquet; names starting with "_" or "." such as
// _SUCCESS and .crc files are ignored). features uses Spark's name for the
// factor column of ALSModel.userFactors/itemFactors; the job maps Spark's
// integer ids back to Segue's string ids (StringIndexer labels) before
// writing. The manifest is written last and names the row counts, so a
// directory still being copied is refused rather than half read.
//
// Everything read is untrusted: Load and Parse check the format, ranks,
// ids (model.ValidID, no duplicates), values (no NaN or ±Inf, no null) and
// the Limits, and return an error wrapping ErrMalformed or ErrTooLarge;
// they never return partial factors.
package sparkals
