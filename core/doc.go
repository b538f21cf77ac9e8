// Package core is Segue's embeddable engine: open it on a data directory,
// register the device with a relay, and play tracks into a player.Sink the
// app provides (examples/minimal is a complete program).
//
//	e, err := core.Open(ctx, dir, core.DefaultOptions().
//		WithOrigins("https://relay.example", "https://mirror.example"))
//	if err != nil { … }
//	defer e.Close()
//	if e.Token() == "" {
//		err = e.Register(ctx, "ada", "secret-password", "Ada's phone")
//	}
//	p, err := e.OpenPlayer(sink, player.DefaultOptions()) // sink gets PCM
//	err = e.PlayTrack(ctx, trackID)
//	d, err := e.OpenDocs(ctx, "ada") // playlists and library; the app keeps the account name
//	err = d.StartSync(ctx)
//
// The Examples show each part at work: streaming a track (Example),
// playlists on two devices (ExampleDocs), search (ExampleEngine_Search),
// Close (ExampleEngine_Close) and offline downloads (package download).
//
// An app with its own Vorbis decoder can read a track's clear Ogg stream
// instead (Track.Stream: header ‖ chunk 0 ‖ chunk 1[primer:] ‖ …); like
// the PCM a sink receives, it is clear audio the app must keep in memory.
//
// What the engine guarantees:
//
//   - Every manifest is verified with the catalog's Ed25519 key on every
//     load, and every blob against the SHA-256 and size in that manifest,
//     before any byte is decrypted or handed out. A blob that fails at one
//     origin is fetched from the next (see package fetch); the failure
//     names the origin (fetch.OriginError) and matches ErrIntegrity.
//   - Only encrypted blobs reach the disk: the cache (bounded, LRU) holds
//     the same bytes the relay serves. Decrypted audio exists only in
//     memory, in the player and in what the app reads. Content keys are obtained per
//     (track, tier) from the relay, wrapped to this device's HPKE key, and
//     held in memory only, for Options.WithKeyTTL.
//   - The catalog key is either configured (WithCatalogKey) or trusted on
//     first use: the key returned at registration, or by the first origin,
//     is pinned in the store (cfg/catalog-key) and every later manifest must
//     verify under it.
//   - Cancelling a context stops every request made for it.
//
// Lifecycle: the engine owns everything started on it — the player
// (OpenPlayer), downloads (OpenDownloads), documents (OpenDocs), the play
// history and its HTTP client — and one Close stops them all, in an order
// in which nothing still running reaches a released resource: calls in
// flight are cancelled and waited for, then the player, downloads,
// documents, history, cache recency, idle connections, store. After
// Close every method returns ErrClosed (Close, ClosePlayer,
// CloseDownloads and Docs.Close return nil). Only what the app passed in
// stays the app's: the player's sink, a WithStore store, a WithHTTPClient
// client, a WithKeyStore key store.
//
// Open does no network I/O, so an engine opens offline; tracks whose
// manifest and blobs are cached and whose content key is still in memory
// play with every origin down. (Offline playback across restarts needs
// offline licenses, a separate subsystem.)
//
// Search (Engine.Search) asks the relay when it answers and otherwise a
// local index of what the device holds (downloads, library, playlists,
// recent plays), with the relay's matching and ranking
// (core/searchindex); background refreshes of that index are engine calls
// too, so Close cancels and waits for them.
package core
