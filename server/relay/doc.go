// Package relay is Segue's relay server: an Echo HTTP API over a data
// directory (Badger store, catalog and keys) that registers devices,
// serves catalog metadata, acts as the audio origin for encrypted manifest,
// header and chunk blobs, and hands out streaming content keys sealed to
// the requesting device with HPKE. The routes, auth scheme and key schema
// are fixed in docs/ARCHITECTURE.md §4–5.
//
// Run it standalone:
//
//	srv, err := relay.New(ctx, relay.DefaultOptions("/var/lib/segue").
//		WithListen("127.0.0.1:7474").
//		WithAdminToken(os.Getenv("SEGUE_ADMIN_TOKEN")))
//	if err != nil {
//		return err
//	}
//	defer srv.Close()
//	return srv.ListenAndServe(ctx) // graceful shutdown when ctx ends
//
// or embed it: Handler returns the whole API as an http.Handler. Other
// packages add authenticated endpoints before serving with Mount:
//
//	srv.Mount(func(v1 *relay.DeviceRoutes) {
//		v1.GET("/sync", func(c echo.Context) error {
//			dev, _ := relay.DeviceFrom(c) // set by the auth middleware
//			...
//		})
//	})
//
// # Authentication
//
// An account (POST /v1/accounts, username and password, Argon2id-hashed)
// registers devices with POST /v1/devices. The device proves it holds its
// Ed25519 key by signing crypto.DeviceProofMessage; the relay answers with a
// random 32-byte token (base64url), stored only as its SHA-256. Every
// route except /healthz then needs "Authorization: Bearer <token>" (or
// ?token= on /v1/sync and the LongLived routes, which browsers open without
// headers); /metrics needs the admin token.
//
// Password checks are unauthenticated, so they run inside a memory budget
// (WithHashMemory, WithHashQueue: 503 + Retry-After when full) and a
// per-account and per-address backoff (WithLoginLimits: 429 +
// Retry-After); unknown users cost the same hash as known ones.
//
// # Audio origin
//
// Blobs are served with http.ServeContent (Range, If-Range, HEAD, 304,
// 416), a strong ETag equal to the blob's SHA-256 hex and CDN-friendly
// Cache-Control (CacheImmutable for content-addressed /v1/blobs/{hash},
// CachePositional for the (track, tier, index) URLs).
package relay
