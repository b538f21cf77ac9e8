// gen-wire-testdata.mjs writes real automerge-repo frames (cbor-x, as the
// WebSocket adapter encodes them) into ../wire/testdata for the Go codec
// tests and fuzz seeds. Run: node gen-wire-testdata.mjs
import { cbor } from "@automerge/automerge-repo/slim"
import * as A from "@automerge/automerge"
import { writeFileSync } from "node:fs"

import { generateAutomergeUrl, parseAutomergeUrl } from "@automerge/automerge-repo/slim"
const { documentId } = parseAutomergeUrl(generateAutomergeUrl())

let doc = A.from({ name: "road trip", entries: ["a", "b"] })
const [, syncData] = A.generateSyncMessage(doc, A.initSyncState())

const frames = {
  join: { type: "join", senderId: "js-peer", peerMetadata: { storageId: "st-1", isEphemeral: false }, supportedProtocolVersions: ["1"] },
  peer: { type: "peer", senderId: "relay", targetId: "js-peer", peerMetadata: {}, selectedProtocolVersion: "1" },
  request: { type: "request", senderId: "js-peer", targetId: "relay", documentId, data: syncData },
  sync: { type: "sync", senderId: "js-peer", targetId: "relay", documentId, data: syncData },
  unavailable: { type: "doc-unavailable", senderId: "relay", targetId: "js-peer", documentId },
  ephemeral: { type: "ephemeral", senderId: "js-peer", targetId: "relay", documentId, count: 3, sessionId: "k2j3h4", data: cbor.encode({ cursor: 5 }) },
  error: { type: "error", senderId: "relay", targetId: "js-peer", message: "unsupported protocol version" },
  heads: { type: "remote-heads-changed", senderId: "js-peer", targetId: "relay", documentId, newHeads: { "st-1": { heads: ["abc"], timestamp: 1700000000000 } } },
}
for (const [name, msg] of Object.entries(frames)) {
  writeFileSync(`../wire/testdata/${name}.cbor`, cbor.encode(msg))
}
writeFileSync(`../wire/testdata/syncmsg.bin`, syncData)
