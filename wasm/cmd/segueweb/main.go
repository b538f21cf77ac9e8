//go:build js && wasm

// Command segueweb is the web player's WebAssembly module: package
// wasm/engine bound to JavaScript. The page's segue.js loads it and calls
// globalThis.segueBridge.open; see wasm/web/segue.d.ts for the API the
// page sees. Every method returns a Promise; errors reject it with the Go
// error's text.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sync"
	"syscall/js"
	"time"
	"unsafe"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/wasm/engine"
	"github.com/segue-fm/segue/wasm/idbstore"
)

// warmDelay is how long after open the engine's warm-up starts.
const warmDelay = 20 * time.Millisecond

func main() {
	js.Global().Set("segueBridge", js.ValueOf(map[string]any{"open": js.FuncOf(open)}))
	select {}
}

// promise runs fn on a goroutine and returns a JS Promise of its result.
// The goroutine runs before the JS call that made the promise returns
// (Go's js/wasm runs every runnable goroutine before it gives the thread
// back), up to its first wait.
func promise(fn func(ctx context.Context) (any, error)) js.Value {
	// Promise.withResolvers: one JS call, where a Promise executor would
	// be a second call from JS into Go (and a js.Func to make and free).
	r := js.Global().Get("Promise").Call("withResolvers")
	go func() {
		v, err := fn(context.Background())
		if err != nil {
			r.Get("reject").Invoke(jsError(err))
			return
		}
		r.Get("resolve").Invoke(v)
	}()
	return r.Get("promise")
}

// open(relayURL, out, options) → Promise<bridge>; out is the page's
// audio output: {rate, channels, buffer(nbytes) → Uint8Array,
// push(frames) → accepted frames, status(obj), played(obj), mark(name)}.
func open(_ js.Value, args []js.Value) any {
	return promise(func(ctx context.Context) (any, error) {
		if len(args) < 2 || args[0].Type() != js.TypeString || args[1].Type() != js.TypeObject {
			return nil, errors.New("segue: open(relayURL, output[, options])")
		}
		relay, out := args[0].String(), args[1]
		popts := player.DefaultOptions()
		if len(args) > 2 && args[2].Type() == js.TypeObject {
			if t := args[2].Get("tier"); t.Type() == js.TypeString {
				tier := model.Tier(t.String())
				if !tier.Valid() {
					return nil, fmt.Errorf("segue: tier %q: %w", tier, model.ErrInvalidTier)
				}
				popts = popts.WithTier(tier)
			}
		}
		// The page's IndexedDB (encrypted blobs, signed manifests, the
		// pinned catalog key, history) and its WebCrypto-wrapped key store
		// (identity, token); memory stores when the page gives none.
		var st store.Store = store.NewMemory()
		var idb store.Store
		eopts := engine.DefaultOptions().WithPlayer(popts).WithMarker(marker(out))
		var ks crypto.KeyStore = &crypto.MemoryKeyStore{}
		if len(args) > 2 && args[2].Type() == js.TypeObject {
			if db := args[2].Get("database"); db.Type() == js.TypeString {
				s, err := idbstore.Open(ctx, db.String())
				if err != nil {
					return nil, err
				}
				// The streaming blob cache stays in memory (an IndexedDB
				// commit per blob costs the audio output main-thread time);
				// manifests, downloads and licenses persist.
				idb, st = s, engine.NewSplit(s, store.NewMemory(), engine.CachePrefixes...)
				// The tabs on this database upload its play queue one
				// at a time: each batch is sent once.
				upload := "plays-upload:" + db.String()
				eopts = eopts.WithUploadLock(func(ctx context.Context) (func(), error) { return idbstore.WebLock(ctx, upload) })
			}
			if k := args[2].Get("keys"); k.Type() == js.TypeObject {
				ks = jsKeyStore{k}
			}
		}
		e, err := engine.Open(ctx, relay, st, ks, eopts)
		if err != nil {
			return nil, err
		}
		// The downloads manager opens (reading its tables from IndexedDB)
		// after the page is ready; the bridge's download calls wait for it.
		dlReady := make(chan error, 1)
		clock := engine.NewForwardClock(len(args) > 2 && args[2].Type() == js.TypeObject && args[2].Get("testClock").Truthy())
		if idb != nil {
			go func() { dlReady <- openDownloads(context.Background(), e, idb, out, clock) }()
		} else {
			dlReady <- errNoDownloads
		}
		gate := &engine.StatusGate{}
		sink := &jsSink{out: out, rate: out.Get("rate").Int(), channels: out.Get("channels").Int(), gate: gate}
		// Staged for a block now, not on the first play's way to its audio.
		sink.stage(popts.BlockFrames() * sink.channels * 4)
		p, err := e.OpenPlayer(sink)
		if err != nil {
			return nil, err
		}
		go forwardStatus(p, out, gate)
		e.OnUnauthorized(func() { out.Call("unauthorized") })
		e.History().OnAppend(func(ev model.PlayEvent) {
			b, _ := json.Marshal(ev)
			out.Call("played", string(b))
		})
		// Compiled while the listener chooses, not after they press play:
		// the warm-up's play writes through a jsSink of its own into the
		// page's dry output (the output's code over a ring nothing plays),
		// marking nothing (the dry output's marks are never armed); with
		// no dry output, into a discarding sink. Go's js/wasm scheduler
		// keeps the page's thread while a goroutine is runnable, so the
		// warm-up first sleeps: open's promise reaches the page before the
		// warm-up runs, not after it.
		var warmSink player.Sink = player.NewDiscardSink(sink.rate, sink.channels)
		warmMark := func(string) {}
		if len(args) > 2 && args[2].Type() == js.TypeObject {
			if dry := args[2].Get("warmOutput"); dry.Type() == js.TypeObject {
				ws := &jsSink{out: dry, rate: sink.rate, channels: sink.channels, gate: &engine.StatusGate{}}
				ws.stage(popts.BlockFrames() * ws.channels * 4)
				warmSink, warmMark = ws, marker(dry)
			}
		}
		go func() {
			time.Sleep(warmDelay)
			e.Warm(context.Background(), warmSink, warmMark)
			// Plays an earlier session left queued go after the warm-up,
			// not on the way to the listener's first audio.
			e.SendPlays()
		}()
		return bridge(e, p, out, gate, dlReady, clock), nil
	})
}

