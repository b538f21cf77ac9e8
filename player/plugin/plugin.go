package plugin

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

// ABIVersion is the version of the plugin ABI this host implements; a
// plugin whose segue_abi_version returns anything else is refused.
const ABIVersion = 1

// Limits of the ABI.
const (
	// MaxKeyLen is the longest parameter key in bytes.
	MaxKeyLen = 64
	// MaxChannels is the largest channel count a plugin is asked to run at.
	MaxChannels = 32
	// MaxModuleBytes is the largest .wasm file accepted.
	MaxModuleBytes = 32 << 20
	// MaxFunctions is the most functions a module may define, and
	// MaxFunctionBytes the largest function body: both are checked before
	// compiling, whose time and memory grow with them (a 28 MB module of 4
	// million empty functions took 39 s and 2.2 GB to compile, one 30 MB
	// function 23 s and 1.8 GB). Segue's whole engine built for the web
	// (9.6 MB) has 5,341 functions, the largest 45 KB.
	MaxFunctions     = 100_000
	MaxFunctionBytes = 1 << 20
)

// Errors. A plugin that fails while processing (ErrTimeout, ErrTrap,
// ErrBadOutput) is unloaded: its instance is closed and every later call
// returns ErrUnloaded wrapping the first failure.
var (
	// ErrInvalidModule: the bytes are not a WebAssembly module that
	// implements the ABI (bad bytes, a missing or mistyped export, an
	// import the ABI does not provide, memory above the cap).
	ErrInvalidModule = errors.New("plugin: invalid module")
	// ErrABIVersion: the module implements another version of the ABI.
	ErrABIVersion = errors.New("plugin: unsupported ABI version")
	// ErrFormat: the plugin refused the sample rate or channel count, or
	// the block is not a whole number of frames.
	ErrFormat = errors.New("plugin: unsupported format")
	// ErrParam: the plugin does not know the key, or refused the value.
	ErrParam = errors.New("plugin: bad parameter")
	// ErrTimeout: a call ran past its time bound.
	ErrTimeout = errors.New("plugin: time bound exceeded")
	// ErrTrap: the plugin trapped, panicked, exited or ran out of memory
	// (its memory is capped).
	ErrTrap = errors.New("plugin: trapped")
	// ErrBadOutput: segue_process reported a failure or produced a sample
	// that is not finite.
	ErrBadOutput = errors.New("plugin: bad output")
	// ErrUnloaded: the instance was unloaded after a failure, or closed.
	ErrUnloaded = errors.New("plugin: unloaded")
)

// Options configure a Runtime. Start from DefaultOptions.
type Options struct {
	cacheDir     string
	blockTimeout time.Duration
	setupTimeout time.Duration
	memoryPages  uint32
	maxFrames    int
}

// DefaultOptions returns: compiled code cached on disk in
// os.UserCacheDir()/segue/wazero (in memory only when there is no user
// cache directory), a 250 ms bound on each processed block (wall-clock
// time: about ten 1024-frame blocks at 44.1 kHz, generous so that a
// healthy plugin on a busy machine is not taken for a looping one), 2 s
// on loading
// and on each parameter change, memory capped at 1024 pages (64 MiB), and
// blocks passed to the plugin in pieces of at most 8192 frames.
func DefaultOptions() Options {
	dir := ""
	if d, err := os.UserCacheDir(); err == nil {
		dir = filepath.Join(d, "segue", "wazero")
	}
	return Options{cacheDir: dir, blockTimeout: 250 * time.Millisecond, setupTimeout: 2 * time.Second,
		memoryPages: 1024, maxFrames: 8192}
}

// WithCacheDir sets the directory of the compilation cache; "" keeps
// compiled code in memory only.
func (o Options) WithCacheDir(dir string) Options { o.cacheDir = dir; return o }

// WithBlockTimeout bounds each Process call (default 250 ms; at least 1
// ms).
func (o Options) WithBlockTimeout(d time.Duration) Options {
	o.blockTimeout = max(d, time.Millisecond)
	return o
}

