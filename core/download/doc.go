// Package download is the engine's offline half (DESIGN §4): licensed,
// encrypted downloads that play with no network and stop when they must.
//
// A Manager keeps a durable job table in the device store (dl/… keys,
// docs/ARCHITECTURE.md §5). A request (track, album or playlist at a tier)
// is resolved to tracks, licensed in one request to the relay (one signed
// license per request, content keys sealed to this device's HPKE key;
// tracks the relay reports unavailable — unknown, taken down, not
// released — are left out with their reason, ItemStatus.Unavailable),
// and each track's blobs are streamed to content-addressed files
// (Deps.BlobDir/<sha256 hex>, encrypted as served) while they are hashed,
// verified against the signed manifest, fsynced and renamed into place
// before their done bits are committed (grouped) — so a crash or kill -9
// resumes at blob granularity and never refetches a completed blob; at
// start, orphan and partial files are removed and lost ones refetched.
// Blobs are reference counted: tracks shared by several requests are
// stored and counted once, and removal releases what nothing else needs.
// A resolve also records the catalog metadata it found (the album, each
// track's), kept as long as a download holds them, so TrackInfo and
// AlbumInfo answer with no network and a download plays by album or
// playlist with every origin down.
// Playlist downloads follow their documents (core's FollowPlaylists
// calls RefreshPlaylist on every change), and renewal leaves removed
// downloads out of the new license.
//
// Playback of a downloaded track takes its content key from the stored
// license, opened in memory, after checking it against trusted time
// (crypto.TrustedClock fed with the relay's signed statements, persisted
// with its boot epoch): past expiry plus grace it fails with
// ErrLicenseExpired. Renew renews every license in one signed request; a
// deregistered device learns it from a signed statement and deletes its
// licenses (ErrRevoked). Decrypted audio and content keys never reach the
// disk.
//
// Usage, through the engine (package core wires the fetcher hook and the
// key hook):
//
//	m, err := engine.OpenDownloads(ctx, download.DefaultOptions().
//		WithNetworkState(appNetwork).WithEvents(showProgress))
//	err = m.Add(ctx, download.Ref{Kind: download.KindAlbum, ID: albumID, Tier: model.TierHigh})
//	err = m.Wait(ctx)
//	st, err := m.Status(ctx) // tracks, bytes, license expiry
//	t, err := engine.OpenTrack(ctx, trackID, model.TierHigh) // works offline
//	if errors.Is(err, core.ErrLicenseExpired) { /* "connect to verify your subscription" */ }
package download
