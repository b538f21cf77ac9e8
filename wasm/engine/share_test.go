package engine_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/server/social"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/wasm/engine"
)

// TestPlayShare opens a share link in the web engine: signed out it
// plays the preview (5 s on this relay) and stops there — exactly 5 s of
// frames at the output rate, equal to the start of the full track — and
// signed in the same link plays the whole track.
func TestPlayShare(t *testing.T) {
	ctx := t.Context()
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithMount(func(dd *catalog.DataDir, srv *relay.Server) {
		social.NewForRelay(dd, srv, social.DefaultOptions().WithPreview(5*time.Second).WithLogger(slog.New(slog.DiscardHandler))).Mount(srv)
	}))
	ada := testbed.Device(t, r, "ada")
	sh, err := ada.Share(ctx, api.ShareTrack, string(r.Tracks[1]))
	if err != nil {
		t.Fatal(err)
	}
	const rate = 44100
	popts := player.DefaultOptions().WithTier(model.TierNormal)
	e, err := engine.Open(ctx, r.URL, store.NewMemory(), &crypto.MemoryKeyStore{}, engine.DefaultOptions().WithPlayer(popts))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	sink := &captureSink{rate: rate}
	p, err := e.OpenPlayer(sink)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.PlayShare(ctx, "not-a-token"); err == nil {
		t.Fatal("PlayShare took a bad token")
	}
	var sp api.SharePreview
	var preview bool
	playToEnd(t, p, func() error { sp, preview, err = e.PlayShare(ctx, sh.Token); return err })
	if !preview || sp.PreviewMS != 5000 || len(sp.Tracks) != 1 {
		t.Fatalf("signed out: preview %v, %+v", preview, sp)
	}
	previewOut := sink.buf
	if got := len(previewOut) / 2; got != 5*rate {
		t.Fatalf("preview played %d frames, want %d (5 s at %d Hz)", got, 5*rate, rate)
	}

	if err := e.SignUp(ctx, "web", testbed.Password); err != nil {
		t.Fatal(err)
	}
	if err := e.Login(ctx, "web", testbed.Password); err != nil {
		t.Fatal(err)
	}
	sink.buf = nil
	playToEnd(t, p, func() error { sp, preview, err = e.PlayShare(ctx, sh.Token); return err })
	tr, err := e.Track(ctx, r.Tracks[1])
	if err != nil {
		t.Fatal(err)
	}
	if preview || int64(len(sink.buf)/2) != tr.Samples {
		t.Fatalf("signed in: preview %v, %d frames, want the whole track's %d", preview, len(sink.buf)/2, tr.Samples)
	}
	for i := range previewOut {
		if previewOut[i] != sink.buf[i] {
			t.Fatalf("preview differs from the full track at sample %d", i)
		}
	}
}
