// Package playsim simulates a population of accounts producing play events
// as the relay logs them (device, user, api.PlayRecord), for evaluating
// fraud detection (server/fraud). Everything is seeded and deterministic:
// the same Options and Shape give the same plays, byte for byte.
//
// Humans are shaped on real listening data (ShapeFromLastFM over
// lastfm-2k, loaded at evaluation time, never copied into the
// repository): each simulated human takes a real listener's artist
// weights and friend count, lives in a time zone with a day/night rhythm,
// listens in sessions (albums in order, an artist's tracks, their own
// playlist, single tracks) with skips at human-like times, sometimes
// offline, sometimes muted, on one to three devices, some sharing a family
// device or a carrier-grade NAT. A few are hard cases: background
// listening all workday, falling asleep to the same short playlist.
//
// Bots follow one of Strategies, several of them imitating humans; they
// promote the tracks of artists no human listens to, with popular tracks
// as cover. The facts play events do not carry (IP, friends, library
// edits) come with each Account.
package playsim
