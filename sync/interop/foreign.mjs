// foreign.mjs is a stock automerge-repo client with the default share
// policy (it announces every document it holds) for the interop test:
//   node foreign.mjs <ws-url-with-token> <foreign-doc-url> <user>
// It holds three documents: one under the id of a document the relay
// keeps for another user (foreign: the relay answers doc-unavailable),
// a playlist naming "ada" as its owner (the relay refuses to create it:
// error), and the user's own playlist with one entry. It prints
// {"own": url, "forged": url}, then, when stdin closes, {"disconnects": n}
// (how often the WebSocket closed) and exits.
import { Repo, ImmutableString } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import * as A from "@automerge/automerge"

const [url, foreignUrl, user] = process.argv.slice(2)
const S = s => new ImmutableString(s)
const adapter = new WebSocketClientAdapter(url, 200)
let disconnects = 0
adapter.on("peer-disconnected", () => disconnects++)
const repo = new Repo({ network: [adapter], peerId: "js-" + process.pid })

const playlist = (owner, name) => ({
  type: S("playlist"), name: S(name), description: S(""), owner: S(owner),
  collaborators: {}, public: false, entries: {},
})
repo.import(A.save(A.from(playlist(user, "not yours"))), { docId: foreignUrl.replace("automerge:", "") })
const forged = repo.create(playlist("ada", "forged"))
const own = repo.create(playlist(user, "mine"))
own.change(d => {
  d.entries["e1"] = { trackId: S("t1"), pos: S("V"), addedBy: S(user), addedAt: new Date(1700000000000) }
})
console.log(JSON.stringify({ own: own.url, forged: forged.url }))
process.stdin.resume()
process.stdin.on("end", () => {
  console.log(JSON.stringify({ disconnects }))
  process.exit(0)
})
