// Package api holds the wire types of the relay's HTTP API
// (docs/ARCHITECTURE.md §4): the JSON request and answer bodies of the
// device, catalog, stream-key and license routes, the error body, and the
// signed statement the license routes return in the Segue-Statement
// header.
//
// It is the single definition shared by both ends: the relay
// (server/relay, server/license) decodes requests into these types and
// encodes answers from them, and the engine (core, core/download) does the
// reverse. core must not import server, so the types live here, in a leaf
// package that imports only the standard library and core/model. The
// signing formats over some of these fields (crypto.DeviceProofMessage,
// crypto.RenewMessage) live in crypto.
//
// The types carry no behaviour beyond encoding: validation of sizes and
// values is the receiver's job (the relay checks requests, the engine
// checks answers). []byte fields are standard base64 in JSON.
//
// A device asking for a stream key:
//
//	body, _ := json.Marshal(api.StreamKeyRequest{Track: "t1", Tier: model.TierLow})
//	// POST /v1/keys/stream with body; decode the answer:
//	var out api.StreamKeyResponse
//	_ = json.Unmarshal(answer, &out)
package api
