// engine-bench.mjs runs the automerge engine workload of issue 10 item 6
// with @automerge/automerge (version from package-lock.json) and prints
// one JSON object of timings (ms) and sizes (bytes). engine_bench_test.go
// runs the same workload with automerge-go and compares.
//
//	node engine-bench.mjs <entries> <edits> <core|frontend>
//
// core: the Wasm core's own API (A.getBackend: put/commit/save/merge),
// what a Go binding of the same Rust core would call. frontend: the
// document API a JS app uses (A.change, A.load, A.merge), which also
// keeps an immutable JS object of the document current.
//
// The document has Segue's playlist shape (sync/docs) with scalar strings
// (DESIGN §5) and the same deterministic ids and positions as the Go side.
import { readFileSync } from "node:fs";
import * as A from "@automerge/automerge";

const n = Number(process.argv[2] ?? 10000);
const edits = Number(process.argv[3] ?? 1000);
const mode = process.argv[4] ?? "core";
if (!(n > 1) || !(edits > 1) || edits % 2 !== 0 || !["core", "frontend"].includes(mode)) {
	console.error("usage: node engine-bench.mjs <entries > 1> <even edits > 1> <core|frontend>");
	process.exit(2);
}

const entryID = (i) => ((BigInt(i + 1) * 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn).toString(16).padStart(16, "0");
const pad = (i) => String(i).padStart(6, "0");
const at = new Date(Date.UTC(2026, 0, 2, 3, 4, 5));
const secs = at.getTime() / 1000;
const now = () => process.hrtime.bigint();
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
const version = JSON.parse(readFileSync(new URL("node_modules/@automerge/automerge/package.json", import.meta.url))).version;
const out = { engine: `@automerge/automerge ${version} (${mode})`, entries: n, edits };

// Each mode supplies build, move, save, load, fork, merge and read.
const S = (s) => new A.ImmutableString(s);
const modes = {
	core: {
		build() {
			const d = A.getBackend(A.init({ actor: "aa".repeat(16) }));
			for (const [k, v] of [["type", "playlist"], ["name", "Big"], ["description", ""], ["owner", "alice"]]) d.put("_root", k, v);
			d.putObject("_root", "collaborators", {});
			d.put("_root", "public", false);
			const entries = d.putObject("_root", "entries", {});
			for (let i = 0; i < n; i++) {
				const e = d.putObject(entries, entryID(i), {});
				d.put(e, "trackId", "trk" + pad(i));
				d.put(e, "pos", "a" + pad(i));
				d.put(e, "addedBy", "alice");
				d.put(e, "addedAt", at, "timestamp");
			}
			d.commit("add " + n, secs);
			return d;
		},
		move(d, i, prefix) {
			const entries = d.getWithType("_root", "entries")[1];
			const e = d.getWithType(entries, entryID((i * 7919) % n))[1];
			d.put(e, "pos", prefix + pad(i));
			d.commit("move", secs);
			return d;
		},
		save: (d) => d.save(),
		load(bytes) {
			const d = A.getBackend(A.init());
			d.loadIncremental(bytes);
			return d;
		},
		fork: (d, actor) => d.fork(actor),
		merge(a, b) {
			a.merge(b);
			return a;
		},
		read(d) {
			const entries = d.getWithType("_root", "entries")[1];
			return Object.entries(d.materialize(entries));
		},
	},
	frontend: {
		build() {
			let d = A.from({ type: S("playlist"), name: S("Big"), description: S(""), owner: S("alice"), collaborators: {}, public: false, entries: {} }, { actor: "aa".repeat(16) });
			return A.change(d, { message: "add " + n, time: secs }, (x) => {
				for (let i = 0; i < n; i++) x.entries[entryID(i)] = { trackId: S("trk" + pad(i)), pos: S("a" + pad(i)), addedBy: S("alice"), addedAt: at };
			});
		},
		move: (d, i, prefix) => A.change(d, { message: "move", time: secs }, (x) => {
			x.entries[entryID((i * 7919) % n)].pos = S(prefix + pad(i));
		}),
		save: (d) => A.save(d),
		load: (bytes) => A.load(bytes),
		fork: (d, actor) => A.clone(d, { actor }),
		merge: (a, b) => A.merge(a, b),
		read: (d) => Object.entries(d.entries),
	},
};
const m = modes[mode];

let t0 = now();
let doc = m.build();
out.build_ms = ms(t0);

t0 = now();
for (let i = 0; i < edits; i++) doc = m.move(doc, i, "b");
out.edit_ms_per_op = ms(t0) / edits;

t0 = now();
const saved = m.save(doc);
out.save_ms = ms(t0);
out.save_bytes = saved.length;

t0 = now();
const loaded = m.load(saved);
out.load_ms = ms(t0);

// merge: two replicas of the loaded document make edits/2 moves each
// (different entries), then one merges the other's changes.
let a = m.fork(loaded, "bb".repeat(16));
let b = m.fork(loaded, "cc".repeat(16));
for (let i = 0; i < edits / 2; i++) {
	a = m.move(a, i, "c");
	b = m.move(b, i + edits / 2, "d");
}
t0 = now();
a = m.merge(a, b);
out.merge_ms = ms(t0);

// read: every entry's fields, sorted by (pos, id) as a UI shows them.
t0 = now();
const es = m.read(a).map(([id, e]) => ({ id, track: String(e.trackId), pos: String(e.pos), by: String(e.addedBy), at: e.addedAt }));
es.sort((x, y) => (x.pos < y.pos ? -1 : x.pos > y.pos ? 1 : x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
out.read_ms = ms(t0);
out.read_entries = es.length;
out.first = es[0].id + " " + es[0].pos;
console.log(JSON.stringify(out));
