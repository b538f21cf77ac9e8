package social

import (
	"bytes"
	"errors"
	"fmt"
	"image/png"
	"runtime"
	"sync/atomic"
	"testing"
)

// TestCardCacheAndJobs: a card is drawn once and then served from the
// cache by what it shows, even while cardJobs other cards are being
// drawn; requests for a card being drawn wait for that drawing instead
// of drawing it again; a card neither kept nor being drawn is
// ErrCardBusy while cardJobs are; the cache keeps the last cardCacheSize
// cards.
func TestCardCacheAndJobs(t *testing.T) {
	ctx := t.Context()
	s := &Service{cards: newCardCache()}
	it := item{Kind: "album", Title: "Segue Demo", Subtitle: "Segue Ensemble", Detail: "Album · 4 tracks", Seed: "album:al1"}
	b, err := s.card(ctx, it)
	if err != nil {
		t.Fatal(err)
	}
	if img, err := png.Decode(bytes.NewReader(b)); err != nil || img.Bounds().Dx() != CardWidth {
		t.Fatalf("card: %v", err)
	}

	// cardJobs drawings held open; the first has waiters.
	c := s.cards
	release := make(chan struct{})
	var draws atomic.Int32
	slow := func() ([]byte, error) { draws.Add(1); <-release; return []byte("slow"), nil }
	got := make(chan []byte, cardJobs+3)
	for i := range cardJobs {
		go func() {
			b, _ := c.card(ctx, [32]byte{byte(i + 1)}, slow)
			got <- b
		}()
	}
	for int(draws.Load()) < cardJobs {
		runtime.Gosched()
	}
	for range 3 {
		go func() {
			b, _ := c.card(ctx, [32]byte{1}, func() ([]byte, error) { t.Error("drawn again"); return nil, nil })
			got <- b
		}()
	}
	again, err := s.card(ctx, it)
	if err != nil || &again[0] != &b[0] {
		t.Fatalf("a kept card while others are drawn: %v", err)
	}
	other := it
	other.Title = "Another"
	if _, err := s.card(ctx, other); !errors.Is(err, ErrCardBusy) {
		t.Fatalf("a card not kept while %d are drawn: %v", cardJobs, err)
	}
	close(release)
	for range cardJobs + 3 {
		if b := <-got; string(b) != "slow" {
			t.Fatalf("got %q", b)
		}
	}
	if n := draws.Load(); n != cardJobs {
		t.Fatalf("%d drawings, want %d", n, cardJobs)
	}

	c.mu.Lock()
	for i := range cardCacheSize {
		c.putLocked(cardKey(item{Title: fmt.Sprint(i)}, nil), []byte{1})
	}
	c.mu.Unlock()
	if _, ok := c.get(cardKey(it, nil)); ok || c.order.Len() != cardCacheSize || len(c.m) != cardCacheSize {
		t.Fatalf("after %d more cards: first kept %v, %d/%d kept", cardCacheSize, ok, c.order.Len(), len(c.m))
	}
}
