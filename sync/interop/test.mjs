// test.mjs is a stock automerge-repo client for the interop test:
//   node test.mjs <ws-url-with-token> <automerge-url> <adds> <expected-total>
// It finds the playlist through the Go relay, appends <adds> entries in
// Segue's playlist model (entries: id → {trackId, pos, addedBy, addedAt}),
// waits until the document holds <expected-total> entries, prints the
// track ids in playlist order (by pos, then entry id) as one JSON line,
// and keeps syncing until stdin closes. Ids are written as
// ImmutableString: Automerge 3 stores plain JS strings as collaborative
// text, while Segue's model (DESIGN §5) uses scalar strings. On failure it prints
// {"error": "..."} and exits 1.
import { Repo, ImmutableString } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"

const [url, docUrl, addsArg, totalArg] = process.argv.slice(2)
const adds = Number(addsArg), total = Number(totalArg)
const repo = new Repo({ network: [new WebSocketClientAdapter(url, 200)], peerId: "js-" + process.pid })

function order(doc) {
  return Object.entries(doc.entries ?? {})
    .sort(([ia, a], [ib, b]) => (a.pos.toString() < b.pos.toString() ? -1 : a.pos.toString() > b.pos.toString() ? 1 : ia < ib ? -1 : ia > ib ? 1 : 0))
    .map(([, e]) => e.trackId.toString())
}

try {
  const handle = await repo.find(docUrl)
  handle.change(d => {
    for (let i = 0; i < adds; i++) {
      const poses = Object.values(d.entries).map(e => e.pos.toString()).sort()
      const last = poses.length ? poses[poses.length - 1] : "V"
      d.entries[`js${process.pid}x${i}`] = { trackId: new ImmutableString(`js-${i}`), pos: new ImmutableString(last + "V"), addedBy: new ImmutableString("bob"), addedAt: new Date(1700000000000) }
    }
  })
  const deadline = Date.now() + 20000
  while (Object.keys(handle.doc().entries).length < total) {
    if (Date.now() > deadline) throw new Error(`timeout with ${Object.keys(handle.doc().entries).length} entries`)
    await new Promise(r => setTimeout(r, 50))
  }
  console.log(JSON.stringify({ order: order(handle.doc()) }))
} catch (e) {
  console.log(JSON.stringify({ error: String(e?.message ?? e) }))
  process.exit(1)
}
process.stdin.resume()
process.stdin.on("end", () => process.exit(0))
