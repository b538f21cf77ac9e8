// segue.js — the web player's JavaScript API (typed in segue.d.ts). It
// loads the Go engine (segue.wasm, run by Go's wasm_exec.js, which the
// page loads first), starts the AudioWorklet output and wraps the
// engine's bridge. Plain script: it defines globalThis.segue.
"use strict";
(() => {
  const CTRL_BYTES = 64, W = 0, R = 1, FLUSH_AT = 2, FLUSH_SEQ = 3, HOLD = 4; // worklet.js: ring layout
  const TIERS = ["low", "normal", "high", "very_high"];
  const CAPTURE_FRAMES = 1 << 22; // the capture hook's default bound (≈ 95 s at 44.1 kHz, 32 MiB)

  function assetURLs(opts) {
    if (opts.assets) return opts.assets;
    const el = document.getElementById("segue-assets");
    if (!el) throw new Error("segue: no asset list (#segue-assets)");
    return JSON.parse(el.textContent);
  }

  // compileEngine starts fetching and compiling the engine's module once
  // per URL. It runs as soon as this script does (below), so the compile
  // overlaps the rest of the page's parse and the audio graph's setup
  // instead of waiting for segue.open.
  const compiling = new Map();
  function compileEngine(url) {
    if (!compiling.has(url)) {
      const p = WebAssembly.compileStreaming(fetch(url));
      p.then(() => performance.mark("segue:wasm-compiled"), () => {});
      compiling.set(url, p);
    }
    return compiling.get(url);
  }
  try {
    const el = document.getElementById("segue-assets");
    if (el && typeof WebAssembly === "object") compileEngine(JSON.parse(el.textContent).wasm).catch(() => {});
  } catch { /* no asset list here: segue.open compiles on demand */ }

  let engineLoaded = null;
  function loadEngine(url) {
    if (!engineLoaded) {
      engineLoaded = (async () => {
        if (typeof Go !== "function") throw new Error("segue: wasm_exec.js is not loaded");
        const go = new Go();
        const instance = await WebAssembly.instantiate(await compileEngine(url), go.importObject);
        go.run(instance);
        if (!globalThis.segueBridge) throw new Error("segue: the engine did not start");
        performance.mark("segue:engine-started");
      })();
    }
    return engineLoaded;
  }

  // makeOutput returns the output the Go sink writes to: a staging buffer
  // and push(offset, frames), which copies as many frames as fit into the
  // worklet's buffer and returns that number. While the output is held
  // (paused) the worklet consumes nothing, so frames that do not fit are
  // kept here, up to one buffer's worth, and go to the worklet first once
  // it plays again: the Go sink's write returns, so the player sees the
  // pause instead of waiting for room that a held worklet never makes.
  // A dry output (marking false) never marks: its arm only runs the code.
  function makeOutput(ac, node, sab, capacity, channels, listeners, marking = true) {
    let staging = new Uint8Array(0), stagingF = new Float32Array(0);
    const mask = capacity - 1;
    let sent = 0, consumed = 0; // fallback flow control, in frames
    const pending = new Map();
    let seq = 0;
    let held = false;
    const over = new Float32Array(capacity * channels); // kept while held
    let overN = 0, draining = 0;
    const ctrl = sab ? new Int32Array(sab, 0, CTRL_BYTES / 4) : null;
    const data = sab ? new Float32Array(sab, CTRL_BYTES, capacity * channels) : null;
    // First-audio timing: a play call arms the marks; the engine's
    // milestones (mark), the first frames in the worklet's buffer
    // ("segue:ring") and the first quantum the worklet plays with audio
    // ("segue:heard", on the Performance API's clock via the context's
    // output timestamp) are marked once each after it.
    // calledAt is the time of the play call in progress (-1: none); the
    // bridge arms the marks once it accepted the call (jump), from then.
    let armed = null, heardArmed = false, calledAt = -1;
    const mark = (name) => { if (armed && !armed.has(name)) { armed.add(name); performance.mark(name); } };
    node.port.onmessage = (e) => {
      const m = e.data;
      if (m.type === "audible") {
        if (!heardArmed) return;
        heardArmed = false;
        const ts = typeof ac.getOutputTimestamp === "function" ? ac.getOutputTimestamp() : null;
        const at = ts && ts.performanceTime > 0 ? ts.performanceTime + (m.frame / ac.sampleRate - ts.contextTime) * 1000 : performance.now();
        performance.mark("segue:heard", { startTime: Math.max(0, at) });
      } else if (m.type === "consumed") consumed = m.n;
      else if (pending.has(m.id)) { pending.get(m.id)(m); pending.delete(m.id); }
    };
    const ask = (type) => new Promise((resolve) => { const id = ++seq; pending.set(id, resolve); node.port.postMessage({ type, id }); });
    // write copies up to n frames of src from frame off into the worklet's
    // buffer and returns how many fit.
    const write = (src, off, n) => {
      if (sab) {
        const w = Atomics.load(ctrl, W), r = Atomics.load(ctrl, R);
        const k = Math.min(n, capacity - ((w - r) | 0));
        // Frames are interleaved alike on both sides: at most two block
        // copies, the second past the ring's wrap.
        const at = w & mask, first = Math.min(k, capacity - at);
        data.set(src.subarray(off * channels, (off + first) * channels), at * channels);
        if (k > first) data.set(src.subarray((off + first) * channels, (off + k) * channels), 0);
        Atomics.store(ctrl, W, (w + k) | 0);
        if (k > 0) ringed();
        return k;
      }
      const k = Math.min(n, capacity - (sent - consumed));
      if (k <= 0) return 0;
      node.port.postMessage({ type: "frames", data: src.slice(off * channels, (off + k) * channels) });
      sent += k;
      ringed();
      return k;
    };
    function ringed() {
      if (!armed) return;
      mark("segue:ring");
      armed = null;
    }
    // drainOver moves kept frames into the worklet's buffer, in order.
    const drainOver = () => {
      if (overN === 0) return;
      const k = write(over, 0, overN);
      over.copyWithin(0, k * channels, overN * channels);
      overN -= k;
    };
    // drainLater keeps draining after a resume even when the player has
    // nothing more to write (the held frames were the end of the queue).
    const drainLater = () => {
      clearTimeout(draining);
      drainOver();
      if (overN > 0 && !held) draining = setTimeout(drainLater, 4);
    };
    return {
      rate: ac.sampleRate,
      channels,
      buffer(nbytes) {
        staging = new Uint8Array(nbytes);
        stagingF = new Float32Array(staging.buffer);
        return staging;
      },
      push(off, n) {
        drainOver();
        const k = overN > 0 ? 0 : write(stagingF, off, n);
        if (k === n || !held) return k;
        const keep = Math.min(n - k, capacity - overN);
        over.set(stagingF.subarray((off + k) * channels, (off + k + keep) * channels), overN * channels);
        overN += keep;
        return k + keep;
      },
      mark,
      // calling runs a play call's bridge call fn (play) or another
      // jump's: the play's marks are armed if the bridge accepts it.
      calling(play, fn) {
        calledAt = play && marking ? performance.now() : -1;
        try { return fn(); } finally { calledAt = -1; }
      },
      // jump is the bridge's word that it accepted a play, seek or skip
      // (its arguments checked): a play's marks are armed, from the call
      // ("segue:play"), and when early the output drops what it holds
      // for the jump at once. A refused call changes nothing here.
      jump(early) {
        if (calledAt >= 0) {
          armed = new Set(); heardArmed = true; performance.mark("segue:play", { startTime: calledAt });
        }
        if (early) this.drop();
      },
      // drop flushes and releases the hold: at a jump (the bridge's early
      // one, the player's own).
      drop() { this.flush(); this.hold(false); },
      // The worklet drops what was written before the flush, up to the
      // write index seen here: frames the engine writes before the worklet
      // applies it (a play from memory does, within the same task) are
      // kept. With the ring, flush and hold are control words the worklet
      // reads each quantum (no message on a play call's path); FLUSH_AT
      // is stored before FLUSH_SEQ counts the flush.
      // flushes counts the flushes (the page's and the engine's): the
      // engine's sink reads it while it pushes a block in pieces and drops
      // the block's rest when a flush came between (audio from before a
      // jump the page flushed for).
      flushes: 0,
      flush() {
        this.flushes++;
        overN = 0; clearTimeout(draining);
        if (sab) {
          Atomics.store(ctrl, FLUSH_AT, Atomics.load(ctrl, W));
          Atomics.add(ctrl, FLUSH_SEQ, 1);
        } else node.port.postMessage({ type: "flush" });
      },
      hold(on) {
        held = on;
        if (sab) Atomics.store(ctrl, HOLD, on ? 1 : 0);
        else node.port.postMessage({ type: "hold", on });
        if (!on) drainLater();
      },
      buffered: () => overN + (sab ? (Atomics.load(ctrl, W) - Atomics.load(ctrl, R)) | 0 : sent - consumed),
      stats: () => ask("stats"),
      dump: () => ask("dump"),
      status(st) { for (const fn of listeners.status) fn(st); },
      played(json) { const ev = JSON.parse(json); for (const fn of listeners.play) fn(ev); },
      unauthorized() { for (const fn of listeners.signedout) fn(); },
      download(json) { const ev = JSON.parse(json); for (const fn of listeners.download) fn(ev); },
      // Playlist downloads ask the page for a playlist's track ids
      // (session.setPlaylistResolver).
      playlistTracks: (id) => listeners.resolver ? listeners.resolver(id) : Promise.reject(new Error("no playlist resolver")),
    };
  }

  // makeDryOutput returns an output made by makeOutput's code over a ring
  // of its own that no worklet plays and that drops every frame as soon
  // as it is written. The engine's warm-up (Engine.Warm) plays a silent
  // clip into it, so that the listener's first play runs output code the
  // browser has compiled already, with no sound, mark or event.
  function makeDryOutput(ac, shared, capacity, channels) {
    const sab = shared ? new SharedArrayBuffer(CTRL_BYTES + capacity * channels * 4) : null;
    const ctrl = sab ? new Int32Array(sab, 0, CTRL_BYTES / 4) : null;
    const port = { postMessage() {} };
    const out = makeOutput(ac, { port }, sab, capacity, channels, { status: [], play: [], download: [], signedout: [], resolver: null }, false);
    const push = out.push;
    let written = 0;
    out.push = (off, n) => {
      const k = push(off, n);
      written += k;
      // As the worklet would report having played it all.
      if (ctrl) Atomics.store(ctrl, R, Atomics.load(ctrl, W));
      else port.onmessage({ data: { type: "consumed", n: written } });
      return k;
    };
    return out;
  }

  // keyStore keeps secrets in IndexedDB encrypted with a non-extractable
  // AES-GCM key generated in (and never leaving) the browser's WebCrypto;
  // each record is {iv, ct}, authenticated with its name.
  function keyStore(dbName) {
    const db = new Promise((resolve, reject) => {
      const req = indexedDB.open(dbName, 1);
      req.onupgradeneeded = () => req.result.createObjectStore("keys");
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    const op = async (mode, fn) => {
      const d = await db;
      return new Promise((resolve, reject) => {
        const tx = d.transaction("keys", mode);
        const req = fn(tx.objectStore("keys"));
        tx.oncomplete = () => resolve(req.result);
        tx.onerror = tx.onabort = () => reject(tx.error);
      });
    };
    let wrapping = null;
    const key = () => wrapping || (wrapping = (async () => {
      const k = await op("readonly", (s) => s.get("wrapping-key"));
      if (k) return k;
      const fresh = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
      try {
        await op("readwrite", (s) => s.add(fresh, "wrapping-key"));
        return fresh;
      } catch (err) {
        // Another session of this origin stored one first: use that.
        const other = await op("readonly", (s) => s.get("wrapping-key"));
        if (other) return other;
        wrapping = null;
        throw err;
      }
    })());
    // Opened and the wrapping key loaded (or made) at once: segue.open
    // creates the store before the engine is compiled, so this overlaps
    // the compile. A failure here is retried and reported by load/save.
    key().catch(() => {});
    const enc = new TextEncoder();
    return {
      async load(name) {
        const rec = await op("readonly", (s) => s.get("secret/" + name));
        if (!rec) throw Object.assign(new Error("no secret " + name), { name: "NotFound" });
        const k = await key();
        try {
          return new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: rec.iv, additionalData: enc.encode(name) }, k, rec.ct));
        } catch (err) {
          // Not readable with this browser's wrapping key (the key was
          // deleted, or the record damaged), now or ever: as good as
          // absent, so the engine makes a new one (a lost token: sign in
          // again; a lost identity: this browser becomes a new device)
          // instead of failing to open on every load.
          console.warn(`segue: the stored ${name} is unreadable (${err.name}); treated as absent`);
          throw Object.assign(new Error(`secret ${name} unreadable`), { name: "NotFound" });
        }
      },
      async save(name, secret) {
        const iv = crypto.getRandomValues(new Uint8Array(12));
        const ct = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: enc.encode(name) }, await key(), secret);
        await op("readwrite", (s) => s.put({ iv, ct }, "secret/" + name));
      },
      // create saves only when nothing is stored under name (IndexedDB's
      // add), else rejects with name "Exists": two tabs creating the
      // device identity at once keep one.
      async create(name, secret) {
        const iv = crypto.getRandomValues(new Uint8Array(12));
        const ct = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: enc.encode(name) }, await key(), secret);
        const d = await db;
        await new Promise((resolve, reject) => {
          const tx = d.transaction("keys", "readwrite");
          const req = tx.objectStore("keys").add({ iv, ct }, "secret/" + name);
          tx.oncomplete = () => resolve();
          // The request's error: the transaction's is not set yet when
          // the failed add's error event reaches it.
          tx.onabort = () => {
            const err = req.error || tx.error;
            reject(err && err.name === "ConstraintError" ? Object.assign(new Error(`secret ${name} exists`), { name: "Exists" }) : err);
          };
        });
      },
    };
  }

  // clearDatabase empties every object store of IndexedDB database name
  // in one transaction. A deletion would wait for every tab's connection
  // to close; clearing does not, so a sign-out ends with nothing of the
  // account left, whatever other tabs hold open.
  function clearDatabase(name) {
    return new Promise((resolve, reject) => {
      const req = indexedDB.open(name);
      req.onerror = () => reject(req.error);
      req.onsuccess = () => {
        const db = req.result;
        const names = [...db.objectStoreNames];
        if (!names.length) { db.close(); resolve(); return; }
        const tx = db.transaction(names, "readwrite");
        for (const n of names) tx.objectStore(n).clear();
        tx.oncomplete = () => { db.close(); resolve(); };
        tx.onerror = tx.onabort = () => { db.close(); reject(tx.error); };
      };
    });
  }

  // wake starts a real-time context that is not running (it may start
  // suspended until a user gesture); an OfflineAudioContext is started by
  // its owner, and a running one is left alone: resume() would still make
  // a promise on the play path.
  function wake(ac) { if (typeof AudioContext === "function" && ac instanceof AudioContext && ac.state !== "running") ac.resume(); }

  // playCalls returns a session's calls that start or move playback, over
  // output o and bridge b. The bridge checks each call's arguments before
  // anything changes, then tells the output (o.jump): a refused call
  // keeps the buffered audio, the hold and the marks as they were. A
  // play call wakes the context ac; its marks count from the call
  // ("segue:play": the first-audio figure starts there, as native's
  // does).
  function playCalls(ac, o, b) {
    const jump = (fn) => (...args) => o.calling(false, () => fn(...args));
    const play = (fn) => (...args) => o.calling(true, () => fn(...args));
    return {
      playAlbum: play((id, start = 0, frame = 0) => { wake(ac); return b.playAlbum(id, start, frame); }),
      playTracks: play((ids, start = 0, kind = "", id = "", frame = 0) => { wake(ac); return b.playTracks(ids, start, kind, id, frame); }),
      playShare: play((token) => { wake(ac); return b.playShare(token).then((j) => JSON.parse(j)); }),
      next: jump(() => b.next()),
      previous: jump(() => b.previous()),
      stop: jump(() => b.stop()),
      seek: jump((seconds) => b.seek(seconds)),
    };
  }

  // idleBridge stands for the engine's bridge in the play calls' warm-up
  // (open calls playAlbum, playTracks and next); as the bridge does, it
  // tells the output it accepted each.
  const idleBridge = (o) => ({ playAlbum() { o.jump(true); }, playTracks() { o.jump(true); }, next() { o.jump(true); } });

  async function open(relayURL, opts = {}) {
    const assets = assetURLs(opts);
    // The engine's fetch and compile (the longest step of page load) run
    // while the audio graph is set up, not after it.
    const engineReady = loadEngine(assets.wasm);
    engineReady.catch(() => {}); // reported by the await below
    // The device's secrets persist (wrapped) unless persist is false; the
    // key store's database opens while the engine compiles.
    const persist = opts.persist !== false;
    const keys = persist ? keyStore("segue-keys") : undefined;
    const channels = 2;
    const ac = opts.audioContext || new AudioContext({ latencyHint: "playback" });
    await ac.audioWorklet.addModule(assets.worklet);
    performance.mark("segue:worklet");
    const shared = typeof SharedArrayBuffer === "function" && globalThis.crossOriginIsolated && !opts.noSharedMemory;
    // About 740 ms at 44.1 kHz, to ride out a busy main thread; pause
    // holds the worklet and seek/next flush it, so neither waits for it.
    const capacity = opts.bufferFrames || 32768;
    if (capacity & (capacity - 1)) throw new Error("segue: bufferFrames must be a power of two");
    const sab = shared ? new SharedArrayBuffer(CTRL_BYTES + capacity * channels * 4) : null;
    const node = new AudioWorkletNode(ac, "segue-out", {
      numberOfInputs: 0, outputChannelCount: [channels],
      processorOptions: { sab, capacity, channels, capture: !!opts.capture, captureFrames: opts.captureFrames || CAPTURE_FRAMES },
    });
    node.connect(ac.destination);
    const listeners = { status: [], play: [], download: [], signedout: [], resolver: null };
    const out = makeOutput(ac, node, sab, capacity, channels, listeners);
    const dry = makeDryOutput(ac, shared, capacity, channels);
    await engineReady;
    const tier = opts.tier || "high";
    if (!TIERS.includes(tier)) throw new Error(`segue: tier ${tier}`);
    // The store (signed manifests, downloads and offline licenses, history)
    // is in IndexedDB unless persistStore is false — except the streaming
    // blob cache, which stays in memory: an IndexedDB commit per blob
    // made real-time output underrun on a loaded machine
    // (docs/BENCHMARKS.md). Downloads need the IndexedDB store.
    const database = persist && opts.persistStore !== false ? (opts.database || "segue-store") : undefined;
    const b = await globalThis.segueBridge.open(relayURL, out, {
      tier,
      database,
      keys,
      testClock: !!opts.testClock,
      warmOutput: dry,
    });
    performance.mark("segue:bridge-open");
    let setting = tier; // the tier setting (downloads default to it)
    let last = { state: "idle", track: "", index: -1, frame: 0, length: 0, position: 0, tier, volume: 1 };
    listeners.status.push((st) => { last = st; });
    // The play calls run once over the dry output and a bridge that does
    // nothing, so that a listener's first play runs code the browser has
    // compiled (the engine's warm-up does the same on the Go side).
    const warm = playCalls({}, dry, idleBridge(dry));
    warm.playAlbum("", 0, 0);
    warm.playTracks([], 0);
    warm.next();
    const calls = playCalls(ac, out, b);
    // Plays are uploaded by the engine after each play; also when the
    // browser is back online and when the page is hidden (the last moment
    // a closing tab is sure to get). An upload cut short keeps its plays.
    const sendPlays = () => b.sendPlays();
    // Hidden may mean closing: the upload's requests use fetch keepalive
    // (the browser completes them after the tab is gone), ≤ 64 KiB each.
    const sendHidden = () => { if (document.visibilityState === "hidden") b.sendPlaysOnHide(); };
    globalThis.addEventListener("online", sendPlays);
    document.addEventListener("visibilitychange", sendHidden);
    const close = async () => {
      globalThis.removeEventListener("online", sendPlays);
      document.removeEventListener("visibilitychange", sendHidden);
      await b.close(); node.disconnect();
    };
    return {
      audioContext: ac,
      sharedMemory: shared,
      deviceId: b.deviceId,
      loggedIn: b.loggedIn,
      signUp: (u, p) => b.signUp(u, p),
      login: (u, p) => b.login(u, p),
      token: () => b.token(),
      get: async (path) => JSON.parse(await b.get(path)),
      search: async (q, o = {}) => {
        const p = new URLSearchParams({ q });
        for (const k of ["types", "limit", "offset"]) if (o[k] !== undefined) p.set(k, String(o[k]));
        return JSON.parse(await b.get("/v1/search?" + p));
      },
      tracks: async (ids) => JSON.parse(await b.tracks(ids)),
      // Through the engine, which keeps the answer for a play of it.
      album: async (id) => JSON.parse(await b.album(id)),
      ...calls,
      pause: () => { out.hold(true); return b.pause(); },
      resume: () => { wake(ac); out.hold(false); return b.resume(); },
      prefetch: async (ids, t) => {
        await b.prefetch(ids.slice(0, 8), t || setting);
        performance.mark("segue:prefetched");
      },
      setVolume: (g) => b.setVolume(g),
      setTier: (t) => b.setTier(t).then(() => { setting = t; }),
      status: () => last,
      // Offline downloads (kind "album" | "playlist" | "track") at a tier
      // (default: the current playback tier).
      download: (kind, id, t) => b.download(kind, id, t || setting),
      removeDownload: (kind, id, t) => b.removeDownload(kind, id, t || setting),
      downloads: async () => JSON.parse(await b.downloads()),
      renewLicenses: () => b.renewLicenses(),
      advanceClock: (seconds) => b.advanceClock(seconds),
      setPlaylistResolver(fn) { listeners.resolver = fn; },
      on(event, fn) {
        const l = listeners[event];
        if (!l) throw new Error(`segue: unknown event ${event}`);
        l.push(fn);
        return () => { const i = l.indexOf(fn); if (i >= 0) l.splice(i, 1); };
      },
      outputStats: () => out.stats(),
      buffered: () => out.buffered(),
      captured: () => out.dump(),
      uploadPlays: async () => JSON.parse(await b.uploadPlays()),
      pendingPlays: () => b.pendingPlays(),
      close,
      // Deregisters this browser at the relay (rejecting, with nothing
      // cleared, when the relay cannot be reached), closes the session
      // and clears its IndexedDB store (downloads, licences, queued plays,
      // history) and key store (identity, token, account).
      signOut: async () => {
        await b.signOut();
        await close();
        await Promise.all([database, persist && "segue-keys"].filter(Boolean).map(clearDatabase));
      },
    };
  }

  globalThis.segue = { open, clearDatabase, tiers: TIERS };
})();