// BlockTimeout returns the bound on each Process call.
func (o Options) BlockTimeout() time.Duration { return o.blockTimeout }

// WithSetupTimeout bounds instantiation and each SetParam (default 2 s; at
// least 1 ms).
func (o Options) WithSetupTimeout(d time.Duration) Options {
	o.setupTimeout = max(d, time.Millisecond)
	return o
}

// WithMemoryLimit caps each plugin's linear memory in 64 KiB pages
// (default 1024 = 64 MiB; clamped to [1, 65536]).
func (o Options) WithMemoryLimit(pages uint32) Options {
	o.memoryPages = min(max(pages, 1), 65536)
	return o
}

// WithMaxBlockFrames sets the largest piece of a block passed to the
// plugin in one segue_process call (default 8192; clamped to [64, 65536]).
func (o Options) WithMaxBlockFrames(n int) Options { o.maxFrames = min(max(n, 64), 65536); return o }

// Runtime compiles and runs plugins. It is safe for concurrent use.
type Runtime struct {
	opts  Options
	r     wazero.Runtime
	cache wazero.CompilationCache
}

// NewRuntime starts a runtime: wazero with the compilation cache, the
// memory cap and calls interrupted when their context ends, and the WASI
// functions the ABI provides.
func NewRuntime(ctx context.Context, opts Options) (*Runtime, error) {
	if opts.blockTimeout == 0 || opts.memoryPages == 0 {
		return nil, errors.New("plugin: options not initialised: start from DefaultOptions")
	}
	cfg := wazero.NewRuntimeConfig().WithCloseOnContextDone(true).WithMemoryLimitPages(opts.memoryPages)
	var cache wazero.CompilationCache
	if opts.cacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(opts.cacheDir)
		if err != nil {
			return nil, fmt.Errorf("plugin: open compilation cache: %w", err)
		}
		cache = c
		cfg = cfg.WithCompilationCache(c)
	}
	r := wazero.NewRuntimeWithConfig(ctx, cfg)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, r); err != nil {
		_ = r.Close(ctx)
		return nil, fmt.Errorf("plugin: instantiate wasi: %w", err)
	}
	return &Runtime{opts: opts, r: r, cache: cache}, nil
}

// Options returns the runtime's options.
func (rt *Runtime) Options() Options { return rt.opts }

// Close closes every plugin instance of the runtime and the runtime.
func (rt *Runtime) Close(ctx context.Context) error {
	err := rt.r.Close(ctx)
	if rt.cache != nil {
		err = errors.Join(err, rt.cache.Close(ctx))
	}
	return err
}

// WASIImports are the wasi_snapshot_preview1 functions a plugin may
// import: those the Go wasip1 runtime needs. A web host provides the same
// set (see the doc of this package).
var WASIImports = []string{
	"args_get", "args_sizes_get", "clock_time_get", "environ_get", "environ_sizes_get",
	"fd_write", "poll_oneoff", "proc_exit", "random_get", "sched_yield",
}

// The exports of the ABI with their signatures.
var abiExports = []struct {
	name    string
	params  []api.ValueType
	results []api.ValueType
}{
	{"segue_abi_version", nil, []api.ValueType{api.ValueTypeI32}},
	{"segue_alloc", []api.ValueType{api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}},
	{"segue_init", []api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}},
	{"segue_set_param", []api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeF64}, []api.ValueType{api.ValueTypeI32}},
	{"segue_process", []api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}},
}

// Plugin is a compiled plugin module; instantiate it once per stream.
type Plugin struct {
	rt   *Runtime
	cm   wazero.CompiledModule
	name string
	sum  string
}

