// app.js — the Segue web page: sign in, search the catalog, albums,
// playlists (playlists.js, loaded after sign-in), play controls. Plain DOM, no framework; the engine is globalThis.segue.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const relay = location.origin;
  let s = null;
  let lastTier = "high";

  const fmt = (sec) => {
    sec = Math.max(0, Math.floor(sec));
    return `${Math.floor(sec / 60)}:${String(sec % 60).padStart(2, "0")}`;
  };
  const say = (el, text) => { $(el).textContent = text; };

  function network() {
    const on = navigator.onLine;
    $("net").textContent = on ? "Online" : "Offline — playing from this device only";
    $("net").classList.toggle("offline", !on);
  }
  addEventListener("online", network);
  addEventListener("offline", network);
  network();

  let opening = null;
  function engine() {
    if (!opening) {
      // ?test-capture turns on the worklet's capture test hook (the
      // browser tests compare what it played with the native player).
      const q = new URLSearchParams(location.search);
      const capture = q.has("test-capture");
      // ?test-clock enables session.advanceClock (forward only: it can
      // expire this device's licences early, never extend them).
      const testClock = q.has("test-clock");
      opening = segue.open(relay, { tier: $("tier").value, capture, testClock }).then((x) => {
        s = x;
        window.segueSession = x; // for the browser tests and the console
        x.on("status", status);
        x.on("signedout", sessionExpired);
        document.dispatchEvent(new CustomEvent("segue:session", { detail: x }));
        return x;
      });
    }
    return opening;
  }

  // The engine reports statuses many times a second, the first of a play
  // on the way to its first audio (the engine's thread waits for this
  // handler): messages and friend activity are handled at once, the
  // player bar is drawn once per frame with the latest status.
  let shown = null, drawing = 0;
  function status(st) {
    if (st.tierWarning) say("tier-msg", "This connection may not sustain the chosen quality; lower it if playback stutters.");
    if (st.error && !st.tierWarning) say("tier-msg", st.error);
    publish(st);
    shown = st;
    if (!drawing) drawing = requestAnimationFrame(() => { drawing = 0; render(shown); });
  }

  function render(st) {
    const rate = s.audioContext.sampleRate;
    const len = st.length / rate;
    $("controls").classList.remove("idle");
    $("now").textContent = st.track ? `${st.state}: track ${st.index + 1}` : "Nothing playing";
    const seek = $("seek");
    seek.max = String(len);
    if (document.activeElement !== seek) seek.value = String(st.frame / rate);
    $("time").textContent = `${fmt(st.frame / rate)} / ${fmt(len)}`;
    const playing = st.state === "playing" || st.state === "buffering";
    $("toggle").textContent = playing ? "⏸" : "▶";
    $("toggle").setAttribute("aria-label", playing ? "Pause" : "Play");
  }

  // Friend activity. The relay pushes what friends play now or played
  // last (GET /v1/activity/stream, Server-Sent Events read with fetch, so
  // the device token goes in the Authorization header, never in a URL);
  // the stream reconnects with backoff. This page publishes its own track
  // changes (POST /v1/activity) unless the private session box is ticked.
  // Names and titles go in as text.
  const friends = new Map();
  const MAX_FRIENDS = 1000, MAX_FRAME = 64 << 10;
  let feeding = false, published = "";
  function drawFriends() {
    const list = $("friends-list");
    const items = [...friends.values()].sort((a, b) => String(b.at).localeCompare(String(a.at)));
    list.replaceChildren(...items.map((a) => {
      const li = document.createElement("li");
      li.dataset.user = String(a.user);
      // The display name is anyone's choice (another user's name too):
      // the user name, which is unique, follows it.
      const name = String(a.display_name || ""), user = String(a.user);
      const who = name && name !== user ? `${name} (${user})` : user;
      const by = Array.isArray(a.artists) && a.artists.length ? ` by ${a.artists.map(String).join(", ")}` : "";
      const at = new Date(a.at);
      const when = isNaN(at) ? "" : ` (${at.toLocaleTimeString()})`;
      li.textContent = `${who} ${a.playing ? "is playing" : "played"} ${String(a.title || a.track)}${by}${when}`;
      return li;
    }));
    say("friends-msg", items.length ? "" : "No friend activity yet: friends are people you follow who follow you back.");
  }
  function activity(data) {
    let a;
    try { a = JSON.parse(data); } catch { return; }
    if (!a || typeof a.user !== "string" || typeof a.track !== "string") return;
    friends.delete(a.user);
    friends.set(a.user, a);
    while (friends.size > MAX_FRIENDS) friends.delete(friends.keys().next().value);
    drawFriends();
  }
  // retryAfter is the wait (ms, at most 5 min as native devices wait)
  // a 429/503's Retry-After asks for: delta-seconds, or an HTTP-date
  // relative to the answer's Date; 0 for none.
  function retryAfter(res) {
    const v = (res.headers.get("Retry-After") || "").trim();
    let ms = 0;
    if (/^[0-9]+$/.test(v)) ms = Number(v) * 1000;
    else if (v) ms = Date.parse(v) - (Date.parse(res.headers.get("Date") || "") || Date.now());
    return Math.min(Math.max(ms, 0), 300000) || 0;
  }
  async function friendFeed() {
    if (feeding) return;
    feeding = true;
    let wait = 1000;
    while (!expired) {
      let asked = 0; // the relay's Retry-After: the next request waits for it, the backoff does not grow
      try {
        const res = await fetch(relay + "/v1/activity/stream", { headers: { Authorization: "Bearer " + await s.token() }, cache: "no-store" });
        if (res.status === 401) break; // the session expired: signing in again reloads the page
        if (res.status === 429 || res.status === 503) asked = retryAfter(res);
        if (!res.ok || !res.body) throw new Error(`the relay answered ${res.status}`);
        wait = 1000;
        drawFriends();
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          for (let i; (i = buf.indexOf("\n\n")) >= 0;) {
            const frame = buf.slice(0, i);
            buf = buf.slice(i + 2);
            let ev = "message", data = "";
            for (const line of frame.split("\n")) {
              if (line.startsWith("event:")) ev = line.slice(6).trim();
              else if (line.startsWith("data:")) data += line.slice(5).trimStart();
            }
            if (ev === "activity") activity(data);
          }
          if (buf.length > MAX_FRAME) throw new Error("an activity event over 64 KiB");
        }
        throw new Error("the stream ended");
      } catch (err) {
        say("friends-msg", navigator.onLine ? `Friend activity: ${err.message || err}; trying again.` : "Friend activity needs the relay.");
      }
      await new Promise((r) => setTimeout(r, Math.max(wait, asked)));
      if (!asked) wait = Math.min(2 * wait, 30000);
    }
    feeding = false;
  }
  // The private session box is this browser's setting, kept across reloads.
  $("private").checked = localStorage.getItem("segue.private") === "1";
  $("private").addEventListener("change", () => localStorage.setItem("segue.private", $("private").checked ? "1" : "0"));
  function publish(st) {
    if (!feeding || st.state !== "playing" || !st.track || st.track === published || $("private").checked) return;
    published = st.track;
    s.token().then((tok) => fetch(relay + "/v1/activity", {
      method: "POST", headers: { Authorization: "Bearer " + tok, "Content-Type": "application/json" },
      body: JSON.stringify({ track: st.track, playing: true }),
    })).then((res) => { if (!res.ok) published = ""; }, () => { published = ""; });
  }

  // The relay refused the device token (its lifetime ended): sign in
  // again, as on native; this browser stays the same device. The page
  // reloads after, so every connection (the playlists socket) takes the
  // new token.
  let expired = false;
  function sessionExpired() {
    expired = true;
    $("account").hidden = false;
    $("signup").checked = false;
    $("pass").value = "";
    say("account-msg", "Your session on this browser has expired: sign in again (downloads still play).");
    $("user").focus();
  }

  function signedIn() {
    $("account").hidden = true;
    $("library").hidden = false;
    $("playlists").hidden = false;
    $("friends").hidden = false;
    friendFeed();
    document.dispatchEvent(new CustomEvent("segue:signedin"));
    // A busy relay's Retry-After (err.retryAfter, ms) says when to ask
    // again; otherwise in 15 s.
    const retry = () => playlists().catch((err) => {
      const wait = err && err.retryAfter > 0 ? err.retryAfter : 15000;
      say("pl-msg", `${err.message || err} — trying again in ${Math.ceil(wait / 1000)} s.`);
      setTimeout(retry, wait);
    });
    retry();
  }

  // Playlists: the bundled automerge-repo module (playlists.js), loaded
  // after sign-in. The device token goes only into its WebSocket URL.
  let pl = null, plLoading = null, openId = "";
  // An open playlist draws its entries PAGE_ROWS at a time ("Show more"):
  // every change redraws the drawn rows, so a 10,000-entry playlist
  // redrew 10,000 rows per edit, and past ~125,000 rows one
  // replaceChildren(...rows) call exceeded the engine's argument limit.
  // ?test-rows=N sets a smaller page for the browser tests.
  const PAGE_ROWS = Math.max(1, Math.min(500, Number(new URLSearchParams(location.search).get("test-rows")) || 500));
  let shownRows = PAGE_ROWS;
  const titles = new Map();
  const assets = JSON.parse($("segue-assets").textContent);
  function playlists() {
    if (!plLoading) {
      plLoading = (async () => {
        if (!globalThis.seguePlaylists) {
          await new Promise((ok, fail) => {
            const el = Object.assign(document.createElement("script"), { src: assets.playlists });
            el.onload = ok;
            el.onerror = () => fail(new Error("could not load the playlists module"));
            document.head.append(el);
          });
        }
        const me = await s.get("/v1/me");
        pl = await seguePlaylists.connect({
          origin: relay, token: await s.token(), user: me.device.user, library: me.library,
          wasm: assets.automerge, onChange: schedule,
        });
        window.seguePlaylistStore = pl; // for the browser tests and the console
        await drawPlaylists();
      })();
      plLoading.catch(() => { plLoading = null; });
    }
    return plLoading;
  }
  let pending = false;
  function schedule() {
    if (pending) return;
    pending = true;
    setTimeout(() => { pending = false; drawPlaylists().catch((err) => say("pl-msg", String(err.message || err))); }, 50);
  }
  // titlesOf returns the titles of tracks ids (a track's id where the
  // relay does not know it): the ones this page has not asked for yet in
  // one session.tracks call (POST /v1/tracks/batch, 100 ids a request),
  // then kept; a title that could not be had (offline) is asked for
  // again at the next draw.
  function titlesOf(ids) {
    const missing = [...new Set(ids)].filter((id) => !titles.has(id));
    if (missing.length) {
      const asked = s.tracks(missing).then((r) => ({ tracks: r.tracks, failed: new Set(r.failed) }));
      missing.forEach((id, i) => titles.set(id, asked.then(({ tracks, failed }) => {
        if (failed.has(i)) titles.delete(id);
        return (tracks[i] && tracks[i].title) || id;
      }, () => { titles.delete(id); return id; })));
    }
    return Promise.all(ids.map((id) => titles.get(id)));
  }
  const button = (text, label, fn) => {
    const b = Object.assign(document.createElement("button"), { type: "button", textContent: text });
    if (label) b.setAttribute("aria-label", label);
    b.addEventListener("click", fn);
    return b;
  };
  async function drawPlaylists() {
    if (!pl) return;
    const ul = $("pl-list");
    // Opened in parallel; one the relay has not sent yet (or may not
    // send) is listed as loading instead of holding up the others.
    const late = () => new Promise((ok) => setTimeout(() => ok(null), 5000));
    const got = await Promise.all(pl.ids().map((id) => Promise.race([pl.get(id).catch(() => null), late()]).then((p) => [id, p])));
    const items = got.map(([id, p]) => {
      const li = document.createElement("li");
      li.dataset.id = id;
      if (!p) li.textContent = "A playlist that has not loaded yet";
      else li.append(button(`${seguePlaylists.shown(p.name) || "(untitled)"} (${p.entries.length})`, `Open playlist ${seguePlaylists.shown(p.name)}`, () => showPlaylist(id, true)));
      return li;
    });
    ul.replaceChildren(...items);
    if (!items.length) ul.append(Object.assign(document.createElement("li"), { textContent: "No playlists yet" }));
    if (openId) await showPlaylist(openId, false);
  }
  async function showPlaylist(id, focus) {
    if (openId !== id) shownRows = PAGE_ROWS;
    openId = id;
    const p = await pl.get(id);
    $("pl-open").hidden = false;
    $("pl-open").dataset.id = id;
    $("pl-title").textContent = seguePlaylists.shown(p.name) || "(untitled)";
    const ol = $("pl-entries");
    const shown = p.entries.slice(0, shownRows);
    const labels = await titlesOf(shown.map((e) => e.trackId));
    if (openId !== id) return; // another playlist was opened meanwhile
    const rows = shown.map((e, i) => {
      const t = labels[i];
      const li = document.createElement("li");
      li.dataset.entry = e.id;
      li.dataset.track = e.trackId;
      li.draggable = true;
      li.append(button(t, `Play ${t}`, () => s.playTracks(p.entries.map((x) => x.trackId), i, "playlist", id)));
      li.append(" ");
      const up = button("↑", `Move ${t} up`, () => edit(() => pl.move(id, e.id, -1)));
      const down = button("↓", `Move ${t} down`, () => edit(() => pl.move(id, e.id, 1)));
      up.disabled = i === 0;
      down.disabled = i === p.entries.length - 1;
      li.append(up, down, button("Remove", `Remove ${t}`, () => edit(() => pl.remove(id, e.id))));
      li.addEventListener("dragstart", (ev) => ev.dataTransfer.setData("text/x-segue-entry", String(i)));
      li.addEventListener("dragover", (ev) => { ev.preventDefault(); li.classList.add("drop"); });
      li.addEventListener("dragleave", () => li.classList.remove("drop"));
      li.addEventListener("drop", (ev) => {
        ev.preventDefault();
        li.classList.remove("drop");
        const from = Number(ev.dataTransfer.getData("text/x-segue-entry"));
        if (Number.isInteger(from) && from !== i) edit(() => pl.move(id, p.entries[from].id, i - from));
      });
      return li;
    });
    const left = p.entries.length - shown.length;
    if (left > 0) {
      const li = document.createElement("li");
      li.className = "more";
      li.append(button(`Show ${Math.min(left, PAGE_ROWS)} more`, `Show ${Math.min(left, PAGE_ROWS)} more of ${left} entries not shown`, () => {
        shownRows += PAGE_ROWS;
        showPlaylist(id, false).catch((err) => say("pl-msg", String(err.message || err)));
      }));
      rows.push(li);
    }
    ol.replaceChildren(...rows);
    $("pl-link").textContent = "automerge:" + id;
    const collab = await pl.collaborators(id);
    $("pl-collab").textContent = collab.length ? `Shared with ${collab.map(seguePlaylists.shown).join(", ")}` : "";
    $("pl-share").hidden = p.owner !== pl.user;
    $("pl-play").onclick = () => p.entries.length && s.playTracks(p.entries.map((x) => x.trackId), 0, "playlist", id);
    if (focus) $("pl-title").focus();
  }
  async function edit(fn) {
    try { await fn(); } catch (err) { say("pl-msg", String(err.message || err)); }
  }
  // addTrack adds a track to the open playlist (the Add buttons of search
  // results and album tracks, and the playing track).
  function addTrack(trackId, name) {
    if (!pl || !openId) { say("pl-msg", "Open a playlist first."); return; }
    edit(async () => {
      await pl.add(openId, trackId);
      say("pl-msg", `Added ${name} to ${$("pl-title").textContent}.`);
    });
  }
  $("pl-new").addEventListener("submit", (e) => {
    e.preventDefault();
    edit(async () => {
      await playlists(); // a create right after sign-in waits for the library
      const id = pl.create($("pl-name").value);
      $("pl-name").value = "";
      await showPlaylist(id, true);
      await drawPlaylists();
    });
  });
  $("pl-share").addEventListener("submit", (e) => {
    e.preventDefault();
    edit(async () => {
      const u = $("pl-share-user").value.trim();
      await pl.share(openId, u);
      $("pl-share-user").value = "";
      say("pl-msg", `Shared with ${u}: send them the link.`);
    });
  });
  $("pl-follow").addEventListener("submit", (e) => {
    e.preventDefault();
    edit(async () => {
      const id = await pl.follow($("pl-follow-url").value);
      $("pl-follow-url").value = "";
      await showPlaylist(id, true);
    });
  });
  $("pl-add-now").addEventListener("click", () => {
    const st = s.status();
    if (st.track) addTrack(st.track, "the playing track");
    else say("pl-msg", "Nothing is playing.");
  });

  // Sign out: the engine sends the queued plays, deregisters this
  // browser and clears its stores (downloads, licences, history,
  // identity, token); the page closes and clears the playlists replicas
  // and its localStorage (download names, the private session box), then
  // reloads signed out. The origin's other tabs reload too (a storage
  // event), so none keeps the account in memory; a replica write a tab
  // made before it unloaded is cleared when a signed-out page starts
  // (the SIGNED_OUT mark stays until the next sign-in). The relay
  // unreachable, nothing is cleared.
  const SIGNED_OUT = "segue.signedout";
  async function clearReplicas() {
    const listed = indexedDB.databases ? (await indexedDB.databases()).map((d) => d.name) : [];
    const replicas = new Set(listed.filter((n) => n.startsWith("segue-playlists-")));
    if (pl) replicas.add("segue-playlists-" + pl.user);
    await Promise.all([...replicas].map(segue.clearDatabase));
  }
  $("signout").addEventListener("click", async () => {
    say("signout-msg", "Signing out…");
    try {
      const x = await engine();
      await x.signOut();
      if (plLoading) await plLoading.catch(() => {});
      if (pl) await pl.close();
      await clearReplicas();
      localStorage.clear();
      localStorage.setItem(SIGNED_OUT, String(Date.now()));
      location.reload();
    } catch (err) {
      say("signout-msg", `Not signed out: ${err.message || err}`);
    }
  });
  addEventListener("storage", (e) => { if (e.key === SIGNED_OUT && e.newValue) location.reload(); });

  // A share link opens the page at #/s/{token}: Play plays the item, in
  // full when signed in, else each track's preview (no account needed).
  // The token stays in the fragment: never sent in a request line or a
  // Referer.
  const shareToken = () => (/^#\/s\/([A-Za-z0-9_-]{22})$/.exec(location.hash) || [])[1] || "";
  function shared() {
    const tok = shareToken();
    $("shared").hidden = !tok;
    say("shared-msg", "");
    if (tok) say("shared-title", "A shared link: press Play.");
  }
  $("shared-play").addEventListener("click", async () => {
    const tok = shareToken();
    if (!tok) return;
    say("shared-msg", "Loading…");
    try {
      const x = await engine();
      const r = await x.playShare(tok);
      const sh = r.share;
      say("shared-title", sh.subtitle ? `${sh.title} — ${sh.subtitle}` : sh.title);
      say("shared-msg", r.preview
        ? `Preview: the first ${Math.round(sh.preview_ms / 1000)} s of each track. Sign in to hear it all.`
        : `Playing ${sh.tracks.length === 1 ? "the track" : `${sh.tracks.length} tracks`}.`);
    } catch (err) {
      say("shared-msg", /\b404\b/.test(String(err.message || err)) ? "This link does not exist or was revoked." : String(err.message || err));
    }
  });
  addEventListener("hashchange", shared);
  shared();

  // A browser that signed in before is still a device: go to the library.
  engine().then((x) => {
    if (x.loggedIn) signedIn();
    else if (localStorage.getItem(SIGNED_OUT)) clearReplicas().catch((err) => console.warn("segue: playlists replicas not cleared:", err));
  }, (err) => say("account-msg", String(err.message || err)));

  $("login").addEventListener("submit", async (e) => {
    e.preventDefault();
    say("account-msg", "");
    try {
      const x = await engine();
      const user = $("user").value, pass = $("pass").value;
      if ($("signup").checked) await x.signUp(user, pass);
      await x.login(user, pass);
      localStorage.removeItem(SIGNED_OUT);
      if (expired) { location.reload(); return; }
      signedIn();
      $("q").focus();
    } catch (err) {
      say("account-msg", String(err.message || err));
    }
  });

  // Search as you type (GET /v1/search, all four kinds): a query 150 ms
  // after the last keystroke, the newest answer wins. Every catalog or
  // user string goes in as text; a highlight range is a <mark> around a
  // text node. ↓/↑ move between results, Escape goes back to the box,
  // Enter in the box opens or plays the top result. The engine has no
  // search of its own: offline, the page says search needs the relay.
  const TYPES = "track,album,artist,playlist";
  const DEBOUNCE_MS = 150;
  const utf8 = new TextEncoder(), text8 = new TextDecoder();
  let searchGen = 0, shownQuery = null, debounce = 0;
  // marked returns text with the UTF-8 byte ranges [start, end) of hs
  // wrapped in <mark> (ranges are clamped, widened to whole characters
  // and merged; a malformed one is ignored).
  function marked(str, hs) {
    const b = utf8.encode(str);
    const cont = (i) => i < b.length && (b[i] & 0xc0) === 0x80;
    const rs = [];
    for (const h of hs) {
      let a = Math.max(0, Math.min(b.length, Number(h.start) | 0)), z = Math.max(0, Math.min(b.length, Number(h.end) | 0));
      while (a > 0 && cont(a)) a--;
      while (cont(z)) z++;
      if (a < z) rs.push([a, z]);
    }
    rs.sort((x, y) => x[0] - y[0]);
    const frag = document.createDocumentFragment();
    let at = 0;
    for (const [a, z] of rs) {
      if (z <= at) continue;
      const from = Math.max(a, at);
      if (from > at) frag.append(text8.decode(b.subarray(at, from)));
      frag.append(Object.assign(document.createElement("mark"), { textContent: text8.decode(b.subarray(from, z)) }));
      at = z;
    }
    if (at < b.length) frag.append(text8.decode(b.subarray(at)));
    return frag;
  }
  const hits = (r, field, index = 0) => (r.highlights || []).filter((h) => h.field === field && (h.index || 0) === index);
  function resultButton(r) {
    const b = Object.assign(document.createElement("button"), { type: "button", className: "hit" });
    b.append(marked(String(r.title || ""), hits(r, "title")));
    const artists = Array.isArray(r.artists) ? r.artists : [];
    artists.forEach((a, i) => b.append(i ? ", " : " — ", marked(String(a), hits(r, "artists", i))));
    if (r.kind === "track" && r.album) b.append(" · ", marked(String(r.album), hits(r, "album")));
    b.append(` (${r.kind})`);
    return b;
  }
  async function openResult(r) {
    if (r.kind === "track") return s.playTracks([r.audio_id], 0, "track", r.audio_id);
    if (r.kind === "album") return showAlbum(r.id);
    if (r.kind === "artist") return showArtist(r.id);
    if (r.kind === "playlist") {
      await playlists();
      return showPlaylist(r.id, true);
    }
  }
  function drawResults(q, res) {
    const ul = $("results");
    const items = (res.results || []).map((r) => {
      const li = document.createElement("li");
      li.dataset.kind = r.kind;
      li.dataset.id = r.id;
      const b = resultButton(r);
      if (r.kind === "track" && !r.audio_id) {
        b.disabled = true;
        b.append(" — no audio yet");
      }
      b.addEventListener("click", () => openResult(r).catch((err) => say("results-msg", String(err.message || err))));
      li.append(b);
      if (r.kind === "track" && r.audio_id) li.append(" ", button("Add", `Add ${r.title} to the open playlist`, () => addTrack(r.audio_id, r.title)));
      return li;
    });
    ul.replaceChildren(...items);
    ul.dataset.query = q; // the text these results answer
    shownQuery = q;
    if (!items.length) ul.append(Object.assign(document.createElement("li"), { textContent: "No results" }));
    const n = items.length, total = Number(res.total) || n;
    say("results-msg", n ? `${total} result${total === 1 ? "" : "s"}${total > n ? `, the first ${n} shown` : ""}; top: ${items[0].firstChild.textContent}.` : `No results for “${q}”.`);
  }
  function searchFailed(err) {
    const msg = String(err.message || err);
    $("results").replaceChildren();
    delete $("results").dataset.query;
    shownQuery = null;
    say("results-msg", !navigator.onLine || /every origin is unreachable/.test(msg) ? "Offline: search needs the relay." : msg);
  }
  // runSearch searches now; it resolves true when its answer is the one
  // shown (no newer query overtook it).
  async function runSearch() {
    clearTimeout(debounce);
    const q = $("q").value.trim();
    const gen = ++searchGen;
    if (!q) {
      $("results").replaceChildren();
      delete $("results").dataset.query;
      shownQuery = null;
      say("results-msg", "");
      return false;
    }
    if (!navigator.onLine) {
      searchFailed(new Error("offline"));
      return false;
    }
    try {
      const res = await s.search(q, { types: TYPES });
      if (gen !== searchGen) return false;
      drawResults(q, res);
      return true;
    } catch (err) {
      if (gen === searchGen) searchFailed(err);
      return false;
    }
  }
  const hitButtons = () => [...$("results").querySelectorAll("button.hit")];
  $("q").addEventListener("input", () => {
    clearTimeout(debounce);
    debounce = setTimeout(runSearch, DEBOUNCE_MS);
  });
  $("q").addEventListener("keydown", async (e) => {
    if (e.key === "ArrowDown") {
      const first = hitButtons()[0];
      if (first) { e.preventDefault(); first.focus(); }
    } else if (e.key === "Escape") {
      $("q").value = "";
      runSearch();
    } else if (e.key === "Enter") {
      e.preventDefault();
      if (shownQuery !== $("q").value.trim() && !(await runSearch())) return;
      const first = hitButtons().find((b) => !b.disabled);
      if (first) first.click();
    }
  });
  $("results").addEventListener("keydown", (e) => {
    const bs = hitButtons();
    const i = bs.indexOf(document.activeElement);
    if (e.key === "Escape") { e.preventDefault(); $("q").focus(); return; }
    if (i < 0 || (e.key !== "ArrowDown" && e.key !== "ArrowUp")) return;
    e.preventDefault();
    const j = e.key === "ArrowDown" ? Math.min(i + 1, bs.length - 1) : i - 1;
    (j < 0 ? $("q") : bs[j]).focus();
  });
  $("find").addEventListener("submit", (e) => {
    e.preventDefault();
    // Results already shown for this text are not drawn again (a
    // redraw would replace the buttons under the pointer).
    if (shownQuery === $("q").value.trim()) clearTimeout(debounce);
    else runSearch();
  });

  async function showArtist(id) {
    const a = await s.get("/v1/artists/" + encodeURIComponent(id));
    $("artist").hidden = false;
    $("artist").dataset.id = id;
    $("artist-title").textContent = (a.artist && a.artist.name) || id;
    const albums = (a.albums || []).map((al) => {
      const li = document.createElement("li");
      li.append(button(al.title, `Open album ${al.title}`, () => showAlbum(al.id)));
      return li;
    });
    $("artist-albums").replaceChildren(...albums);
    if (!albums.length) $("artist-albums").append(Object.assign(document.createElement("li"), { textContent: "No albums" }));
    $("artist-title").focus();
  }

  async function showAlbum(id) {
    const a = await s.album(id);
    $("album").hidden = false;
    $("album").dataset.id = id;
    $("album-title").textContent = a.album.title;
    $("album-play").onclick = () => s.playAlbum(id, 0);
    const ol = $("album-tracks");
    ol.replaceChildren();
    a.tracks.forEach((t, i) => {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = t.title;
      b.setAttribute("aria-label", `Play ${t.title}`);
      b.addEventListener("click", () => s.playAlbum(id, i));
      li.append(b, " ", button("Add", `Add ${t.title} to the open playlist`, () => addTrack(t.id, t.title)));
      ol.append(li);
    });
    // Ready the album's first tracks while the listener looks at it.
    if (a.tracks.length) s.prefetch(a.tracks.slice(0, 3).map((t) => t.id)).catch(() => {});
    $("album-play").focus();
  }

  $("toggle").addEventListener("click", () => {
    const st = s.status().state;
    (st === "playing" || st === "buffering") ? s.pause() : s.resume();
  });
  $("next").addEventListener("click", () => s.next());
  $("prev").addEventListener("click", () => s.previous());
  $("seek").addEventListener("change", (e) => s.seek(Number(e.target.value)));
  $("tier").addEventListener("change", (e) => {
    const t = e.target.value;
    const kbps = { low: 24, normal: 96, high: 160, very_high: 320 };
    if (kbps[t] > kbps[lastTier]) say("tier-msg", `${t.replace("_", " ")} uses about ${kbps[t]} kb/s (${Math.round(kbps[t] * 450 / 1000)} MB an hour); it applies from the next track and is never changed for you.`);
    else say("tier-msg", "Applies from the next track.");
    lastTier = t;
    if (s) s.setTier(t);
  });
  document.addEventListener("keydown", (e) => {
    if (!s || e.target.closest("input,select,textarea,button")) return;
    if (e.key === " ") { e.preventDefault(); $("toggle").click(); }
    else if (e.key === "ArrowRight" && e.shiftKey) s.next();
    else if (e.key === "ArrowLeft" && e.shiftKey) s.previous();
  });
})();
