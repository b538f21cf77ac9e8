// Package metadata imports catalog metadata that labels deliver before
// audio: artists, albums (release date, label, genres, cover art
// reference) and tracks (title, main and featured artists, album,
// duration, disc and track number, ISRC, explicit flag, popularity), one
// JSON object per line (JSON Lines).
//
// An import is all or nothing. Every line is parsed and validated first
// (Validate: strict JSON with each key spelt exactly and given once,
// field limits, references to artists and albums
// either in the file or already imported, unique ids and ISRCs), and any
// invalid line refuses the whole file with per-line errors before anything
// is written. The records are then written in chunked transactions, each
// keeping an undo log of what it overwrote (cmeta/undo/…) under a journal
// (cmeta/journal). The import commits with one transaction that marks the
// journal committed; a failure before that point, or a crash found by
// Recover at the next start, rolls every chunk back from the undo log. A
// store therefore never holds a half-applied import once Recover has run.
//
// Keys (docs/ARCHITECTURE.md §5):
//
//	cmeta/artist/<id> → CBOR Artist
//	cmeta/album/<id>  → CBOR Album
//	cmeta/track/<id>  → CBOR Track
//	cmeta/isrc/<ISRC> → track id
//	cmeta/audio/<id>  → catalog track id whose audio the imported track plays
//	cmeta/journal     → CBOR journal of the import in progress
//	cmeta/undo/<seq>  → CBOR undo record of the import in progress
//
// A Hook (the search index) adds its own writes to each chunk, covered by
// the same undo log, and is told when the import has committed.
package metadata