// Compile validates and compiles a plugin module (or takes it from the
// compilation cache). name labels the plugin in errors and logs. Bytes
// that are not a module implementing the ABI fail with ErrInvalidModule.
// The caller keeps wasm.
func (rt *Runtime) Compile(ctx context.Context, name string, wasm []byte) (*Plugin, error) {
	if len(wasm) > MaxModuleBytes {
		return nil, fmt.Errorf("%w: %s: %d bytes (at most %d)", ErrInvalidModule, name, len(wasm), MaxModuleBytes)
	}
	if err := checkCode(wasm); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidModule, name, err)
	}
	cm, err := rt.r.CompileModule(ctx, wasm)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidModule, name, err)
	}
	if err := checkModule(cm, rt.opts.memoryPages); err != nil {
		_ = cm.Close(ctx)
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidModule, name, err)
	}
	h := sha256.Sum256(wasm)
	return &Plugin{rt: rt, cm: cm, name: name, sum: hex.EncodeToString(h[:8])}, nil
}

// checkCode reads the section headers of a module and the sizes in its
// code section, and refuses more than MaxFunctions functions or a body
// over MaxFunctionBytes. Bytes it cannot follow are left to the compiler
// to refuse.
func checkCode(wasm []byte) error {
	if len(wasm) < 8 {
		return nil
	}
	p := wasm[8:] // magic and version
	for len(p) > 0 {
		id := p[0]
		size, n := binary.Uvarint(p[1:])
		if n <= 0 || size > uint64(len(p)-1-n) {
			return nil
		}
		body := p[1+n : 1+n+int(size)]
		p = p[1+n+int(size):]
		if id != 10 { // code section
			continue
		}
		count, n := binary.Uvarint(body)
		if n <= 0 {
			return nil
		}
		if count > MaxFunctions {
			return fmt.Errorf("%d functions (at most %d)", count, MaxFunctions)
		}
		body = body[n:]
		for i := range count {
			fsize, n := binary.Uvarint(body)
			if n <= 0 || fsize > uint64(len(body)-n) {
				return nil
			}
			if fsize > MaxFunctionBytes {
				return fmt.Errorf("function %d is %d bytes (at most %d)", i, fsize, MaxFunctionBytes)
			}
			body = body[n+int(fsize):]
		}
	}
	return nil
}

func checkModule(cm wazero.CompiledModule, pages uint32) error {
	for _, f := range cm.ImportedFunctions() {
		mod, n, _ := f.Import()
		if mod != wasi_snapshot_preview1.ModuleName || !contains(WASIImports, n) {
			return fmt.Errorf("imports %s.%s, which the ABI does not provide", mod, n)
		}
	}
	if len(cm.ImportedMemories()) > 0 {
		return errors.New("imports a memory; the ABI wants it exported as \"memory\"")
	}
	mem, ok := cm.ExportedMemories()["memory"]
	if !ok {
		return errors.New("no exported memory \"memory\"")
	}
	if mem.Min() > pages {
		return fmt.Errorf("memory of at least %d pages, above the cap of %d", mem.Min(), pages)
	}
	fns := cm.ExportedFunctions()
	for _, e := range abiExports {
		f, ok := fns[e.name]
		if !ok {
			return fmt.Errorf("no exported function %s", e.name)
		}
		if !sameTypes(f.ParamTypes(), e.params) || !sameTypes(f.ResultTypes(), e.results) {
			return fmt.Errorf("export %s has the wrong signature", e.name)
		}
	}
	if f, ok := fns["_initialize"]; ok && (len(f.ParamTypes()) > 0 || len(f.ResultTypes()) > 0) {
		return errors.New("export _initialize has the wrong signature")
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sameTypes(a, b []api.ValueType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Name returns the plugin's name as given to Compile.
func (p *Plugin) Name() string { return p.name }

// Close releases the compiled code; instances keep working.
func (p *Plugin) Close(ctx context.Context) error { return p.cm.Close(ctx) }

// Param is one parameter setting.
type Param struct {
	Key   string
	Value float64
}

// ParseParam parses "key=value" (value a decimal number, sign allowed:
// band3=+4, preamp=-3.5). The key must be 1–64 bytes of [a-z0-9._-].
func ParseParam(s string) (Param, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return Param{}, fmt.Errorf("%w: %q: want key=value", ErrParam, s)
	}
	if err := checkKey(k); err != nil {
		return Param{}, err
	}
	f, err := strconv.ParseFloat(strings.TrimPrefix(v, "+"), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return Param{}, fmt.Errorf("%w: %q: value %q is not a finite number", ErrParam, s, v)
	}
	return Param{Key: k, Value: f}, nil
}

func checkKey(k string) error {
	if k == "" || len(k) > MaxKeyLen {
		return fmt.Errorf("%w: key %q: want 1–%d bytes", ErrParam, k, MaxKeyLen)
	}
	for _, c := range []byte(k) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: key %q: want [a-z0-9._-]", ErrParam, k)
		}
	}
	return nil
}

