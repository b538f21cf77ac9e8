package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
)

// Track is one (track, tier) stream opened for playback: its verified
// manifest and its content key, held in memory for the Track's lifetime
// and never returned. Every byte it returns was verified against the
// signed manifest before decryption.
//
// Header, Chunk and Stream return clear audio (Ogg Vorbis): they are for an
// app with its own decoder. The bytes are the caller's, in memory; the
// engine never writes clear audio or keys to disk, and a caller must not
// either (DESIGN §4, docs/THREAT_MODEL.md). An app that wants decoded PCM
// plays the track with Engine.OpenPlayer and a player.Sink of its own,
// which receives each block of PCM for the length of one Write. A Track is
// safe for concurrent use and needs no closing.
type Track struct {
	e   *Engine
	m   *model.Manifest
	key crypto.ContentKey
}

// OpenTrack fetches and verifies the manifest of (track, tier) and
// obtains its content key, concurrently; when the manifest is not cached,
// the header and chunk 0 are fetched at the same time and cached once they
// verify against it, so the first audio is one round trip away (see
// fetch.Fetcher.ManifestAndPrefetch). Everything comes from memory or
// cache when possible, so a track played recently opens without network.
func (e *Engine) OpenTrack(ctx context.Context, track model.TrackID, tier model.Tier) (*Track, error) {
	ctx, done, err := e.calls.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	return e.openTrack(ctx, track, tier)
}

