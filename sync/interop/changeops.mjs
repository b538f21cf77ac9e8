// changeops.mjs writes changes made by the stock @automerge/automerge
// (the JS core the web player and other automerge-repo clients use), one
// per kind of operation, for TestDecodeChangeOpsJS:
//   node changeops.mjs
// Each output line is {"kind", "change": base64, "root": [root keys the
// change writes], "obj": the root field whose object the change edits, or ""}.
import * as A from "@automerge/automerge"

let doc = A.from({
  type: "playlist", owner: "alice", name: "Road trip", public: false,
  collaborators: { bob: true }, entries: {}, plays: new A.Counter(0),
})
const out = []
const step = (kind, root, obj, fn) => {
  doc = A.change(doc, fn)
  out.push({ kind, change: Buffer.from(A.getLastLocalChange(doc)).toString("base64"), root, obj })
}
out.push({ kind: "create", change: Buffer.from(A.getLastLocalChange(doc)).toString("base64"),
  root: ["type", "owner", "name", "public", "collaborators", "entries", "plays"], obj: "" })
step("text splice", [], "name", d => { A.splice(d, ["name"], 4, 0, "long ") })
step("text update", [], "name", d => { A.updateText(d, ["name"], "Road movie") })
step("mark", [], "name", d => { A.mark(d, ["name"], { start: 0, end: 4, expand: "both" }, "bold", true) })
step("unmark", [], "name", d => { A.unmark(d, ["name"], { start: 0, end: 2, expand: "none" }, "bold") })
step("collaborator put", [], "collaborators", d => { d.collaborators.carol = true })
step("collaborator delete", [], "collaborators", d => { delete d.collaborators.bob })
step("counter", ["plays"], "", d => { d.plays.increment(3) })
step("entry put", [], "entries", d => { d.entries.e1 = { trackId: "t1", pos: "V", tags: ["a", "b"] } })
step("many entries", [], "entries", d => {
  for (let i = 0; i < 400; i++) d.entries["k" + i] = { trackId: "track-" + i, pos: "P" + i }
})
step("root put", ["public"], "", d => { d.public = true })
step("root delete", ["owner"], "", d => { delete d.owner })
for (const o of out) console.log(JSON.stringify(o))
