package player_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player"
)

// panicEffect panics on its first block.
type panicEffect struct{}

func (panicEffect) Name() string                             { return "panic" }
func (panicEffect) Format() (int, int)                       { return 44100, 2 }
func (panicEffect) Process(context.Context, []float32) error { panic("panicEffect: first block") }

// A panic in the playback pipeline (here an embedder's effect) ends the
// program with its trace. Before, the loop's cleanup waited for the lock
// the panicking loop held: the panic was never seen, playback stopped
// without a word and Close hung.
func TestLoopPanicNotHidden(t *testing.T) {
	if os.Getenv("SEGUE_TEST_PANIC_CHILD") == "1" {
		src, ids := newMemSource(t)
		p, err := player.New(src, player.NewDiscardSink(44100, 2),
			player.DefaultOptions().WithEffects(panicEffect{}).WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatal(err)
		}
		sub, _ := p.Subscribe()
		if err := p.Play(model.PlayContext{Kind: "album", ID: "demo"}, albumItems(ids), 0); err != nil {
			t.Fatal(err)
		}
		for range sub { // closed when the loop ends
		}
		t.Fatal("the loop ended without the panic")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestLoopPanicNotHidden$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SEGUE_TEST_PANIC_CHILD=1")
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("the player hung after the panic:\n%.2000s", out)
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || !strings.Contains(string(out), "panic: panicEffect: first block") {
		t.Fatalf("child: %v, want the effect's panic:\n%.2000s", err, out)
	}
}