// openTrack is OpenTrack without the gate, for the engine's player.
func (e *Engine) openTrack(ctx context.Context, track model.TrackID, tier model.Tier) (*Track, error) {
	if !tier.Valid() {
		return nil, fmt.Errorf("core: open %s: %w", track, model.ErrInvalidTier)
	}
	if err := checkID(track); err != nil {
		return nil, fmt.Errorf("core: open: %w", err)
	}
	var (
		key    crypto.ContentKey
		keyErr error
		wg     sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Go(func() {
		key, keyErr = e.contentKey(ctx, track, tier)
		if keyErr != nil {
			cancel()
		}
	})
	m, err := e.fetcher.ManifestAndPrefetch(ctx, track, tier, 1)
	if err != nil {
		cancel()
	}
	wg.Wait()
	// The key's error says why when the manifest succeeded or was cut
	// short by it, and always when it is a cause the manifest's failure
	// only echoes: no token (the manifest, asked without one, is a bare
	// 401) or an offline miss.
	if keyErr != nil && (err == nil || errors.Is(err, context.Canceled) || errors.Is(keyErr, errOfflineMiss) ||
		errors.Is(keyErr, ErrNotRegistered)) {
		err = keyErr
	}
	var se *fetch.StatusError
	if errors.As(err, &se) && se.Code == http.StatusUnauthorized && !errors.Is(err, ErrUnauthorized) {
		// The relay refused the token on the manifest (the key request,
		// cut short, could not say so): as for every relay call.
		err = fmt.Errorf("%w: %w", ErrUnauthorized, err)
		e.checkRevocation()
	}
	if err != nil {
		return nil, fmt.Errorf("core: open %s/%s: %w", track, tier, err)
	}
	return &Track{e: e, m: m, key: key}, nil
}

// Manifest returns a deep copy of the track's verified manifest, owned
// by the caller: changing it changes neither the track nor later copies.
func (t *Track) Manifest() *model.Manifest {
	return t.m.Clone()
}

// Header returns the decrypted header blob (the Vorbis header pages),
// owned by the caller and clear audio: hold it in memory only (see Track).
// After the engine's Close it returns ErrClosed.
func (t *Track) Header(ctx context.Context) ([]byte, error) {
	ctx, done, err := t.e.calls.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	return t.header(ctx)
}

func (t *Track) header(ctx context.Context) ([]byte, error) {
	b, err := t.e.fetcher.Header(ctx, t.m)
	if err != nil {
		return nil, fmt.Errorf("core: header of %s/%s: %w", t.m.TrackID, t.m.Tier, err)
	}
	crypto.XORKeyStream(t.key, 0, 0, b, b)
	return b, nil
}

// Chunk returns decrypted chunk i, primer page included (so header ‖
// chunk decodes alone to exactly the chunk's samples), owned by the
// caller and clear audio: hold it in memory only (see Track). The blob
// was verified against the manifest before decryption. After the engine's
// Close it returns ErrClosed.
func (t *Track) Chunk(ctx context.Context, i int) ([]byte, error) {
	ctx, done, err := t.e.calls.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	b, _, err := t.chunkFrom(ctx, i)
	return b, err
}

// chunkFrom is Chunk without the engine's call gate, also reporting
// whether the blob came over the network (fetch.Fetcher.ChunkFrom).
func (t *Track) chunkFrom(ctx context.Context, i int) ([]byte, bool, error) {
	b, network, err := t.e.fetcher.ChunkFrom(ctx, t.m, i)
	if err != nil {
		return nil, false, fmt.Errorf("core: chunk %d of %s/%s: %w", i, t.m.TrackID, t.m.Tier, err)
	}
	crypto.XORKeyStream(t.key, uint64(i)+1, 0, b, b)
	return b, network, nil
}

// Stream returns the track's continuous decrypted Ogg stream: header ‖
// chunk 0 ‖ chunk 1 without its primer ‖ … — byte for byte the encoded
// file, in the clear: hold it in memory only (see Track). One chunk ahead
// of the reader is fetched in the background
// (prefetch). Each chunk is released only after its hash verified (chunk
// 0 is about one second of audio, so verify-then-release costs little
// time to first byte). Cancelling ctx or calling Close stops every request;
// Read then returns the error (ErrClosed once the engine closed). The
// caller must Close the stream.
func (t *Track) Stream(ctx context.Context) io.ReadCloser {
	ctx, cancel := context.WithCancel(ctx)
	s := &stream{parts: make(chan part, 1), cancel: cancel, done: make(chan struct{})}
	go s.produce(ctx, t)
	return s
}

// part is one decrypted piece of a stream, or the error that ends it.
type part struct {
	b   []byte
	err error
}

type stream struct {
	parts  chan part
	cancel context.CancelFunc
	done   chan struct{}

	final error // why produce stopped early; written before parts closes

	closed atomic.Bool

	cur []byte
	err error
}

// produce fetches the header then every chunk in order, each fetch
// started while the previous part is still being fetched or read (so the
// header and chunk 0 travel concurrently); the channel's one-slot buffer
// holds the next part for the reader.
func (s *stream) produce(ctx context.Context, t *Track) {
	var wg sync.WaitGroup
	defer close(s.done)
	defer wg.Wait()
	defer close(s.parts)
	start := func(i int) <-chan part {
		ch := make(chan part, 1)
		wg.Go(func() { ch <- t.part(ctx, i) })
		return ch
	}
	next := start(-1)
	for i := -1; i < len(t.m.Chunks); i++ {
		cur := next
		if i+1 < len(t.m.Chunks) {
			next = start(i + 1)
		}
		var p part
		select {
		case p = <-cur:
		case <-ctx.Done():
			s.final = fmt.Errorf("core: stream %s/%s: %w", t.m.TrackID, t.m.Tier, ctx.Err())
			return
		}
		select {
		case s.parts <- p:
		case <-ctx.Done():
			s.final = fmt.Errorf("core: stream %s/%s: %w", t.m.TrackID, t.m.Tier, ctx.Err())
			return
		}
		if p.err != nil {
			return
		}
	}
}

// part returns the decrypted header (i = -1) or chunk i without its
// primer, as it appears in the continuous stream.
func (t *Track) part(ctx context.Context, i int) part {
	if i < 0 {
		b, err := t.Header(ctx)
		return part{b, err}
	}
	b, err := t.Chunk(ctx, i)
	if err != nil {
		return part{nil, err}
	}
	return part{b[t.m.Chunks[i].PrimerSize:], nil}
}

// Read implements io.Reader.
func (s *stream) Read(b []byte) (int, error) {
	if s.closed.Load() {
		return 0, ErrStreamClosed
	}
	for len(s.cur) == 0 {
		if s.err != nil {
			return 0, s.err
		}
		p, ok := <-s.parts
		switch {
		case !ok:
			s.err = io.EOF
			if s.final != nil {
				s.err = s.final
			}
		case p.err != nil:
			s.err = p.err
		default:
			s.cur = p.b
		}
	}
	n := copy(b, s.cur)
	s.cur = s.cur[n:]
	return n, nil
}

// Close stops the background fetches and waits for them to end. It may
// be called concurrently with Read, which then fails.
func (s *stream) Close() error {
	s.closed.Store(true)
	s.cancel()
	<-s.done
	return nil
}

// ErrStreamClosed is returned by Read after Close.
var ErrStreamClosed = errors.New("core: read from closed stream")
