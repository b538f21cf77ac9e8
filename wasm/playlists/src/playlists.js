// playlists.js — the web player's playlists: stock automerge-repo with its
// IndexedDB storage and WebSocket network adapters, syncing with the
// relay's /v1/sync exactly as a native device does. The document schema is
// docs/SYNC.md's (scalar strings, fractional-index positions, 16-hex entry
// ids), so native devices read the page's edits and the page reads theirs.
// scripts/build-web.sh bundles this file with esbuild into the hashed
// asset playlists.js; the page loads it only after sign-in.
import { Repo, ImmutableString, initializeWasm } from "@automerge/automerge-repo/slim";
import { IndexedDBStorageAdapter } from "@automerge/automerge-repo-storage-indexeddb";
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket";
import { generateKeyBetween } from "fractional-indexing";

const S = (s) => new ImmutableString(s);
const str = (v) => (v == null ? "" : String(v));
const DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
// MAX_NAME_BYTES bounds a playlist name in bytes of UTF-8, as
// docs.MaxNameBytes does on native devices.
const MAX_NAME_BYTES = 256;
// NOT_IN_NAME matches what docs.CheckName refuses in a name (beside its
// length): a control character (unicode.IsControl: C0, DEL, C1), a
// bidirectional formatting character (safetext), a lone surrogate (not
// valid UTF-8).
const NOT_IN_NAME = /[\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

// SHOWN_MAX is how much of a name the page shows, in UTF-16 code units:
// a device writes at most MAX_NAME_BYTES, so a longer name came from
// elsewhere.
const SHOWN_MAX = 256;
const NOT_SHOWN = new RegExp(NOT_IN_NAME.source, "g");

// shown returns a playlist name as the page shows it. A name comes from
// whoever wrote the document (a collaborator, a foreign client, the
// owner of a followed playlist), which neither the relay nor this page
// filters: like native's segue playlist, each control, bidirectional
// formatting or lone surrogate character is written as \uXXXX (a U+202E
// would reverse what is drawn after the name), and the name is cut to
// SHOWN_MAX code units with an ellipsis.
export function shown(name) {
  let s = str(name).replace(NOT_SHOWN, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
  if (s.length > SHOWN_MAX) {
    const n = /[\uD800-\uDBFF]/.test(s[SHOWN_MAX - 1]) ? SHOWN_MAX - 1 : SHOWN_MAX;
    s = s.slice(0, n) + "…";
  }
  return s;
}

// checkName returns name without surrounding white space when every
// Segue device may write it as a playlist's name (docs.CheckName), else
// throws naming why.
export function checkName(name) {
  name = String(name).trim();
  if (!name) throw new Error("playlists: a name cannot be empty");
  const bad = NOT_IN_NAME.exec(name);
  if (bad) {
    const u = "U+" + bad[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0");
    throw new Error(`playlists: a name cannot hold ${u} (a control, bidirectional formatting or lone surrogate character)`);
  }
  const n = new TextEncoder().encode(name).length;
  if (n > MAX_NAME_BYTES) throw new Error(`playlists: a name of ${n} bytes (UTF-8), at most ${MAX_NAME_BYTES}`);
  return name;
}
// RETRY is the wait before a new socket after one closed, the stock
// adapter's; MAX_RETRY bounds a relay's Retry-After as native devices
// bound it (api.MaxRetryAfter, 5 min).
const RETRY = 5000;
const MAX_RETRY = 300000;

// retryAfter reads a Retry-After value (delta-seconds or an HTTP-date,
// relative to the answer's Date when it has one) in ms, at most
// MAX_RETRY; 0 for none or one that does not parse.
export function retryAfter(v, date) {
  v = str(v).trim();
  let ms = 0;
  if (/^[0-9]+$/.test(v)) ms = Number(v) * 1000;
  else if (v) {
    const at = Date.parse(v), now = Date.parse(str(date));
    if (!Number.isNaN(at)) ms = at - (Number.isNaN(now) ? Date.now() : now);
  }
  return Math.min(Math.max(ms, 0), MAX_RETRY) || 0;
}

// PacedAdapter is the stock WebSocket adapter with the relay's pace: a
// browser's WebSocket shows the page nothing of a refused handshake (no
// status, no Retry-After), so when a socket closes without having opened
// it asks the relay why with a plain GET /v1/sync (the token in the
// Authorization header): a 429 or 503 names the wait (Retry-After), and
// the next socket waits that long instead of the stock adapter's 5 s.
class PacedAdapter extends WebSocketClientAdapter {
  #ask;
  #opened = false;
  #timer;
  #stopped = false;

  /** @param {string} url @param {() => Promise<number>} ask the wait the relay asks for, in ms (0: none) */
  constructor(url, ask) {
    super(url, RETRY);
    this.#ask = ask;
  }

  connect(peerId, peerMetadata) {
    this.#stopped = false;
    this.#opened = false;
    super.connect(peerId, peerMetadata);
    this.socket.addEventListener("open", () => { this.#opened = true; });
  }

  // onClose replaces the stock handler, whose reconnection is fixed: it
  // lets the socket go (disconnect also stops the stock retry timer) and
  // connects again after the stock wait or the relay's.
  onClose = () => {
    const opened = this.#opened;
    super.disconnect();
    const again = (ms) => {
      if (this.#stopped) return;
      this.#timer = setTimeout(() => {
        if (!this.#stopped) this.connect(this.peerId, this.peerMetadata);
      }, Math.max(ms, RETRY));
    };
    if (opened) again(RETRY);
    else this.#ask().then(again, () => again(RETRY));
  };

  disconnect() {
    this.#stopped = true;
    clearTimeout(this.#timer);
    if (this.socket) super.disconnect();
  }
}

// hex returns n random bytes as lowercase hex (entry ids: 8 bytes).
function hex(n) {
  return Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, "0")).join("");
}

// keyBetween is a fractional-index key strictly between a and b ("" for
// an open end) with three random base-62 digits appended, as Segue's
// fracindex.Between does, so concurrent inserts at one spot do not collide.
export function keyBetween(a, b) {
  const k = generateKeyBetween(a || null, b || null);
  const r = crypto.getRandomValues(new Uint8Array(3));
  let suffix = "";
  for (let i = 0; i < 3; i++) suffix += DIGITS[r[i] % 62];
  if (suffix.endsWith("0")) suffix = suffix.slice(0, 2) + "1";
  const j = k + suffix;
  return (!a || a < j) && (!b || j < b) ? j : k;
}

// sorted returns the entries of a playlist document in play order: by pos
// byte-wise, ties by entry id. Entries a foreign client wrote without a
// trackId or pos are skipped, as native devices do.
export function sorted(doc) {
  const out = [];
  for (const [id, e] of Object.entries((doc && doc.entries) || {})) {
    if (!e || !str(e.trackId) || !str(e.pos)) continue;
    out.push({ id, trackId: str(e.trackId), pos: str(e.pos), addedBy: str(e.addedBy) });
  }
  out.sort((x, y) => (x.pos < y.pos ? -1 : x.pos > y.pos ? 1 : x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
  return out;
}

let ready = null;

/**
 * connect opens the user's library and playlists. The token is used only
 * to open the WebSocket (browsers cannot set headers on one; the relay
 * takes ?token= on /v1/sync) and is not kept anywhere else.
 * @param {{origin: string, token: string, user: string, library: string, wasm: string, onChange?: () => void}} o
 */
export async function connect(o) {
  if (!/^[1-9A-HJ-NP-Za-km-z]{10,40}$/.test(o.library || "")) throw new Error("playlists: bad library id");
  if (!ready) ready = initializeWasm(o.wasm);
  await ready;
  const wsURL = new URL("/v1/sync", o.origin);
  wsURL.protocol = wsURL.protocol === "https:" ? "wss:" : "ws:";
  wsURL.searchParams.set("token", o.token);
  const known = new Set([o.library]);
  const network = new PacedAdapter(wsURL.href, async () => {
    const res = await fetch(new URL("/v1/sync", o.origin), { headers: { Authorization: "Bearer " + o.token }, cache: "no-store" });
    await res.body?.cancel();
    return res.status === 429 || res.status === 503 ? retryAfter(res.headers.get("Retry-After"), res.headers.get("Date")) : 0;
  });
  const repo = new Repo({
    network: [network],
    storage: new IndexedDBStorageAdapter("segue-playlists-" + o.user),
    // Announce only what the relay should hold from this user (docs/SYNC.md).
    sharePolicy: async (_peer, id) => {
      await null;
      return id !== undefined && known.has(id);
    },
  });
  // A page that is left (closed, navigated away from, or kept in the
  // back/forward cache) lets its socket go at once, and a page restored
  // from that cache connects again. The relay counts one sync connection
  // per user, and Chromium can keep a cached page's socket open until
  // the relay's keepalive notices, refusing the user's other tabs
  // meanwhile.
  const hide = () => { if (network.socket) network.disconnect(); };
  const show = (e) => { if (e.persisted && network.peerId) network.connect(network.peerId, network.peerMetadata); };
  addEventListener("pagehide", hide);
  addEventListener("pageshow", show);
  const changed = () => o.onChange && o.onChange();
  const handles = new Map();
  const watch = (h) => {
    h.on("change", changed);
    return h;
  };
  const open = async (id) => {
    if (!/^[1-9A-HJ-NP-Za-km-z]{10,40}$/.test(id)) throw new Error("playlists: bad playlist id");
    let p = handles.get(id);
    if (!p) {
      known.add(id);
      p = repo.find("automerge:" + id).then(watch);
      p.catch(() => handles.delete(id));
      handles.set(id, p);
    }
    return p;
  };
  let library;
  try {
    library = watch(await repo.find("automerge:" + o.library));
  } catch (err) {
    removeEventListener("pagehide", hide);
    removeEventListener("pageshow", show);
    await repo.shutdown();
    // The relay creates the library when a device registers (and at
    // GET /v1/me) with the genesis change every Segue device writes, so
    // a page-only user has one too; this is a relay that has not yet.
    throw new Error("playlists: your library is not on the relay yet: " + (err.message || err));
  }
  const write = async (id, fn) => {
    const h = await open(id);
    h.change(fn);
    return h;
  };
  return {
    /** The signed-in user. */
    user: o.user,
    /** Playlist ids the library follows (own and shared), in the library's order of saving. */
    ids() {
      const m = library.doc().playlists || {};
      return Object.keys(m).sort((a, b) => (m[a] < m[b] ? -1 : m[a] > m[b] ? 1 : a < b ? -1 : 1));
    },
    /** Name, owner and entries of one playlist (opening it on first use). */
    async get(id) {
      const d = (await open(id)).doc();
      return { id, name: str(d.name), owner: str(d.owner), entries: sorted(d) };
    },
    /** Creates a playlist owned by the user and adds it to the library; returns its id. */
    create(name) {
      name = checkName(name);
      const h = repo.create({
        type: S("playlist"), name: S(name), description: S(""), owner: S(o.user),
        collaborators: {}, public: false, entries: {},
      });
      known.add(h.documentId);
      handles.set(h.documentId, Promise.resolve(watch(h)));
      library.change((d) => {
        if (!d.playlists) d.playlists = {};
        d.playlists[h.documentId] = new Date();
      });
      return h.documentId;
    },
    /** Appends trackId after the last entry; returns the entry id. */
    async add(id, trackId) {
      if (typeof trackId !== "string" || !trackId || trackId.length > 256) throw new Error("playlists: bad track id");
      const eid = hex(8);
      await write(id, (d) => {
        const last = sorted(d).at(-1);
        if (!d.entries) d.entries = {};
        d.entries[eid] = { trackId: S(trackId), pos: S(keyBetween(last ? last.pos : "", "")), addedBy: S(o.user), addedAt: new Date() };
      });
      return eid;
    },
    /** Removes one entry (a delete wins over a concurrent move). */
    async remove(id, entryId) {
      await write(id, (d) => { if (d.entries && d.entries[entryId]) delete d.entries[entryId]; });
    },
    /** Moves an entry by delta places (−1 up, +1 down), writing only its pos. */
    async move(id, entryId, delta) {
      await write(id, (d) => {
        const es = sorted(d).filter((e) => e.id !== entryId);
        const at = sorted(d).findIndex((e) => e.id === entryId);
        if (at < 0) return;
        const to = Math.max(0, Math.min(es.length, at + delta));
        if (to === at) return;
        const lo = to > 0 ? es[to - 1].pos : "";
        const hi = to < es.length ? es[to].pos : "";
        if (lo && hi && lo >= hi) return; // equal neighbours: nothing fits between
        d.entries[entryId].pos = S(keyBetween(lo, hi));
      });
    },
    /** Adds user as a collaborator (owner only; its own change, as the relay requires). */
    async share(id, user) {
      if (!/^[A-Za-z0-9._-]{1,64}$/.test(String(user))) throw new Error("playlists: bad user name");
      const h = await open(id);
      if (str(h.doc().owner) !== o.user) throw new Error("playlists: only the owner can share a playlist");
      h.change((d) => {
        if (!d.collaborators) d.collaborators = {};
        d.collaborators[user] = true;
      });
    },
    /** Collaborators of a playlist. */
    async collaborators(id) {
      return Object.keys((await open(id)).doc().collaborators || {}).sort();
    },
    /** Follows a playlist shared by link (automerge:<id> or the id): adds it to the library. */
    async follow(url) {
      const id = String(url).trim().replace(/^automerge:/, "");
      await open(id);
      library.change((d) => {
        if (!d.playlists) d.playlists = {};
        d.playlists[id] = new Date();
      });
      return id;
    },
    /** Renames a playlist. */
    async rename(id, name) {
      name = checkName(name);
      await write(id, (d) => { d.name = S(name); });
    },
    /** True while the WebSocket to the relay is open. */
    online() {
      return network.isReady ? network.isReady() : true;
    },
    /** Writes every change made so far to IndexedDB (automerge-repo saves them after a short debounce). */
    async flush() {
      await repo.flush();
    },
    /** Closes the socket and the storage. */
    async close() {
      removeEventListener("pagehide", hide);
      removeEventListener("pageshow", show);
      await repo.shutdown();
    },
  };
}

globalThis.seguePlaylists = { connect, sorted, keyBetween, retryAfter, checkName, shown };