// marker returns the engine's marker onto the output's mark(name): each
// name is made a JavaScript string once, not on every play's way to its
// first audio.
func marker(out js.Value) func(string) {
	var (
		mu    sync.Mutex
		names = map[string]js.Value{}
	)
	return func(name string) {
		mu.Lock()
		v, ok := names[name]
		if !ok {
			v = js.ValueOf(name)
			names[name] = v
		}
		mu.Unlock()
		out.Call("mark", v)
	}
}

// forwardStatus hands the player's statuses to the page, a play's first
// ones after its first frames (gate).
func forwardStatus(p *player.Player, out js.Value, gate *engine.StatusGate) {
	sub, cancel := p.Subscribe()
	defer cancel()
	for {
		st, ok := gate.Next(sub)
		if !ok {
			return
		}
		m := map[string]any{
			"state": stateNames[st.State], "track": string(st.Track), "index": st.Index,
			"frame": float64(st.Frame), "length": float64(st.Length), "position": st.Position.Seconds(),
			"tier": string(st.Tier), "volume": st.Volume,
		}
		if st.Err != nil {
			m["error"] = st.Err.Error()
			if errors.Is(st.Err, player.ErrTierUnsustainable) {
				m["tierWarning"] = true
			}
		}
		// The page's handler runs on this thread before the player goes on:
		// the first status of a play and its return are marked (the output
		// keeps the first of each after a play call).
		out.Call("mark", "segue:status")
		out.Call("status", js.ValueOf(m))
		out.Call("mark", "segue:status-handled")
	}
}

// stateNames are the player states as the page sees them.
var stateNames = map[player.State]string{
	player.StateIdle: "idle", player.StateBuffering: "buffering", player.StatePlaying: "playing",
	player.StatePaused: "paused", player.StateEnded: "ended",
}

// rejected returns a JS Promise rejected with err.
func rejected(err error) js.Value {
	return js.Global().Get("Promise").Call("reject", jsError(err))
}

// jsError returns a JS Error with err's text and, when err is the
// relay's temporary refusal (429 or 503) naming a wait
// (api.RetryAfter), a retryAfter property: that wait in milliseconds, at
// most api.MaxRetryAfter. The page waits for it before asking again; the
// wait was only in the text before.
func jsError(err error) js.Value {
	e := js.Global().Get("Error").New(err.Error())
	if d, ok := api.RetryAfter(err); ok {
		e.Set("retryAfter", d.Milliseconds())
	}
	return e
}