// Instance is one loaded plugin processing one stream at a fixed format.
// Its methods are safe for concurrent use (they serialise): the player
// calls Process while the app calls SetParam.
type Instance struct {
	name           string
	rate, channels int
	blockTimeout   time.Duration
	setupTimeout   time.Duration
	maxFrames      int

	mu      sync.Mutex
	mod     api.Module
	mem     api.Memory
	process api.Function
	setP    api.Function
	stack   []uint64
	buf     uint32 // address of the block buffer in the plugin's memory
	key     uint32 // address of the key buffer
	out     []float32
	stderr  *tail
	err     error // why the instance was unloaded
}

// Instantiate loads the plugin for a stream of rate Hz and channels
// interleaved channels: it runs the module's _initialize, checks
// segue_abi_version (ErrABIVersion), calls segue_init (ErrFormat) and
// applies params in order (ErrParam). Each step is time bounded; on any
// error nothing stays loaded. Close the instance when done.
func (p *Plugin) Instantiate(ctx context.Context, rate, channels int, params ...Param) (*Instance, error) {
	if rate < 1000 || rate > 768000 || channels < 1 || channels > MaxChannels {
		return nil, fmt.Errorf("%w: %s: %d Hz × %d", ErrFormat, p.name, rate, channels)
	}
	o := p.rt.opts
	i := &Instance{name: p.name, rate: rate, channels: channels, blockTimeout: o.blockTimeout,
		setupTimeout: o.setupTimeout, maxFrames: o.maxFrames, stack: make([]uint64, 3), stderr: &tail{}}
	if err := i.load(ctx, p); err != nil {
		if i.mod != nil {
			_ = i.mod.Close(context.Background())
		}
		return nil, fmt.Errorf("load plugin %s: %w", p.name, err)
	}
	for _, pr := range params {
		if err := i.SetParam(ctx, pr.Key, pr.Value); err != nil {
			_ = i.Close()
			return nil, err
		}
	}
	return i, nil
}

func (i *Instance) load(ctx context.Context, p *Plugin) error {
	cctx, cancel := context.WithTimeout(ctx, i.setupTimeout)
	defer cancel()
	cfg := wazero.NewModuleConfig().WithName("").WithStartFunctions("_initialize").
		WithStderr(i.stderr).WithStdout(i.stderr).WithArgs(p.name)
	mod, err := p.rt.r.InstantiateModule(cctx, p.cm, cfg)
	if err != nil {
		return i.fault(err)
	}
	i.mod, i.mem = mod, mod.Memory()
	i.process, i.setP = mod.ExportedFunction("segue_process"), mod.ExportedFunction("segue_set_param")
	v, err := i.call(cctx, mod.ExportedFunction("segue_abi_version"))
	if err != nil {
		return err
	}
	if int32(v) != ABIVersion {
		return fmt.Errorf("%w: plugin has version %d, host %d", ErrABIVersion, int32(v), ABIVersion)
	}
	alloc := mod.ExportedFunction("segue_alloc")
	if i.buf, err = i.alloc(cctx, alloc, i.maxFrames*i.channels*4); err != nil {
		return err
	}
	if i.key, err = i.alloc(cctx, alloc, MaxKeyLen); err != nil {
		return err
	}
	st, err := i.call(cctx, mod.ExportedFunction("segue_init"), api.EncodeI32(int32(i.rate)), api.EncodeI32(int32(i.channels)))
	if err != nil {
		return err
	}
	if st != 0 {
		return fmt.Errorf("%w: segue_init(%d, %d) returned %d", ErrFormat, i.rate, i.channels, int32(st))
	}
	return nil
}

