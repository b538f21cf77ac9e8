// Package alsa is a player.Sink that plays to a Linux sound device through
// ALSA (libasound).
//
// The implementation needs cgo and the libasound headers (Debian:
// libasound2-dev), so it is compiled only with the build tag `alsa`:
//
//	go build -tags alsa ./cmd/segue
//
// Without the tag (or without cgo) the package still builds, and Open
// always fails with ErrUnavailable, so callers can fall back to another
// sink (segue play writes a WAV file) without build tags of their own.
//
// Usage:
//
//	sink, err := alsa.Open(ctx, alsa.DefaultOptions())          // "default" device
//	if errors.Is(err, alsa.ErrUnavailable) { /* no device: use a WAVSink */ }
//	defer sink.Close()                                            // drains, then closes
//	p, err := player.New(src, sink, player.DefaultOptions())
//
// Open negotiates the hardware parameters: interleaved access, 32-bit
// float samples (or signed 16-bit, when the device cannot take float), the
// nearest channel count and rate the device supports, and a buffer of
// about Options latency. Format reports what was negotiated; the player
// renders at that format. Write blocks while the device buffer is full,
// which paces playback in real time, and recovers from underruns (xruns)
// and suspends with snd_pcm_recover. Close drains what is buffered, so the
// last frames are heard, before closing the device.
package alsa
