// The web player's AudioWorklet: plays interleaved float frames the Go
// engine writes, from a SharedArrayBuffer ring (cross-origin isolated
// pages) or from posted blocks (the fallback). It never blocks: a quantum
// with too few frames is completed with silence and counted as an
// underrun when it falls between two frames of audio.
"use strict";

// Ring layout (shared with segue.js): Int32 control words, then the data.
// W and R are the write and read counters (frames). The page flushes and
// holds through the words too, so a play call posts no message: FLUSH_AT
// is the write counter the page saw at its last flush and FLUSH_SEQ
// counts its flushes (stored after FLUSH_AT); HOLD is 1 while paused.
// process() reads them at the start of each quantum.
const W = 0, R = 1, FLUSH_AT = 2, FLUSH_SEQ = 3, HOLD = 4, CTRL_BYTES = 64, PRIME = 8192;

class SegueOut extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = options.processorOptions;
    this.ch = o.channels;
    this.cap = o.capacity; // frames, a power of two
    this.mask = this.cap - 1;
    this.sab = !!o.sab;
    if (this.sab) {
      this.ctrl = new Int32Array(o.sab, 0, CTRL_BYTES / 4);
      this.data = new Float32Array(o.sab, CTRL_BYTES, this.cap * this.ch);
      this.flushSeq = Atomics.load(this.ctrl, FLUSH_SEQ);
    } else {
      this.queue = [];
      this.head = 0; // frames of queue[0] already played
      this.consumed = 0;
      this.reported = 0;
    }
    this.started = false; // a frame of audio was played
    this.silence = 0; // silent frames since the last audio frame
    this.underruns = 0; // silent frames between audio frames
    this.gaps = []; // [frames played before it, silent frames] per underrun (the first 32)
    this.played = 0;
    // The capture test hook keeps at most captureFrames frames between two
    // dumps (the page's ?test-capture is anyone's link to give: unbounded,
    // an hour of listening kept 1.3 GB); later frames are counted in
    // captureDropped instead.
    this.capture = o.capture ? [] : null;
    this.captureMax = Math.max(0, Math.floor(Number(o.captureFrames) || 0));
    this.captureLeft = this.captureMax;
    this.captureDropped = 0;
    this.held = false; // paused: play silence, keep the buffered audio
    // After a start or a flush the worklet waits until PRIME frames are
    // buffered (or the amount stops growing: a stream shorter than that),
    // so the first blocks are not played faster than they arrive.
    this.priming = true;
    this.primeSeen = -1;
    this.primeStill = 0;
    this.port.onmessage = (e) => this.message(e.data);
  }

  message(m) {
    switch (m.type) {
      case "frames": this.queue.push(m.data); break;
      case "hold": this.held = m.on; break;
      case "flush": this.flush(m.at); break;
      case "stats":
        this.port.postMessage({ type: "stats", id: m.id, played: this.played, underruns: this.underruns, gaps: this.gaps });
        break;
      case "dump": {
        const n = this.capture ? this.capture.reduce((a, b) => a + b.length, 0) : 0;
        const out = new Float32Array(n);
        let off = 0;
        for (const b of this.capture || []) { out.set(b, off); off += b.length; }
        if (this.capture) this.capture = [];
        this.port.postMessage({ type: "dump", id: m.id, data: out, dropped: this.captureDropped, underruns: this.underruns, played: this.played, gaps: this.gaps }, [out.buffer]);
        this.underruns = 0; this.played = 0; this.gaps = [];
        this.captureLeft = this.captureMax; this.captureDropped = 0;
        break;
      }
    }
  }

  // flush drops what was buffered up to the write counter the page saw
  // when it flushed (at; the fallback drops its whole queue): frames
  // written after it belong to the next play. Never back: what was
  // played already stays played. Priming starts again.
  flush(at) {
    if (this.sab) {
      const r = Atomics.load(this.ctrl, R);
      if (((at - r) | 0) > 0) Atomics.store(this.ctrl, R, at);
    } else {
      for (const b of this.queue) this.consumed += b.length / this.ch;
      this.consumed -= this.head;
      this.queue = []; this.head = 0;
      this.port.postMessage({ type: "consumed", n: this.consumed });
    }
    this.started = false; this.silence = 0;
    this.priming = true; this.primeSeen = -1; this.primeStill = 0;
  }

  // take copies up to n frames into the outputs at frame offset at and
  // returns how many it copied.
  take(outs, at, n) {
    const ch = this.ch;
    let got = 0;
    if (this.sab) {
      const w = Atomics.load(this.ctrl, W), r = Atomics.load(this.ctrl, R);
      got = Math.min(n, (w - r) | 0);
      for (let i = 0; i < got; i++) {
        const p = ((r + i) & this.mask) * ch;
        for (let c = 0; c < outs.length; c++) outs[c][at + i] = this.data[p + Math.min(c, ch - 1)];
      }
      if (this.capture && got > 0) {
        const keep = this.kept(got);
        const copy = new Float32Array(keep * ch);
        for (let i = 0; i < keep; i++) {
          const p = ((r + i) & this.mask) * ch;
          for (let c = 0; c < ch; c++) copy[i * ch + c] = this.data[p + c];
        }
        if (keep > 0) this.capture.push(copy);
      }
      Atomics.store(this.ctrl, R, (r + got) | 0);
      return got;
    }
    while (got < n && this.queue.length > 0) {
      const b = this.queue[0];
      const k = Math.min(n - got, b.length / ch - this.head);
      for (let i = 0; i < k; i++) {
        const p = (this.head + i) * ch;
        for (let c = 0; c < outs.length; c++) outs[c][at + got + i] = b[p + Math.min(c, ch - 1)];
      }
      if (this.capture) {
        const keep = this.kept(k);
        if (keep > 0) this.capture.push(b.slice(this.head * ch, (this.head + keep) * ch));
      }
      got += k; this.head += k;
      if (this.head * ch >= b.length) { this.queue.shift(); this.head = 0; }
    }
    this.consumed += got;
    return got;
  }

  // kept returns how many of n frames just played the capture keeps,
  // counting the rest as dropped.
  kept(n) {
    const k = Math.min(n, this.captureLeft);
    this.captureLeft -= k;
    this.captureDropped += n - k;
    return k;
  }

  available() {
    if (this.sab) return (Atomics.load(this.ctrl, W) - Atomics.load(this.ctrl, R)) | 0;
    let n = -this.head;
    for (const b of this.queue) n += b.length / this.ch;
    return n;
  }

  // primed ends priming once PRIME frames are buffered, or once a
  // non-empty buffer has not grown for 16 quanta.
  primed() {
    const n = this.available();
    if (n >= PRIME) { this.priming = false; return true; }
    if (n > 0 && n === this.primeSeen) {
      if (++this.primeStill >= 16) { this.priming = false; return true; }
    } else {
      this.primeStill = 0;
    }
    this.primeSeen = n;
    return false;
  }

  process(_inputs, outputs) {
    const outs = outputs[0];
    const n = outs[0].length;
    if (this.sab) {
      const seq = Atomics.load(this.ctrl, FLUSH_SEQ);
      if (seq !== this.flushSeq) {
        this.flushSeq = seq;
        this.flush(Atomics.load(this.ctrl, FLUSH_AT));
      }
      this.held = Atomics.load(this.ctrl, HOLD) !== 0;
    }
    if (this.held || (this.priming && !this.primed())) {
      for (let c = 0; c < outs.length; c++) outs[c].fill(0);
      return true;
    }
    const got = this.take(outs, 0, n);
    for (let c = 0; c < outs.length; c++) outs[c].fill(0, got);
    if (got > 0) {
      // The first quantum with audio after a start or a flush: the page
      // marks when it is heard ("segue:heard").
      if (!this.started) this.port.postMessage({ type: "audible", frame: currentFrame });
      if (this.started && this.silence > 0) {
        this.underruns += this.silence;
        if (this.gaps.length < 32) this.gaps.push([this.played, this.silence, currentFrame]);
      }
      this.started = true; this.silence = 0; this.played += got;
    }
    this.silence += n - got;
    if (!this.sab && this.consumed - this.reported >= 1024) {
      this.reported = this.consumed;
      this.port.postMessage({ type: "consumed", n: this.consumed });
    }
    return true;
  }
}

registerProcessor("segue-out", SegueOut);
