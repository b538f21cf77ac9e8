package peer

import "github.com/coder/websocket"

// WebSocket close codes (RFC 6455 private range) with which the relay
// ends a sync connection whose credentials stopped being valid
// (websocket.CloseStatus reads them from a Conn error). A client
// receiving either must not reconnect with the same token.
const (
	// CloseUnauthorized: the device token expired (or was removed).
	CloseUnauthorized websocket.StatusCode = 4401
	// CloseRevoked: the device was deregistered.
	CloseRevoked websocket.StatusCode = 4403
	// CloseRateLimited: the remote sent messages faster than the relay's
	// per-connection limit (the reason says which); it may reconnect
	// after a pause, with the same token.
	CloseRateLimited websocket.StatusCode = 4429
)

// CloseSlowConsumer is the close code (RFC 6455 private range) of a sync
// connection the relay ended because the device stopped reading: a write
// to it stayed blocked longer than the relay allows. The device may
// reconnect.
const CloseSlowConsumer websocket.StatusCode = 4408
