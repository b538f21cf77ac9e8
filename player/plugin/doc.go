// Package plugin runs audio effect plugins: WebAssembly modules that
// implement Segue's plugin ABI, natively under wazero. The same .wasm runs
// in the web player under the browser's WebAssembly engine with the same
// output, bit for bit (WebAssembly arithmetic is deterministic IEEE 754
// and the host passes samples through unchanged).
//
// # The ABI, version 1
//
// A plugin is a WebAssembly module (for example Go built with
// GOOS=wasip1 GOARCH=wasm -buildmode=c-shared and //go:wasmexport, see
// examples/eq). All integers are i32, addresses are offsets into the
// exported memory, samples are little-endian IEEE float32.
//
// Exports, all required unless noted:
//
//	memory                                  the linear memory
//	_initialize() (optional)                called once right after instantiation
//	segue_abi_version() i32                 must return 1
//	segue_alloc(size i32) i32               address of a new buffer of size bytes,
//	                                        4-byte aligned, valid for the instance's
//	                                        life; 0 if it cannot
//	segue_init(rate, channels i32) i32      prepare for rate Hz and channels interleaved
//	                                        channels; status
//	segue_set_param(key, key_len i32,       set parameter key (UTF-8, 1–64 bytes of
//	                value f64) i32          [a-z0-9._-], at address key) to value; status
//	segue_process(ptr, frames i32) i32      process frames × channels float32 at ptr
//	                                        in place; status
//
// Status codes: 0 ok, 1 unknown (parameter key, or format refused by
// segue_init), 2 value out of range, 3 bad address, 4 not initialised.
// Other values are failures too.
//
// Imports: only these wasi_snapshot_preview1 functions (what the Go
// wasip1 runtime needs), see WASIImports: args_get, args_sizes_get,
// clock_time_get, environ_get, environ_sizes_get, fd_write, poll_oneoff,
// proc_exit, random_get, sched_yield. A plugin gets no files, no
// environment, its name as its only argument, deterministic clocks and
// random numbers; what it writes to stdout/stderr is kept (1 KiB) for the
// error that reports its failure. A module importing anything else is
// refused, so that every plugin that loads natively also loads in the
// browser, whose host provides the same functions.
//
// Call sequence: instantiate, _initialize, segue_abi_version (≠ 1:
// refused with ErrABIVersion), segue_alloc for the block buffer
// (max block frames × channels × 4 bytes) and for the key buffer (64
// bytes), segue_init, then segue_set_param and segue_process in any
// order, one call at a time. The host writes the block into the buffer,
// calls segue_process and reads the block back from the same address; the
// plugin keeps its state (filters) between calls: the blocks are one
// continuous stream, split anywhere.
//
// # The native host
//
// NewRuntime configures wazero: compiled code cached on disk
// (wazero.NewCompilationCacheWithDir, so a plugin compiles once per wazero
// version), linear memory capped (WithMemoryLimit; a plugin that needs
// more traps when it grows), and calls interrupted when their context
// ends. Runtime.Compile validates the module against the ABI (imports,
// exports and signatures, memory) and Plugin.Instantiate loads it for one
// stream. Instance.Process bounds each block in time (WithBlockTimeout):
// a plugin that runs past it, traps, panics, exits or produces a
// non-finite sample is unloaded with an error saying which (ErrTimeout,
// ErrTrap, ErrBadOutput), and the block is left as it was. The player
// (player.Options.WithEffects) then drops the effect and plays on
// unprocessed.
//
//	rt, _ := plugin.NewRuntime(ctx, plugin.DefaultOptions())
//	defer rt.Close(ctx)
//	p, err := rt.Compile(ctx, "eq", wasm)               // ErrInvalidModule
//	inst, err := p.Instantiate(ctx, 44100, 2, plugin.Param{Key: "band3", Value: 4})
//	err = inst.Process(ctx, block)                      // in place
//
// # The web host
//
// The browser instantiates the same bytes with WebAssembly.instantiate and
// a small wasi_snapshot_preview1 object providing the functions above
// (random_get from crypto.getRandomValues, clocks from performance.now,
// fd_write to the console, proc_exit throwing), calls _initialize, and then
// the same sequence. The test TestBrowserOutputIsNative runs it in
// headless Chromium (WebHostJS, the file webhost.js) and compares its output with
// this host's, byte for byte.
//
// WebAssembly cannot be interrupted on the thread running it, so the
// bounded browser host, loadPluginInWorker, runs the plugin in a dedicated
// module Worker (webhost.js itself) and gives each call a deadline — a
// block 250 ms, loading and each parameter 2 s, as the native defaults. A
// call past its deadline terminates the Worker and unloads the plugin
// (kind "timeout"); a trap or panic unloads it ("trapped"); the failed
// block is left as it was, so the page's player drops the effect and plays
// on unprocessed, as natively. TestBrowserWorkerHostBounds covers a
// looping plugin (stopped at the deadline, the page's thread free
// meanwhile), a trapping and a panicking one; TestBrowserOutputIsNative
// also checks the Worker host's output is native's, byte for byte.
package plugin
