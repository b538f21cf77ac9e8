// Package catalog is the relay's catalog: tracks, albums, artists, signed
// manifests, sealed content keys and content-addressed encrypted blobs,
// all kept in a store.Store under the key schema of docs/ARCHITECTURE.md §5.
//
// Writers (the ingest pipeline) put blobs first with PutBlob, then make the
// release visible with one Publish, which writes every catalog entry,
// manifest and content key in a single atomic store.Update. A failed ingest
// therefore leaves at most unreferenced blobs, which no reader can reach and
// which GC deletes. Readers (the relay's HTTP API) use Track, Album, Artist,
// ArtistAlbums, Manifest, ContentKeyAt and Blob. Content keys leave the
// catalog only through ContentKeyAt (or a KeyIssuer from KeysAt, for the
// many keys of one request), which refuses them while the track's album
// is embargoed (model.Album.ReleaseAt) at the caller's clock.
//
//	dd, err := catalog.OpenDataDir(ctx, "/var/lib/segue")
//	if err != nil {
//		return err
//	}
//	defer dd.Close()
//	tr, err := dd.Catalog.Track(ctx, "tr...")
//	env, err := dd.Catalog.Manifest(ctx, tr.ID, model.TierHigh)
//
// Content keys are sealed at rest with AES-256-GCM under the relay's
// AtRestKey, with the store key as additional data so a sealed key cannot
// be moved to another (track, tier).
//
// Catalog values are CBOR in the core deterministic encoding, so equal
// entities encode to equal bytes and re-publishing an unchanged release
// rewrites identical values.
package catalog
