// ampeer.mjs is a bare Automerge sync peer for the Go compatibility test:
// it speaks raw Automerge sync messages framed as 4-byte big-endian length
// + bytes on stdin/stdout. It starts from a document holding
// {js: [<argv[2]> …]}, answers every incoming frame with its next sync
// message (an empty frame when it has nothing to say) and, when stdin
// closes, writes one final frame holding the document as JSON.
import * as A from "@automerge/automerge"

let doc = A.from({ js: process.argv.slice(2) })
let state = A.initSyncState()

function frame(bytes) {
  const h = Buffer.alloc(4)
  h.writeUInt32BE(bytes.length)
  process.stdout.write(Buffer.concat([h, Buffer.from(bytes)]))
}

let buf = Buffer.alloc(0)
process.stdin.on("data", chunk => {
  buf = Buffer.concat([buf, chunk])
  while (buf.length >= 4) {
    const n = buf.readUInt32BE(0)
    if (buf.length < 4 + n) break
    const msg = buf.subarray(4, 4 + n)
    buf = buf.subarray(4 + n)
    if (n > 0) {
      ;[doc, state] = A.receiveSyncMessage(doc, state, new Uint8Array(msg))
    }
    const [next, out] = A.generateSyncMessage(doc, state)
    state = next
    frame(out ?? new Uint8Array(0))
  }
})
process.stdin.on("end", () => {
  frame(Buffer.from(JSON.stringify(doc)))
})
