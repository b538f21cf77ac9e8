// Segue effect-plugin host for the browser: runs a .wasm implementing the
// plugin ABI version 1 (see package player/plugin) with the browser's
// WebAssembly engine. It provides the same wasi_snapshot_preview1
// functions as the native host and nothing else, and passes samples
// through unchanged, so its output equals the native host's bit for bit.
//
//   import { loadPlugin } from "./webhost.js";
//   const fx = await loadPlugin(bytes, 44100, 2, [["band3", 4]]);
//   fx.process(float32Block);          // in place; throws PluginError
//   fx.setParam("preamp", -3);
//
// A plugin that traps, exits or returns a failure is unloaded: process
// leaves the block unchanged and throws, later calls throw "unloaded".
//
// WebAssembly cannot be interrupted on the thread that runs it, so
// loadPlugin has no time bound. loadPluginInWorker is the bounded host
// (as the native host's fuel/timeout): the plugin runs in a dedicated
// module Worker (this same file), each call has a deadline (a block
// 250 ms, setup and setParam 2 s by default, as natively), and a call past
// it terminates the Worker and unloads the plugin ("timeout"); a trap
// unloads it too. Its process is async and, like the native host, leaves
// a failed block unchanged, so a player drops the effect and plays on
// unprocessed:
//
//   const fx = await loadPluginInWorker(bytes, 44100, 2, params, { blockTimeoutMs: 250 });
//   try { await fx.process(block); } catch (e) { /* e.kind: "timeout", "trapped"… remove fx */ }

export const ABI_VERSION = 1;
export const MAX_KEY_LEN = 64;

// The wasi_snapshot_preview1 functions a plugin may import (WASIImports
// in package player/plugin).
export const WASI_IMPORTS = [
  "args_get", "args_sizes_get", "clock_time_get", "environ_get", "environ_sizes_get",
  "fd_write", "poll_oneoff", "proc_exit", "random_get", "sched_yield",
];

export class PluginError extends Error {
  constructor(kind, message) {
    super(`plugin: ${kind}: ${message}`);
    this.kind = kind; // "invalid module", "unsupported ABI version", "bad parameter", "trapped", "bad output", "unloaded", "unsupported format", "timeout"
  }
}

class ExitError extends Error {
  constructor(code) {
    super(`exit code ${code}`);
    this.code = code;
  }
}

const ERRNO_SUCCESS = 0;
const ERRNO_BADF = 8;

function wasiFor(name, getMemory, output) {
  const view = () => new DataView(getMemory().buffer);
  const bytes = () => new Uint8Array(getMemory().buffer);
  const arg = new TextEncoder().encode(name + "\0");
  return {
    args_sizes_get(argcPtr, sizePtr) {
      view().setUint32(argcPtr, 1, true);
      view().setUint32(sizePtr, arg.length, true);
      return ERRNO_SUCCESS;
    },
    args_get(argvPtr, bufPtr) {
      view().setUint32(argvPtr, bufPtr, true);
      bytes().set(arg, bufPtr);
      return ERRNO_SUCCESS;
    },
    environ_sizes_get(countPtr, sizePtr) {
      view().setUint32(countPtr, 0, true);
      view().setUint32(sizePtr, 0, true);
      return ERRNO_SUCCESS;
    },
    environ_get() {
      return ERRNO_SUCCESS;
    },
    clock_time_get(id, _precision, timePtr) {
      const ns = id === 0 ? BigInt(Date.now()) * 1000000n : BigInt(Math.round(performance.now() * 1e6));
      view().setBigUint64(timePtr, ns, true);
      return ERRNO_SUCCESS;
    },
    fd_write(fd, iovs, iovsLen, nwrittenPtr) {
      if (fd !== 1 && fd !== 2) return ERRNO_BADF;
      const v = view();
      let n = 0;
      for (let i = 0; i < iovsLen; i++) {
        const p = v.getUint32(iovs + 8 * i, true);
        const len = v.getUint32(iovs + 8 * i + 4, true);
        if (output.length < 1024) output.push(...bytes().slice(p, p + Math.min(len, 1024 - output.length)));
        n += len;
      }
      v.setUint32(nwrittenPtr, n, true);
      return ERRNO_SUCCESS;
    },
    poll_oneoff(inPtr, outPtr, nsubs, neventsPtr) {
      // Every subscription (a clock: the Go scheduler sleeping) is
      // reported ready at once; a plugin has nothing to wait for.
      const v = view();
      for (let i = 0; i < nsubs; i++) {
        const sub = inPtr + 48 * i, ev = outPtr + 32 * i;
        v.setBigUint64(ev, v.getBigUint64(sub, true), true);
        v.setUint16(ev + 8, ERRNO_SUCCESS, true);
        v.setUint8(ev + 10, v.getUint8(sub + 8));
      }
      v.setUint32(neventsPtr, nsubs, true);
      return ERRNO_SUCCESS;
    },
    proc_exit(code) {
      throw new ExitError(code);
    },
    random_get(ptr, len) {
      for (let off = 0; off < len; off += 65536) {
        crypto.getRandomValues(new Uint8Array(getMemory().buffer, ptr + off, Math.min(65536, len - off)));
      }
      return ERRNO_SUCCESS;
    },
    sched_yield() {
      return ERRNO_SUCCESS;
    },
  };
}

