// Package testbed is the shared test fixture "a real relay serving the
// demo album": a server/relay on 127.0.0.1 over Badger in a temporary data
// directory, the demo album ingested through server/ingest (its committed
// Ogg Vorbis tiers, so no encoder runs), and registered core.Engine
// devices talking to it.
//
// It exists for tests only: test files of core, server/relay, cmd/segue,
// examples and sync import it; no non-test code may (it imports server/*,
// which nothing but cmd and examples may depend on).
//
//	func TestSomething(t *testing.T) {
//		r := testbed.NewRelay(t, testbed.DefaultOptions())
//		e := testbed.Device(t, r, "ada")
//		tr, err := e.OpenTrack(t.Context(), r.Tracks[0], model.TierLow)
//		...
//	}
//
// A relay without a catalog (sync-only tests) is
// testbed.DefaultOptions().WithDemoAlbum(false); Stop and Restart take it
// down and bring it back on the same data directory and address, so
// devices keep their origin URL across a restart.
package testbed
