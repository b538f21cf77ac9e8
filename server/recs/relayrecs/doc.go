// Package relayrecs runs recommendations on the relay (issue 14): it
// trains implicit ALS (server/recs) on the counted plays, builds every
// listener's Discover Weekly, Daily Mixes and Release Radar, and delivers
// them as service-owned playlist documents the relay writes itself as a
// local peer of its document repository.
//
// Documents: one per (listener, kind), created once with a random id
// recorded as owned by docs.ServiceUser (own/<doc>) and under
// recs/doc/<user>/<kind>; the listener's library follows it, so every
// device of the listener syncs it and can download it like any
// playlist. peer.DocumentAccess lets only the listener named in the
// document read it and no remote peer write it, so a listener's edit is
// refused by the relay (and by core.Playlists before it is made). A new
// period replaces the content in one commit under the same id.
//
// Schedule: Period gives each family's period in the listener's time
// zone (recs/tz/<user>, UTC by default): Discover Weekly from Monday
// 00:00, Daily Mixes from 00:00 every day, Release Radar from Friday
// 00:00. RunDue delivers whatever is due and not yet delivered
// (recs/done/<user>/<family>), so runs are idempotent; a failed or late
// run leaves the previous content in place and the next run retries.
// Run calls RunDue every tick; every decision reads the injected clock.
//
//	svc := relayrecs.New(dd.Store, dd.Catalog, srv.Docs(), relayrecs.CountedPlays(dd.Store), relayrecs.DefaultOptions())
//	svc.Mount(srv)
//	go svc.Run(ctx)
package relayrecs