// bridge returns the session's engine calls; out is the page's output.
func bridge(e *engine.Engine, p *player.Player, out js.Value, gate *engine.StatusGate, dlReady chan error, clock *engine.ForwardClock) js.Value {
	fn := func(f func(ctx context.Context, args []js.Value) (any, error)) js.Func {
		return js.FuncOf(func(_ js.Value, args []js.Value) any {
			return promise(func(ctx context.Context) (any, error) { return f(ctx, args) })
		})
	}
	// jumpFn makes a call that moves playback (a play, a seek, a skip):
	// check reads and checks the call's arguments on the page's thread
	// and returns the work, or an error that rejects the call before
	// anything changes — the output keeps its buffered audio and hold,
	// the player its queue and position. An accepted call tells the
	// output at once (out.jump(early)): a play call's marks are armed and,
	// when early, the output is flushed and its hold released before the
	// work runs, so a player loop waiting for room in a full buffer lets
	// the jump through at once; otherwise the player's own flush at the
	// jump (jsSink.DropBuffered) does it, so a play the engine refuses
	// after a request (an album the relay does not know) leaves the
	// audio playing. A play's statuses reach the page after its first
	// frames (gate).
	jumpFn := func(play bool, check func(args []js.Value) (work func(ctx context.Context) error, early bool, err error)) js.Func {
		return js.FuncOf(func(_ js.Value, args []js.Value) any {
			work, early, err := check(args)
			if err != nil {
				return rejected(err)
			}
			out.Call("jump", early)
			if play {
				gate.Hold()
			}
			return promise(func(ctx context.Context) (any, error) {
				err := work(ctx)
				if err != nil && play {
					gate.Release()
				}
				return nil, err
			})
		})
	}
	skip := func(f func() error) js.Func {
		return jumpFn(false, func([]js.Value) (func(context.Context) error, bool, error) {
			return func(context.Context) error { return f() }, true, nil
		})
	}
	str := func(args []js.Value, i int) string {
		if i < len(args) && args[i].Type() == js.TypeString {
			return args[i].String()
		}
		return ""
	}
	none := func(err error) (any, error) { return nil, err }
	m := map[string]any{
		"deviceId": string(e.DeviceID()),
		"loggedIn": e.Token() != "",
		"signUp": fn(func(ctx context.Context, a []js.Value) (any, error) {
			return none(e.SignUp(ctx, str(a, 0), str(a, 1)))
		}),
		"login": fn(func(ctx context.Context, a []js.Value) (any, error) {
			return none(e.Login(ctx, str(a, 0), str(a, 1)))
		}),
		"signOut": fn(func(ctx context.Context, _ []js.Value) (any, error) { return none(e.SignOut(ctx)) }),
		"token":   fn(func(context.Context, []js.Value) (any, error) { return e.Token(), nil }),
		"get": fn(func(ctx context.Context, a []js.Value) (any, error) {
			b, err := e.GetJSON(ctx, str(a, 0))
			return string(b), err
		}),
		"tracks": fn(func(ctx context.Context, a []js.Value) (any, error) {
			ids, err := trackIDs(a, 0, "tracks")
			if err != nil {
				return nil, err
			}
			tracks, errs := e.TrackInfos(ctx, ids)
			out := tracksAnswer{Tracks: make([]*model.Track, len(ids)), Failed: []int{}}
			for i, err := range errs {
				switch {
				case err == nil:
					out.Tracks[i] = &tracks[i]
				case !errors.Is(err, fetch.ErrNotFound):
					out.Failed = append(out.Failed, i)
				}
			}
			b, err := json.Marshal(out)
			return string(b), err
		}),
		"album": fn(func(ctx context.Context, a []js.Value) (any, error) {
			al, tracks, err := e.Album(ctx, model.AlbumID(str(a, 0)))
			if err != nil {
				return nil, err
			}
			b, err := json.Marshal(api.AlbumResponse{Album: al, Tracks: tracks})
			return string(b), err
		}),
		"playAlbum": jumpFn(true, func(a []js.Value) (func(context.Context) error, bool, error) {
			id := model.AlbumID(str(a, 0))
			if !model.ValidID(string(id)) {
				return nil, false, fmt.Errorf("segue: playAlbum: %s is not an id", quoteArg(a, 0))
			}
			start, err := whole(a, 1, "playAlbum", "start")
			if err != nil {
				return nil, false, err
			}
			frame, err := whole(a, 2, "playAlbum", "frame")
			if err != nil {
				return nil, false, err
			}
			// An album in memory is checked here and played at once; any
			// other's answer is checked by the engine before the play.
			n, inMemory := e.AlbumTracks(id)
			if inMemory && start >= int64(n) {
				return nil, false, fmt.Errorf("segue: playAlbum: start %d is past the album's %d tracks", start, n)
			}
			return func(ctx context.Context) error { return e.PlayAlbumFrom(ctx, id, int(start), frame) }, inMemory, nil
		}),
		"playTracks": jumpFn(true, func(a []js.Value) (func(context.Context) error, bool, error) {
			ids, err := playIDs(a, 0, "playTracks")
			if err != nil {
				return nil, false, err
			}
			start, err := whole(a, 1, "playTracks", "start")
			if err != nil {
				return nil, false, err
			}
			if start >= int64(len(ids)) {
				return nil, false, fmt.Errorf("segue: playTracks: start %d is past the %d tracks", start, len(ids))
			}
			frame, err := whole(a, 4, "playTracks", "frame")
			if err != nil {
				return nil, false, err
			}
			c := model.PlayContext{Kind: "tracks"}
			if k := str(a, 2); k != "" {
				c = model.PlayContext{Kind: k, ID: str(a, 3)}
			}
			return func(ctx context.Context) error { return e.PlayTracksFrom(ctx, c, ids, int(start), frame) }, true, nil
		}),
		// A share's tracks are known after its preview's request: the
		// player's flush makes way for them.
		"playShare": js.FuncOf(func(_ js.Value, a []js.Value) any {
			out.Call("jump", false)
			gate.Hold()
			return promise(func(ctx context.Context) (any, error) {
				sp, preview, err := e.PlayShare(ctx, str(a, 0))
				if err != nil {
					gate.Release()
					return nil, err
				}
				b, err := json.Marshal(map[string]any{"share": sp, "preview": preview})
				return string(b), err
			})
		}),
		"prefetch": fn(func(ctx context.Context, a []js.Value) (any, error) {
			if len(a) < 2 || a[0].Type() != js.TypeObject {
				return nil, errors.New("segue: prefetch(ids, tier)")
			}
			ids := make([]model.TrackID, min(a[0].Length(), player.PrefetchMaxTracks))
			for i := range ids {
				v := a[0].Index(i)
				if v.Type() != js.TypeString || !model.ValidID(v.String()) {
					return nil, fmt.Errorf("segue: prefetch: entry %d is not a track id", i)
				}
				ids[i] = model.TrackID(v.String())
			}
			return none(e.Prefetch(ctx, model.Tier(str(a, 1)), ids))
		}),
		"pause":    fn(func(context.Context, []js.Value) (any, error) { return none(p.Pause()) }),
		"resume":   fn(func(context.Context, []js.Value) (any, error) { return none(p.Resume()) }),
		"next":     skip(p.Next),
		"previous": skip(p.Previous),
		"stop":     skip(e.Stop),
		"seek": jumpFn(false, func(a []js.Value) (func(context.Context) error, bool, error) {
			d, err := seconds(a, 0, "seek")
			if err != nil {
				return nil, false, err
			}
			if d < 0 {
				return nil, false, fmt.Errorf("segue: seek: seconds %v is negative", a[0].Float())
			}
			return func(context.Context) error { return p.Seek(d) }, true, nil
		}),
		"setVolume": fn(func(_ context.Context, a []js.Value) (any, error) {
			g, err := finite(a, 0, "setVolume", "gain")
			if err != nil {
				return nil, err
			}
			return none(p.SetVolume(g))
		}),
		"setTier": fn(func(_ context.Context, a []js.Value) (any, error) {
			t := model.Tier(str(a, 0))
			if !t.Valid() {
				return nil, fmt.Errorf("segue: tier %q: %w", t, model.ErrInvalidTier)
			}
			return none(p.SetTier(t))
		}),
		"advanceClock": fn(func(_ context.Context, a []js.Value) (any, error) {
			d, err := seconds(a, 0, "advanceClock")
			if err != nil {
				return nil, err
			}
			return none(clock.Advance(d))
		}),
		"uploadPlays": fn(func(ctx context.Context, _ []js.Value) (any, error) {
			sum, err := e.UploadPlays(ctx)
			if err != nil {
				return nil, err
			}
			b, err := json.Marshal(playsAnswer{Accepted: sum.Accepted, Duplicate: sum.Duplicate, Held: sum.Held, Rejected: sum.Rejected})
			return string(b), err
		}),
		"sendPlays":       js.FuncOf(func(js.Value, []js.Value) any { e.SendPlays(); return nil }),
		"sendPlaysOnHide": js.FuncOf(func(js.Value, []js.Value) any { e.SendPlaysOnHide(); return nil }),
		"pendingPlays": fn(func(ctx context.Context, _ []js.Value) (any, error) {
			return e.PendingPlays(ctx)
		}),
		"close": fn(func(context.Context, []js.Value) (any, error) { return none(e.Close()) }),
	}
	maps.Copy(m, downloadMethods(e, dlReady, fn, str))
	return js.ValueOf(m)
}

