package download_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testbed"
)

// Refs name what to download; the manager resolves albums through the
// relay and playlists through the app's resolver.
func ExampleRef() {
	r := download.Ref{Kind: download.KindAlbum, ID: "al0123", Tier: model.TierHigh}
	fmt.Println(r)
	// Output: album al0123 (high)
}

// Options are values: derive variants freely.
func ExampleDefaultOptions() {
	cellular := download.DefaultOptions().WithAllowMetered(true).WithWorkers(2)
	_ = cellular
	fmt.Println("ok")
	// Output: ok
}

// Example downloads the demo album from a relay running in this process
// (internal/testbed, with the license server), reports the progress
// events it received and the status, then stops the relay and plays a
// downloaded track offline from its blob files and its license.
func Example() {
	ctx := context.Background()
	relay, err := testbed.Start(ctx, testbed.DefaultOptions().WithLicenses(true))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer relay.Close()
	dir, err := os.MkdirTemp("", "segue-download-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	e, err := core.Open(ctx, dir, core.DefaultOptions().WithOrigins(relay.URL).WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Close()
	if err := e.SignUp(ctx, "ada", testbed.Password); err != nil {
		fmt.Println(err)
		return
	}
	if err := e.Register(ctx, "ada", testbed.Password, "laptop"); err != nil {
		fmt.Println(err)
		return
	}

	// Events arrive from the manager's goroutines, in no fixed order
	// across tracks: count them.
	var mu sync.Mutex
	counts := map[download.EventKind]int{}
	m, err := e.OpenDownloads(ctx, download.DefaultOptions().WithEvents(func(ev download.Event) {
		mu.Lock()
		counts[ev.Kind]++
		mu.Unlock()
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.CloseDownloads()
	album := download.Ref{Kind: download.KindAlbum, ID: string(relay.Album), Tier: model.TierLow}
	if err := m.Add(ctx, album); err != nil {
		fmt.Println(err)
		return
	}
	if err := m.Wait(ctx); err != nil {
		fmt.Println(err)
		return
	}
	st, err := m.Status(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	mu.Lock()
	fmt.Printf("events: %d queued, %d resolved, %d tracks done\n", counts[download.EventQueued], counts[download.EventResolved], counts[download.EventTrackDone])
	mu.Unlock()
	fmt.Printf("%d of %d tracks downloaded, %d license(s) covering %d tracks\n", st.TracksDone, st.Tracks, len(st.Licenses), st.Licenses[0].Entries)

	// No relay any more: the track plays from disk.
	if err := relay.Stop(); err != nil {
		fmt.Println(err)
		return
	}
	tr, err := e.OpenTrack(ctx, relay.Tracks[0], model.TierLow)
	if err != nil {
		fmt.Println(err)
		return
	}
	stream := tr.Stream(ctx)
	got, err := io.ReadAll(stream)
	stream.Close()
	if err != nil {
		fmt.Println(err)
		return
	}
	want, err := relay.Encoded(relay.Tracks[0], model.TierLow)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("offline playback returns the encoded track:", bytes.Equal(got, want))
	// Output:
	// events: 1 queued, 1 resolved, 4 tracks done
	// 4 of 4 tracks downloaded, 1 license(s) covering 4 tracks
	// offline playback returns the encoded track: true
}
