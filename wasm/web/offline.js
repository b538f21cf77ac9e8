// offline.js — the page's offline half: registers the service worker
// (sw.js: the page and its assets load with no network; after the first
// audio or once there are downloads), and the
// Downloads section — download the open album or playlist for offline
// play (encrypted blobs and the offline license in IndexedDB, through the
// engine's downloads manager), progress, licence expiry, play and remove.
// Plain script; it finds the session through the "segue:session" event
// app.js dispatches.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  // Names of downloaded items and the track ids of downloaded playlists,
  // for listing and playing them offline (no secrets: ids and titles).
  const KEY = "segue-downloads";
  const names = () => { try { return JSON.parse(localStorage.getItem(KEY) || "{}"); } catch { return {}; } };
  // A full localStorage (its quota is a few MB per origin) does not stop
  // a download: the item is then listed by kind and id, and a playlist's
  // tracks are not kept for offline play. keep says whether it kept n.
  const keep = (n) => {
    try {
      localStorage.setItem(KEY, JSON.stringify(n));
      return true;
    } catch (err) {
      console.warn("segue: download names not kept:", err);
      return false;
    }
  };
  const remember = (k, v) => { const n = names(); n[k] = { ...(n[k] || {}), ...v }; return keep(n); };
  const forget = (k) => { const n = names(); delete n[k]; keep(n); };
  const keyOf = (ref) => `${ref.kind}/${ref.id}`;
  const say = (text) => { $("dl-msg").textContent = text; };
  let s = null, drawing = null, again = false, current = "";

  let registered = false;
  function registerWorker() {
    if (registered || !("serviceWorker" in navigator)) return;
    registered = true;
    navigator.serviceWorker.register("/sw.js").catch((err) => console.warn("segue: service worker not registered:", err));
  }

  function attach(x) {
    if (s) return;
    s = x;
    // The service worker's install fetches the page and every asset it
    // names (Automerge's module too, not yet in the HTTP cache): it waits
    // until the first audio is out (2 s after "playing"), a download is
    // asked for or the Downloads list has items, so it competes with
    // neither page load nor first audio. (Offline, the page plays only
    // downloads; a registration from an earlier visit stays in force.)
    x.on("status", (st) => { if (st.state === "playing") setTimeout(registerWorker, 2000); });
    // Playlist downloads resolve to the playlist as this browser holds it
    // (automerge replica in IndexedDB); the last list seen is kept for
    // playing it offline.
    x.setPlaylistResolver(async (id) => {
      for (let i = 0; !window.seguePlaylistStore && i < 300; i++) await new Promise((r) => setTimeout(r, 100));
      if (!window.seguePlaylistStore) {
        const kept = names()["playlist/" + id];
        if (kept && kept.tracks) return kept.tracks;
        throw new Error("playlists are not loaded");
      }
      const p = await window.seguePlaylistStore.get(id);
      const tracks = p.entries.map((e) => e.trackId);
      remember("playlist/" + id, { name: seguePlaylists.shown(p.name), tracks });
      return tracks;
    });
    x.on("download", (ev) => {
      if (ev.kind === "progress" && ev.blobs) current = `Downloading: ${ev.blobsDone}/${ev.blobs} parts of the current track`;
      else if (ev.kind === "failed") current = `A download failed: ${ev.error || "unknown error"}; it is retried later.`;
      else if (ev.kind === "paused") current = `Downloads paused (${ev.reason}).`;
      else if (ev.kind === "renewal_refused") current = `Offline licence renewal refused (${ev.reason}).`;
      else if (ev.kind === "resumed" || ev.kind === "track_done") current = "";
      draw();
    });
    if (x.loggedIn) draw();
  }

  // draw re-renders the Downloads section from the manager's status (one
  // at a time; a request made while drawing draws once more after).
  function draw() {
    if (!s) return;
    if (drawing) { again = true; return; }
    drawing = render().catch((err) => say(String(err.message || err))).finally(() => {
      drawing = null;
      if (again) { again = false; draw(); }
    });
  }

  async function render() {
    const st = await s.downloads();
    $("downloads").hidden = false;
    const ul = $("dl-list");
    const n = names();
    const rows = st.items.map((it) => {
      const k = keyOf(it.ref);
      const li = document.createElement("li");
      li.dataset.kind = it.ref.kind;
      li.dataset.id = it.ref.id;
      li.dataset.done = String(it.resolved && it.tracks > 0 && it.tracksDone === it.tracks);
      const name = (n[k] && n[k].name) || `${it.ref.kind} ${it.ref.id}`;
      const label = `${name} (${it.ref.kind}, ${it.ref.tier.replace("_", " ")})`;
      const prog = Object.assign(document.createElement("progress"), { max: Math.max(it.tracks, 1), value: it.tracksDone });
      prog.setAttribute("aria-label", `Downloaded tracks of ${name}`);
      const left = Array.isArray(it.unavailable) ? it.unavailable : [];
      const text = it.error ? ` — ${it.error}` : !it.resolved ? " — waiting"
        : ` — ${it.tracksDone}/${it.tracks} tracks${left.length ? `, ${left.length} left out` : ""}`;
      const play = Object.assign(document.createElement("button"), { type: "button", textContent: "Play" });
      play.setAttribute("aria-label", `Play ${name}`);
      play.addEventListener("click", () => playItem(it.ref).catch((err) => say(String(err.message || err))));
      const rm = Object.assign(document.createElement("button"), { type: "button", textContent: "Remove" });
      rm.setAttribute("aria-label", `Remove the download of ${name}`);
      rm.addEventListener("click", async () => {
        try { await s.removeDownload(it.ref.kind, it.ref.id, it.ref.tier); forget(k); draw(); } catch (err) { say(String(err.message || err)); }
      });
      li.append(label, " ", prog, text, " ", play, " ", rm);
      if (left.length) li.append(leftOut(left));
      return li;
    });
    ul.replaceChildren(...rows);
    if (rows.length) registerWorker();
    if (!rows.length) ul.append(Object.assign(document.createElement("li"), { textContent: "Nothing downloaded" }));
    let lic = "";
    if (st.revoked) lic = "This browser was signed out of your account: its downloads no longer play.";
    else if (st.licenses.length) {
      const until = Math.min(...st.licenses.map((l) => l.until));
      const expires = Math.min(...st.licenses.map((l) => l.expires));
      lic = st.trustedNow > expires
        ? `Offline licence expired; downloads play until ${new Date(until).toLocaleString()} — connect to renew.`
        : `Downloads play offline until ${new Date(expires).toLocaleDateString()} (renewed automatically when online).`;
      if (st.refused) lic += ` Renewal refused: ${st.refused}.`;
    }
    $("dl-licence").textContent = lic;
    $("dl-progress").textContent = `${(st.bytes / 1e6).toFixed(1)} MB stored, ${st.tracksDone}/${st.tracks} tracks. ${current}`;
  }

  // leftOut lists the tracks of a request the relay would not license,
  // each with why (the CLI's `segue offline` prints the same).
  const why = (reason) => reason === "not_found" ? "not in the catalog (unknown or taken down)"
    : reason === "embargoed" ? "not released yet" : `unavailable (${reason})`;
  function leftOut(left) {
    const ul = document.createElement("ul");
    ul.className = "dl-left";
    ul.setAttribute("aria-label", "Tracks left out of the download");
    for (const u of left) {
      const li = document.createElement("li");
      li.dataset.track = String(u.track);
      li.dataset.reason = String(u.reason);
      li.textContent = `Track ${u.track} left out: ${why(u.reason)}.`;
      ul.append(li);
    }
    return ul;
  }

  async function playItem(ref) {
    await s.setTier(ref.tier); // a download plays at the tier it was made at
    if (ref.kind === "album") return s.playAlbum(ref.id, 0);
    if (ref.kind === "track") return s.playTracks([ref.id], 0, "track", ref.id);
    const kept = names()["playlist/" + ref.id];
    if (!kept || !kept.tracks || !kept.tracks.length) throw new Error("this playlist's tracks are not known yet");
    return s.playTracks(kept.tracks, 0, "playlist", ref.id);
  }

  async function add(kind, id, name) {
    if (!s || !id) return;
    registerWorker(); // offline play needs the page cached
    say("");
    const kept = remember(`${kind}/${id}`, { name });
    try {
      await s.download(kind, id);
      say(`Downloading ${name} for offline play.${kept ? "" : " This browser's storage for the page is full: its name is not kept" + (kind === "playlist" ? ", nor its tracks to play it offline." : ".")}`);
      draw();
    } catch (err) {
      say(String(err.message || err));
    }
  }
  $("album-dl").addEventListener("click", () => add("album", $("album").dataset.id, $("album-title").textContent));
  $("pl-dl").addEventListener("click", () => add("playlist", $("pl-open").dataset.id, $("pl-title").textContent));

  document.addEventListener("segue:session", (e) => attach(e.detail));
  document.addEventListener("segue:signedin", () => draw());
  if (window.segueSession) attach(window.segueSession);
})();