// playsAnswer is the JSON answer of the bridge's uploadPlays: what the
// relay accepted, already had, kept queued as dated after its clock, and
// refused for good by reason (playlog.Summary).
type playsAnswer struct {
	Accepted  int            `json:"accepted"`
	Duplicate int            `json:"duplicate"`
	Held      int            `json:"held"`
	Rejected  map[string]int `json:"rejected"`
}

// maxTrackIDs bounds the ids of one tracks call.
const maxTrackIDs = 100_000

// tracksAnswer is the JSON answer of the bridge's tracks(ids): Tracks[i]
// describes ids[i], or is null when the relay does not know it or its
// metadata could not be had; Failed lists the indexes of the latter
// (offline, a relay error), whose null is not an answer to keep.
type tracksAnswer struct {
	Tracks []*model.Track `json:"tracks"`
	Failed []int          `json:"failed"`
}

// jsSink is the player's Sink onto the page's audio output: each block is
// copied into the output's staging bytes and pushed; while the output's
// buffer is full, Write waits a few milliseconds (yielding to the event
// loop, which drains it) and pushes the rest — unless the output was
// flushed meanwhile (its flushes count moved: the page flushes at a
// play, seek or skip before the player hears of it), when the rest is
// audio from before the jump and is dropped. Pushed after the page's
// flush it would sit in the drained buffer until the player's own flush
// (DropBuffered), and a worklet done priming on it played it after a
// seek (TestBrowserSeekDropsBlockInFlight, once in CI).
type jsSink struct {
	out            js.Value
	rate, channels int
	gate           *engine.StatusGate // released after each write
	staged         js.Value
	stagedLen      int
}