const SIGNATURES = ["segue_abi_version", "segue_alloc", "segue_init", "segue_set_param", "segue_process"];

// loadPlugin compiles and instantiates bytes for a stream of rate Hz and
// channels interleaved channels, applies params ([key, value] pairs) and
// returns the instance. opts.maxBlockFrames (default 8192) is the largest
// piece passed to segue_process, as in the native host.
export async function loadPlugin(bytes, rate, channels, params = [], opts = {}) {
  const name = opts.name ?? "plugin";
  let module;
  try {
    module = await WebAssembly.compile(bytes);
  } catch (e) {
    throw new PluginError("invalid module", `${name}: ${e.message}`);
  }
  for (const imp of WebAssembly.Module.imports(module)) {
    if (imp.kind !== "function" || imp.module !== "wasi_snapshot_preview1" || !WASI_IMPORTS.includes(imp.name)) {
      throw new PluginError("invalid module", `${name}: imports ${imp.module}.${imp.name}, which the ABI does not provide`);
    }
  }
  const exports = new Map(WebAssembly.Module.exports(module).map((e) => [e.name, e.kind]));
  if (exports.get("memory") !== "memory") throw new PluginError("invalid module", `${name}: no exported memory "memory"`);
  for (const fn of SIGNATURES) {
    if (exports.get(fn) !== "function") throw new PluginError("invalid module", `${name}: no exported function ${fn}`);
  }
  let memory;
  const output = [];
  const instance = await WebAssembly.instantiate(module, {
    wasi_snapshot_preview1: wasiFor(name, () => memory, output),
  });
  const x = instance.exports;
  memory = x.memory;
  return new Plugin(name, x, rate, channels, params, opts.maxBlockFrames ?? 8192, output);
}

class Plugin {
  constructor(name, x, rate, channels, params, maxFrames, output) {
    this.name = name;
    this.rate = rate;
    this.channels = channels;
    this.x = x;
    this.maxFrames = maxFrames;
    this.output = output;
    this.err = null;
    this.call(() => x._initialize && x._initialize());
    const v = this.call(() => x.segue_abi_version());
    if (v !== ABI_VERSION) {
      this.unload(new PluginError("unsupported ABI version", `plugin has version ${v}, host ${ABI_VERSION}`));
      throw this.err;
    }
    this.buf = this.alloc(maxFrames * channels * 4);
    this.key = this.alloc(MAX_KEY_LEN);
    const st = this.call(() => x.segue_init(rate, channels));
    if (st !== 0) {
      this.unload(new PluginError("unsupported format", `segue_init(${rate}, ${channels}) returned ${st}`));
      throw this.err;
    }
    for (const [k, v] of params) this.setParam(k, v);
  }

  call(fn) {
    if (this.err) throw new PluginError("unloaded", this.err.message);
    try {
      return fn();
    } catch (e) {
      const text = new TextDecoder().decode(new Uint8Array(this.output)).trim().split("\n")[0];
      this.unload(new PluginError("trapped", `${this.name}: ${e.message}${text ? ": plugin output: " + text : ""}`));
      throw this.err;
    }
  }

  unload(err) {
    if (!this.err) this.err = err;
  }

  alloc(n) {
    const p = this.call(() => this.x.segue_alloc(n)) >>> 0;
    if (p === 0 || p % 4 !== 0 || p + n > this.x.memory.buffer.byteLength) {
      this.unload(new PluginError("bad output", `segue_alloc(${n}) returned ${p}`));
      throw this.err;
    }
    return p;
  }

  setParam(key, value) {
    if (!/^[a-z0-9._-]{1,64}$/.test(key)) throw new PluginError("bad parameter", `key ${JSON.stringify(key)}`);
    if (!Number.isFinite(value)) throw new PluginError("bad parameter", `${key}=${value}: not finite`);
    const k = new TextEncoder().encode(key);
    new Uint8Array(this.x.memory.buffer, this.key, k.length).set(k);
    const st = this.call(() => this.x.segue_set_param(this.key, k.length, value));
    if (st !== 0) throw new PluginError("bad parameter", `${this.name}: ${key}=${value} refused (status ${st})`);
  }

  // process runs the plugin over a Float32Array of interleaved frames in
  // place; on error the block is left unchanged.
  process(frames) {
    if (frames.length % this.channels !== 0) throw new PluginError("unsupported format", "partial frame");
    if (this.err) throw new PluginError("unloaded", this.err.message);
    const out = new Float32Array(frames.length);
    const step = this.maxFrames * this.channels;
    for (let off = 0; off < frames.length; off += step) {
      const piece = frames.subarray(off, Math.min(off + step, frames.length));
      new Float32Array(this.x.memory.buffer, this.buf, piece.length).set(piece);
      const st = this.call(() => this.x.segue_process(this.buf, piece.length / this.channels));
      if (st !== 0) {
        this.unload(new PluginError("bad output", `${this.name}: segue_process returned ${st}`));
        throw this.err;
      }
      const res = new Float32Array(this.x.memory.buffer, this.buf, piece.length);
      for (let i = 0; i < res.length; i++) {
        if (!Number.isFinite(res[i])) {
          this.unload(new PluginError("bad output", `${this.name}: sample ${i} is ${res[i]}`));
          throw this.err;
        }
      }
      out.set(res, off);
    }
    frames.set(out);
  }

