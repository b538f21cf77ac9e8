//go:build js && wasm

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"syscall/js"
	"time"

	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/wasm/engine"
)

// openDownloads starts the engine's downloads over the page's IndexedDB
// store: progress events go to out.download(json), connectivity comes
// from navigator.onLine, and playlist downloads resolve through
// out.playlistTracks(id) → Promise<string[]> (the page's automerge
// replica, which works offline). Its clock is clock (the browser's, moved
// only forward by the advanceClock test hook).
func openDownloads(ctx context.Context, e *engine.Engine, idb store.Store, out js.Value, clock *engine.ForwardClock) error {
	nav := js.Global().Get("navigator")
	opts := download.DefaultOptions().
		WithClock(clock.Wall, clock.Mono, clock.BootID()).
		WithNetworkState(func() download.NetworkState {
			return download.NetworkState{Online: nav.Get("onLine").Truthy()}
		}).
		WithEvents(func(ev download.Event) {
			m := map[string]any{"kind": string(ev.Kind), "ref": refJSON(ev.Ref), "track": string(ev.Track),
				"blobsDone": ev.BlobsDone, "blobs": ev.Blobs, "bytesDone": ev.BytesDone, "bytes": ev.Bytes, "reason": ev.Reason}
			if ev.Err != nil {
				m["error"] = ev.Err.Error()
			}
			b, _ := json.Marshal(m)
			out.Call("download", string(b))
		}).
		WithPlaylists(func(ctx context.Context, id string) ([]model.TrackID, error) {
			if out.Get("playlistTracks").Type() != js.TypeFunction {
				return nil, download.ErrNoPlaylists
			}
			v, err := awaitPromise(ctx, out.Call("playlistTracks", id))
			if err != nil {
				return nil, fmt.Errorf("playlist %s: %w", id, err)
			}
			if v.Type() != js.TypeObject || v.Length() > 10000 {
				return nil, fmt.Errorf("playlist %s: the page gave no track list", id)
			}
			ids := make([]model.TrackID, v.Length())
			for i := range ids {
				if s := v.Index(i); s.Type() == js.TypeString && model.ValidID(s.String()) {
					ids[i] = model.TrackID(s.String())
				} else {
					return nil, fmt.Errorf("playlist %s: entry %d is not a track id", id, i)
				}
			}
			return ids, nil
		})
	_, err := e.OpenDownloads(ctx, idb, opts)
	return err
}

func refJSON(r download.Ref) map[string]any {
	return map[string]any{"kind": string(r.Kind), "id": r.ID, "tier": string(r.Tier)}
}

// errNoDownloads: the page opened the engine without its IndexedDB store.
var errNoDownloads = errors.New("segue: downloads need the page's IndexedDB store (persistStore)")

// downloadMethods are the bridge's download calls: download(kind, id,
// tier), removeDownload(kind, id, tier), downloads() → status JSON,
// renewLicenses(). Each waits until the manager has opened (ready gets
// the outcome once; it is kept for later calls).
func downloadMethods(e *engine.Engine, ready chan error, fn func(func(context.Context, []js.Value) (any, error)) js.Func,
	str func([]js.Value, int) string) map[string]any {
	var (
		once sync.Once
		done = make(chan struct{})
		oerr error
	)
	manager := func() (*download.Manager, error) {
		once.Do(func() { go func() { oerr = <-ready; close(done) }() })
		<-done
		if oerr != nil {
			return nil, oerr
		}
		if m := e.Downloads(); m != nil {
			return m, nil
		}
		return nil, errNoDownloads
	}
	ref := func(a []js.Value) download.Ref {
		return download.Ref{Kind: download.Kind(str(a, 0)), ID: str(a, 1), Tier: model.Tier(str(a, 2))}
	}
	return map[string]any{
		"download": fn(func(ctx context.Context, a []js.Value) (any, error) {
			m, err := manager()
			if err != nil {
				return nil, err
			}
			return nil, m.Add(ctx, ref(a))
		}),
		"removeDownload": fn(func(ctx context.Context, a []js.Value) (any, error) {
			m, err := manager()
			if err != nil {
				return nil, err
			}
			return nil, m.Remove(ctx, ref(a))
		}),
		"renewLicenses": fn(func(ctx context.Context, _ []js.Value) (any, error) {
			m, err := manager()
			if err != nil {
				return nil, err
			}
			return nil, m.Renew(ctx)
		}),
		"downloads": fn(func(ctx context.Context, _ []js.Value) (any, error) {
			m, err := manager()
			if err != nil {
				return nil, err
			}
			st, err := m.Status(ctx)
			if err != nil {
				return nil, err
			}
			return statusJSON(st)
		}),
	}
}

// statusJSON is the page's view of download.Status (times in ms since
// the epoch); each item lists the tracks its last resolve left out
// (unavailable: [{track, reason}], in request order).
func statusJSON(st download.Status) (string, error) {
	ms := func(t time.Time) int64 { return t.UnixMilli() }
	items := []map[string]any{}
	for _, it := range st.Items {
		left := make([]map[string]any, len(it.Unavailable))
		for i, u := range it.Unavailable {
			left[i] = map[string]any{"track": string(u.Track), "reason": u.Reason}
		}
		items = append(items, map[string]any{"ref": refJSON(it.Ref), "resolved": it.Resolved, "tracks": it.Tracks,
			"tracksDone": it.TracksDone, "unavailable": left, "error": it.Err})
	}
	lics := []map[string]any{}
	for _, l := range st.Licenses {
		lics = append(lics, map[string]any{"entries": l.Entries, "issued": ms(l.Issued), "expires": ms(l.Expires), "until": ms(l.Until)})
	}
	b, err := json.Marshal(map[string]any{"items": items, "tracks": st.Tracks, "tracksDone": st.TracksDone, "bytes": st.Bytes,
		"paused": st.Paused, "licenses": lics, "trustedNow": ms(st.TrustedNow), "revoked": st.Revoked, "refused": st.Refused})
	return string(b), err
}