func (i *Instance) alloc(ctx context.Context, f api.Function, n int) (uint32, error) {
	ptr, err := i.call(ctx, f, api.EncodeI32(int32(n)))
	if err != nil {
		return 0, err
	}
	p := uint32(ptr)
	if p == 0 || p%4 != 0 || uint64(p)+uint64(n) > uint64(i.mem.Size()) {
		return 0, fmt.Errorf("%w: segue_alloc(%d) returned %#x", ErrBadOutput, n, p)
	}
	return p, nil
}

// call invokes f and returns its single i32 result. A failure is
// classified (ErrTimeout, ErrTrap) and unloads the instance.
func (i *Instance) call(ctx context.Context, f api.Function, args ...uint64) (uint64, error) {
	copy(i.stack, args)
	if err := f.CallWithStack(ctx, i.stack); err != nil {
		return 0, i.fault(err)
	}
	return i.stack[0], nil
}

// fault classifies a failed call and unloads the instance.
func (i *Instance) fault(err error) error {
	var exit *sys.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() == sys.ExitCodeDeadlineExceeded:
		err = fmt.Errorf("%w: %s", ErrTimeout, i.name)
	case errors.As(err, &exit) && exit.ExitCode() == sys.ExitCodeContextCanceled:
		err = fmt.Errorf("plugin %s: %w", i.name, context.Canceled)
	default:
		// wazero's first line says what happened; a wasm stack trace follows.
		msg, _, _ := strings.Cut(err.Error(), "\n")
		err = fmt.Errorf("%w: %s: %s%s", ErrTrap, i.name, msg, i.stderr.describe())
	}
	i.unload(err)
	return err
}

func (i *Instance) unload(err error) {
	if i.err == nil {
		i.err = err
	}
	if i.mod != nil {
		_ = i.mod.Close(context.Background())
	}
}

// Name returns the plugin's name.
func (i *Instance) Name() string { return i.name }

// Format returns the sample rate and channel count the instance runs at.
func (i *Instance) Format() (rate, channels int) { return i.rate, i.channels }

// Err returns why the instance was unloaded, or nil while it is loaded.
func (i *Instance) Err() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.err
}

// MemoryBytes returns the size of the plugin's linear memory (0 once
// unloaded).
func (i *Instance) MemoryBytes() uint32 {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.err != nil {
		return 0
	}
	return i.mem.Size()
}

// SetParam sets one parameter. An unknown key or a refused value fails
// with ErrParam and leaves the plugin loaded; a plugin that traps or runs
// past the setup bound is unloaded.
func (i *Instance) SetParam(ctx context.Context, key string, value float64) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return fmt.Errorf("%w: %s=%v: not finite", ErrParam, key, value)
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.err != nil {
		return fmt.Errorf("%w: %w", ErrUnloaded, i.err)
	}
	if !i.mem.Write(i.key, []byte(key)) {
		i.unload(fmt.Errorf("%w: %s: key buffer outside memory", ErrBadOutput, i.name))
		return i.err
	}
	cctx, cancel := context.WithTimeout(ctx, i.setupTimeout)
	defer cancel()
	st, err := i.call(cctx, i.setP, api.EncodeI32(int32(i.key)), api.EncodeI32(int32(len(key))), api.EncodeF64(value))
	if err != nil {
		return err
	}
	switch int32(st) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("%w: %s: unknown key %q", ErrParam, i.name, key)
	case 2:
		return fmt.Errorf("%w: %s: %s=%v out of range", ErrParam, i.name, key, value)
	default:
		return fmt.Errorf("%w: %s: %s=%v refused (status %d)", ErrParam, i.name, key, value, int32(st))
	}
}

