// Package license is the relay's license server (DESIGN §4): offline
// licenses for tracks and albums, one-request renewal, the offline-device
// limit, device deregistration and subscription states.
//
// The routes' wire types (requests, statuses, the signed statement) are
// defined once in core/api, shared with the engine. Every response
// carries an api.StatementHeader: a statement {server time, device,
// status, request nonce} signed with the catalog key, which the device
// verifies and feeds to its crypto.TrustedClock; refusals carry their
// reason (api.StatusSubscriptionCancelled, api.StatusRevoked, …) the same
// way, so a device cannot be tricked into deleting or keeping licenses by
// an unsigned answer.
//
// Mount it on a relay built over the same data directory:
//
//	dd, _ := catalog.OpenDataDir(ctx, dir)
//	srv := relay.NewWithDataDir(dd, relay.DefaultOptions(dir))
//	license.NewForDataDir(dd, license.DefaultOptions().WithAdminToken(tok)).Mount(srv)
//	addr, _ := srv.Start(ctx)
//
// Routes: POST /v1/licenses (device token), POST /v1/licenses/renew
// (device signature over crypto.RenewMessage, so a deregistered device can still
// be told it was revoked), DELETE /v1/devices/{id} (device token of the
// same account), PUT/GET /v1/admin/subscriptions/{user} (admin token).
package license
