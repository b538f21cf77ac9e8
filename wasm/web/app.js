// app.js — the Segue web page: sign in, search the catalog, albums, play
// controls. Plain DOM, no framework; the engine is globalThis.segue.
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
      const capture = new URLSearchParams(location.search).has("test-capture");
      opening = segue.open(relay, { tier: $("tier").value, capture }).then((x) => {
        s = x;
        window.segueSession = x; // for the browser tests and the console
        x.on("status", render);
        return x;
      });
    }
    return opening;
  }

  function render(st) {
    const rate = s.audioContext.sampleRate;
    const len = st.length / rate;
    $("controls").hidden = false;
    $("now").textContent = st.track ? `${st.state}: track ${st.index + 1}` : "Nothing playing";
    const seek = $("seek");
    seek.max = String(len);
    if (document.activeElement !== seek) seek.value = String(st.frame / rate);
    $("time").textContent = `${fmt(st.frame / rate)} / ${fmt(len)}`;
    const playing = st.state === "playing" || st.state === "buffering";
    $("toggle").textContent = playing ? "⏸" : "▶";
    $("toggle").setAttribute("aria-label", playing ? "Pause" : "Play");
    if (st.tierWarning) say("tier-msg", "This connection may not sustain the chosen quality; lower it if playback stutters.");
    if (st.error && !st.tierWarning) say("tier-msg", st.error);
  }

  function signedIn() {
    $("account").hidden = true;
    $("library").hidden = false;
  }

  // A browser that signed in before is still a device: go to the library.
  engine().then((x) => { if (x.loggedIn) signedIn(); }, (err) => say("account-msg", String(err.message || err)));

  $("login").addEventListener("submit", async (e) => {
    e.preventDefault();
    say("account-msg", "");
    try {
      const x = await engine();
      const user = $("user").value, pass = $("pass").value;
      if ($("signup").checked) await x.signUp(user, pass);
      await x.login(user, pass);
      signedIn();
      $("q").focus();
    } catch (err) {
      say("account-msg", String(err.message || err));
    }
  });

  $("find").addEventListener("submit", async (e) => {
    e.preventDefault();
    const ul = $("results");
    ul.replaceChildren();
    try {
      const res = await s.search($("q").value);
      for (const r of res.results || []) {
        const li = document.createElement("li");
        const b = document.createElement("button");
        b.type = "button";
        b.textContent = `${r.title}${r.artists ? " — " + r.artists.join(", ") : ""} (${r.kind})`;
        b.addEventListener("click", () => r.kind === "album" ? showAlbum(r.id) : s.playTracks([r.id], 0, "track", r.id));
        li.append(b);
        ul.append(li);
      }
      if (!ul.children.length) ul.append(Object.assign(document.createElement("li"), { textContent: "No results" }));
    } catch (err) {
      ul.append(Object.assign(document.createElement("li"), { textContent: String(err.message || err) }));
    }
  });

  async function showAlbum(id) {
    const a = await s.album(id);
    $("album").hidden = false;
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
      li.append(b);
      ol.append(li);
    });
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