  close() {
    this.unload(new PluginError("unloaded", `${this.name}: closed`));
  }
}

// The bounded host's defaults, as the native host's (plugin.DefaultOptions).
export const BLOCK_TIMEOUT_MS = 250;
export const SETUP_TIMEOUT_MS = 2000;
const WORKER_NAME = "segue-plugin-host";

// loadPluginInWorker is loadPlugin in a dedicated Worker with a deadline
// on every call (opts.blockTimeoutMs for process, opts.setupTimeoutMs for
// loading and setParam): see the top of this file. It rejects as
// loadPlugin does, and with kind "timeout" when loading overran.
export async function loadPluginInWorker(bytes, rate, channels, params = [], opts = {}) {
  const fx = new WorkerPlugin(opts);
  const copy = bytes instanceof ArrayBuffer ? bytes.slice(0) : new Uint8Array(bytes).slice().buffer;
  await fx.call("load", { bytes: copy, rate, channels, params, opts: { name: fx.name, maxBlockFrames: opts.maxBlockFrames } }, [copy], fx.setupMs);
  fx.channels = channels;
  return fx;
}

class WorkerPlugin {
  constructor(opts) {
    this.name = opts.name ?? "plugin";
    this.blockMs = opts.blockTimeoutMs ?? BLOCK_TIMEOUT_MS;
    this.setupMs = opts.setupTimeoutMs ?? SETUP_TIMEOUT_MS;
    this.err = null;
    this.seq = 0;
    this.pending = new Map();
    this.worker = new Worker(new URL(import.meta.url), { type: "module", name: WORKER_NAME });
    this.worker.onmessage = (e) => {
      const p = this.pending.get(e.data.id);
      if (p) { this.pending.delete(e.data.id); p(e.data); }
    };
    this.worker.onerror = (e) => this.unload(new PluginError("trapped", `${this.name}: worker: ${e.message}`));
  }

  // call sends op to the worker and waits at most ms for its answer; past
  // the deadline the worker is terminated and the plugin unloaded.
  call(op, msg, transfer, ms) {
    if (this.err) return Promise.reject(new PluginError("unloaded", this.err.message));
    return new Promise((resolve, reject) => {
      const id = ++this.seq;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.unload(new PluginError("timeout", `${this.name}: ${op} ran past its ${ms} ms bound; unloaded`));
        reject(this.err);
      }, ms);
      this.pending.set(id, (m) => {
        clearTimeout(timer);
        if (m.ok) return resolve(m);
        const err = new PluginError(m.kind || "trapped", "");
        err.message = m.message;
        if (m.kind !== "bad parameter") this.unload(err);
        reject(err);
      });
      this.worker.postMessage({ ...msg, op, id }, transfer);
    });
  }

  unload(err) {
    if (!this.err) this.err = err;
    this.worker.terminate();
    for (const p of this.pending.values()) p({ ok: false, kind: "unloaded", message: this.err.message });
    this.pending.clear();
  }

  get error() { return this.err; }

  setParam(key, value) {
    return this.call("setParam", { key, value }, [], this.setupMs).then(() => undefined);
  }

  // process runs the plugin over frames (interleaved, in place) in the
  // worker; on any failure frames are left unchanged and it rejects.
  async process(frames) {
    if (frames.length % (this.channels || 1) !== 0) throw new PluginError("unsupported format", "partial frame");
    const copy = frames.slice();
    const m = await this.call("process", { frames: copy }, [copy.buffer], this.blockMs);
    frames.set(m.frames);
  }

  close() {
    this.unload(new PluginError("unloaded", `${this.name}: closed`));
  }
}

// In the host's Worker: run one plugin with loadPlugin, answering each
// call.
if (typeof WorkerGlobalScope === "function" && globalThis instanceof WorkerGlobalScope && globalThis.name === WORKER_NAME) {
  let fx = null;
  globalThis.onmessage = async (e) => {
    const m = e.data;
    try {
      if (m.op === "load") {
        fx = await loadPlugin(m.bytes, m.rate, m.channels, m.params, m.opts);
        postMessage({ id: m.id, ok: true });
      } else if (m.op === "setParam") {
        fx.setParam(m.key, m.value);
        postMessage({ id: m.id, ok: true });
      } else if (m.op === "process") {
        fx.process(m.frames);
        postMessage({ id: m.id, ok: true, frames: m.frames }, [m.frames.buffer]);
      }
    } catch (err) {
      postMessage({ id: m.id, ok: false, kind: err.kind || "trapped", message: err.message });
    }
  };
}