func (s *jsSink) Format() (int, int) { return s.rate, s.channels }

// stage makes the output's staging bytes hold at least n bytes.
func (s *jsSink) stage(n int) {
	if s.stagedLen < n {
		s.staged = s.out.Call("buffer", n)
		s.stagedLen = n
	}
}

func (s *jsSink) Write(ctx context.Context, frames []float32) error {
	if len(frames) == 0 {
		return nil
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&frames[0])), len(frames)*4)
	s.stage(len(b))
	js.CopyBytesToJS(s.staged, b)
	n := len(frames) / s.channels
	flushes := s.out.Get("flushes").Int()
	for off := 0; off < n; {
		off += s.out.Call("push", off, n-off).Int()
		if off < n {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(4 * time.Millisecond):
			}
			if s.out.Get("flushes").Int() != flushes {
				break
			}
		}
	}
	s.gate.Release()
	return nil
}

var _ player.BufferedSink = (*jsSink)(nil)

// DropBuffered flushes the page's output and releases its hold
// (player.BufferedSink): the player calls it at a jump, after the old
// audio's last write, so the rest of a block pushed while the buffer was
// full, or a block written before the jump reached the player, is not
// heard after it; and a play the page did not flush for at its call (one
// that waited for a request) is heard when it starts, paused before or
// not.
func (s *jsSink) DropBuffered() { s.out.Call("drop") }

func (s *jsSink) Close() error { return nil }