// Process runs the plugin over len(frames)/channels interleaved frames in
// place, within the block time bound. On any error frames are left
// unchanged. A plugin that runs past the bound (ErrTimeout), traps
// (ErrTrap) or returns a failure status or a non-finite sample
// (ErrBadOutput) is unloaded; later calls fail with ErrUnloaded.
func (i *Instance) Process(ctx context.Context, frames []float32) error {
	if len(frames)%i.channels != 0 {
		return fmt.Errorf("%w: %d samples is not a whole number of %d-channel frames", ErrFormat, len(frames), i.channels)
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.err != nil {
		return fmt.Errorf("%w: %w", ErrUnloaded, i.err)
	}
	if len(frames) == 0 {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, i.blockTimeout)
	defer cancel()
	if cap(i.out) < len(frames) {
		i.out = make([]float32, len(frames))
	}
	out := i.out[:len(frames)]
	step := i.maxFrames * i.channels
	for off := 0; off < len(frames); off += step {
		in := frames[off:min(off+step, len(frames))]
		if err := i.processPiece(cctx, in, out[off:off+len(in)]); err != nil {
			return err
		}
	}
	copy(frames, out)
	return nil
}

// processPiece copies in to the plugin's buffer, runs segue_process, and
// copies the checked result to out.
func (i *Instance) processPiece(ctx context.Context, in, out []float32) error {
	n := uint32(4 * len(in))
	view, ok := i.mem.Read(i.buf, n)
	if !ok {
		i.unload(fmt.Errorf("%w: %s: block buffer outside memory", ErrBadOutput, i.name))
		return i.err
	}
	for k, v := range in {
		binary.LittleEndian.PutUint32(view[4*k:], math.Float32bits(v))
	}
	st, err := i.call(ctx, i.process, api.EncodeI32(int32(i.buf)), api.EncodeI32(int32(len(in)/i.channels)))
	if err != nil {
		return err
	}
	if st != 0 {
		i.unload(fmt.Errorf("%w: %s: segue_process returned %d", ErrBadOutput, i.name, int32(st)))
		return i.err
	}
	// The call may have grown (moved) the memory: take a fresh view.
	if view, ok = i.mem.Read(i.buf, n); !ok {
		i.unload(fmt.Errorf("%w: %s: block buffer outside memory", ErrBadOutput, i.name))
		return i.err
	}
	for k := range out {
		v := math.Float32frombits(binary.LittleEndian.Uint32(view[4*k:]))
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			i.unload(fmt.Errorf("%w: %s: sample %d is %v", ErrBadOutput, i.name, k, v))
			return i.err
		}
		out[k] = v
	}
	return nil
}

// Close unloads the instance. It is idempotent; later calls fail with
// ErrUnloaded.
func (i *Instance) Close() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.err == nil {
		i.unload(fmt.Errorf("plugin %s: closed", i.name))
	}
	return nil
}

// tail keeps the first bytes a plugin writes to stdout or stderr, for the
// error that unloads it (a Go plugin's panic message comes first).
type tail struct {
	mu sync.Mutex
	b  []byte
}

const tailBytes = 1024

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if room := tailBytes - len(t.b); room > 0 {
		t.b = append(t.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// describe returns ": plugin output: …" with the first lines of what the
// plugin printed, made printable, or "".
func (t *tail) describe() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.ToValidUTF8(string(t.b), "?")
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && len(lines) < 3 {
			lines = append(lines, l)
		}
	}
	s = strings.Join(lines, " | ")
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == utf8.RuneError || r == 0x7f {
			return '?'
		}
		return r
	}, s)
	if s == "" {
		return ""
	}
	if len(s) > 300 {
		s = strings.ToValidUTF8(s[:300], "") + "…"
	}
	return ": plugin output: " + s
}
