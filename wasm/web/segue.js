// segue.js — the web player's JavaScript API (typed in segue.d.ts). It
// loads the Go engine (segue.wasm, run by Go's wasm_exec.js, which the
// page loads first), starts the AudioWorklet output and wraps the
// engine's bridge. Plain script: it defines globalThis.segue.
"use strict";
(() => {
  const CTRL_BYTES = 64, W = 0, R = 1;
  const TIERS = ["low", "normal", "high", "very_high"];

  function assetURLs(opts) {
    if (opts.assets) return opts.assets;
    const el = document.getElementById("segue-assets");
    if (!el) throw new Error("segue: no asset list (#segue-assets)");
    return JSON.parse(el.textContent);
  }

  let engineLoaded = null;
  function loadEngine(url) {
    if (!engineLoaded) {
      engineLoaded = (async () => {
        if (typeof Go !== "function") throw new Error("segue: wasm_exec.js is not loaded");
        const go = new Go();
        const res = await WebAssembly.instantiateStreaming(fetch(url), go.importObject);
        go.run(res.instance);
        if (!globalThis.segueBridge) throw new Error("segue: the engine did not start");
      })();
    }
    return engineLoaded;
  }

  // makeOutput returns the output the Go sink writes to: a staging buffer
  // and push(offset, frames), which copies as many frames as fit into the
  // worklet's buffer and returns that number.
  function makeOutput(ac, node, sab, capacity, channels, listeners) {
    let staging = new Uint8Array(0), stagingF = new Float32Array(0);
    const mask = capacity - 1;
    let sent = 0, consumed = 0; // fallback flow control, in frames
    const pending = new Map();
    let seq = 0;
    const ctrl = sab ? new Int32Array(sab, 0, CTRL_BYTES / 4) : null;
    const data = sab ? new Float32Array(sab, CTRL_BYTES, capacity * channels) : null;
    node.port.onmessage = (e) => {
      const m = e.data;
      if (m.type === "consumed") consumed = m.n;
      else if (pending.has(m.id)) { pending.get(m.id)(m); pending.delete(m.id); }
    };
    const ask = (type) => new Promise((resolve) => { const id = ++seq; pending.set(id, resolve); node.port.postMessage({ type, id }); });
    return {
      rate: ac.sampleRate,
      channels,
      buffer(nbytes) {
        staging = new Uint8Array(nbytes);
        stagingF = new Float32Array(staging.buffer);
        return staging;
      },
      push(off, n) {
        if (sab) {
          const w = Atomics.load(ctrl, W), r = Atomics.load(ctrl, R);
          const k = Math.min(n, capacity - ((w - r) | 0));
          for (let i = 0; i < k; i++) {
            const src = (off + i) * channels, dst = ((w + i) & mask) * channels;
            for (let c = 0; c < channels; c++) data[dst + c] = stagingF[src + c];
          }
          Atomics.store(ctrl, W, (w + k) | 0);
          return k;
        }
        const k = Math.min(n, capacity - (sent - consumed));
        if (k <= 0) return 0;
        node.port.postMessage({ type: "frames", data: stagingF.slice(off * channels, (off + k) * channels) });
        sent += k;
        return k;
      },
      flush() { node.port.postMessage({ type: "flush" }); },
      buffered: () => sab ? (Atomics.load(ctrl, W) - Atomics.load(ctrl, R)) | 0 : sent - consumed,
      stats: () => ask("stats"),
      dump: () => ask("dump"),
      status(st) { for (const fn of listeners.status) fn(st); },
      played(json) { const ev = JSON.parse(json); for (const fn of listeners.play) fn(ev); },
    };
  }

  async function open(relayURL, opts = {}) {
    const assets = assetURLs(opts);
    const channels = 2;
    const ac = opts.audioContext || new AudioContext({ latencyHint: "playback" });
    await ac.audioWorklet.addModule(assets.worklet);
    const shared = typeof SharedArrayBuffer === "function" && globalThis.crossOriginIsolated && !opts.noSharedMemory;
    // About 370 ms at 44.1 kHz: enough to ride out a busy main thread,
    // short enough that pause and seek answer quickly.
    const capacity = opts.bufferFrames || 16384;
    if (capacity & (capacity - 1)) throw new Error("segue: bufferFrames must be a power of two");
    const sab = shared ? new SharedArrayBuffer(CTRL_BYTES + capacity * channels * 4) : null;
    const node = new AudioWorkletNode(ac, "segue-out", {
      numberOfInputs: 0, outputChannelCount: [channels],
      processorOptions: { sab, capacity, channels, capture: !!opts.capture },
    });
    node.connect(ac.destination);
    const listeners = { status: [], play: [] };
    const out = makeOutput(ac, node, sab, capacity, channels, listeners);
    await loadEngine(assets.wasm);
    const tier = opts.tier || "high";
    if (!TIERS.includes(tier)) throw new Error(`segue: tier ${tier}`);
    const b = await globalThis.segueBridge.open(relayURL, out, { tier });
    let last = { state: "idle", track: "", index: -1, frame: 0, length: 0, position: 0, tier, volume: 1 };
    listeners.status.push((st) => { last = st; });
    // A real-time context may start suspended until a user gesture;
    // an OfflineAudioContext is started by its owner.
    const wake = () => { if (typeof AudioContext === "function" && ac instanceof AudioContext) ac.resume(); };
    const jump = (fn) => (...args) => { out.flush(); return fn(...args); };
    return {
      audioContext: ac,
      sharedMemory: shared,
      deviceId: b.deviceId,
      signUp: (u, p) => b.signUp(u, p),
      login: (u, p) => b.login(u, p),
      token: () => b.token(),
      get: async (path) => JSON.parse(await b.get(path)),
      search: async (q) => JSON.parse(await b.get("/v1/search?q=" + encodeURIComponent(q))),
      album: async (id) => JSON.parse(await b.get("/v1/albums/" + encodeURIComponent(id))),
      playAlbum: jump((id, start = 0, frame = 0) => { wake(); return b.playAlbum(id, start, frame); }),
      playTracks: jump((ids, start = 0, kind = "", id = "") => { wake(); return b.playTracks(ids, start, kind, id); }),
      pause: () => b.pause(),
      resume: () => { wake(); return b.resume(); },
      next: jump(() => b.next()),
      previous: jump(() => b.previous()),
      stop: jump(() => b.stop()),
      seek: jump((seconds) => b.seek(seconds)),
      setVolume: (g) => b.setVolume(g),
      setTier: (t) => b.setTier(t),
      status: () => last,
      on(event, fn) {
        const l = listeners[event];
        if (!l) throw new Error(`segue: unknown event ${event}`);
        l.push(fn);
        return () => { const i = l.indexOf(fn); if (i >= 0) l.splice(i, 1); };
      },
      outputStats: () => out.stats(),
      buffered: () => out.buffered(),
      captured: () => out.dump(),
      close: async () => { await b.close(); node.disconnect(); },
    };
  }

  globalThis.segue = { open, tiers: TIERS };
})();
