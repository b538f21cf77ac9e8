// Package social is the relay's social layer (docs/ARCHITECTURE.md §10):
//
//   - a follow graph held by the relay (soc/fo/, soc/fi/ in the relay's
//     store), mutual follows being friends, and blocks that end follows
//     both ways and hide each user from the other;
//   - profiles: display name, public playlists (from the relay's owner
//     records and the playlists' content), top artists when allowed;
//   - live friend activity: devices POST what they play, friends receive
//     it over a Server-Sent Events stream within milliseconds (an
//     in-memory hub by user), the latest activity per user is persisted
//     behind the fan-out; private sessions (device side) and hidden
//     activity (relay side) publish nothing;
//   - share links: 128-bit tokens (only their hash stored) naming a track,
//     album or playlist, a public page with Open Graph and Twitter card
//     tags rendered with html/template, a 1200×630 PNG card drawn in Go
//     with a generated cover and a waveform decoded from the relay's own
//     encrypted audio, revocation, rate-limited creation, playlist
//     follow and expiring collaborator invites. Previews and waveforms
//     decrypt audio only with keys from catalog.ContentKeyAt at the
//     relay's clock: nothing of an embargoed track is played or drawn
//     before its release, and its shares are refused until then.
//
// Every route takes the caller from the device token (relay.DeviceFrom),
// never from the request body. Create a Service with New or NewForRelay
// and add its routes with Mount.
package social
