// Package ingest turns masters into published catalog tracks: WAV or FLAC
// masters (or already-encoded Ogg Vorbis tiers) plus metadata → loudness
// measured once on the master → four Ogg Vorbis tiers encoded with oggenc
// (ffmpeg as fallback) → segmentation (package segment) → AES-128-CTR
// encrypted blobs → signed manifests → one atomic catalog.Publish per
// album.
//
//	dd, err := catalog.OpenDataDir(ctx, "/var/lib/segue")
//	if err != nil {
//		return err
//	}
//	defer dd.Close()
//	req, err := ingest.LoadAlbum(os.DirFS("masters"), "album.json")
//	if err != nil {
//		return err
//	}
//	res, err := ingest.Ingest(ctx, dd.Catalog, dd.Signer, req, ingest.DefaultOptions())
//
// Metadata comes from an album.json sidecar (LoadAlbum), per-file
// "<master>.json" sidecars (LoadFiles), and the FLAC master's Vorbis
// comments (TITLE, ARTIST, ALBUM, ALBUMARTIST, TRACKNUMBER, DISCNUMBER,
// ISRC, DATE) for fields the sidecar leaves empty. An ISRC must be
// CCXXXYYNNNNN (model.ValidISRC): a sidecar's other form is refused, a
// tag's is upper-cased without hyphens and dropped when still invalid.
//
// Ids are deterministic (catalog.TrackIDFromMaster of the master's SHA-256)
// and a master already in the catalog is skipped, so re-ingesting is
// idempotent. A failed ingest publishes nothing; blobs it had stored are
// unreferenced and catalog GC removes them. Every error names the file it
// concerns and wraps one of the package's sentinel errors.
//
// Tiers: very_high, high and normal are oggenc -q 9, 5 and 2 at the
// master's rate (at most 48 kHz); low is -q −1 at 16 kHz (nominal 24 kbps,
// stereo kept). A tier at another rate than the master's is cut from the
// track's gapless run (its album's consecutive tracks) resampled once, so
// the album stays sample-exact at every tier, and its manifest records
// model.Timing. Each tier's exact sample count is checked against the
// master's (model.ResampledSpan at a resampled rate).
package ingest
