// Package vorbis is a pure-Go Vorbis I decoder (no cgo, builds for
// GOOS=js and GOOS=wasip1), written from the Vorbis I specification and
// checked sample by sample against libvorbis.
//
// It implements the whole of Vorbis I: codebooks with lookup types 0, 1
// and 2, floors 0 and 1, residues 0, 1 and 2, channel coupling, any
// channel count and sample rate, the FFT-based IMDCT with window overlap,
// and libvorbisfile's granule-position trimming, so a file decodes to
// exactly its source's sample count.
//
// Packet level, for the player (headers once, then audio; no allocations
// per packet after the setup header):
//
//	d := vorbis.NewDecoder(vorbis.DefaultOptions())
//	for _, h := range headers { // identification, comment, setup
//		if err := d.ReadHeader(h); err != nil { ... }
//	}
//	for _, p := range audioPackets {
//		pcm, err := d.Decode(p) // pcm[channel][frame], valid until the next call
//		...
//	}
//	d.Reset() // after a seek: the next packet primes and outputs nothing
//
// Stream level, with start and end trimming and chained streams:
//
//	sr := vorbis.NewStreamReader(f, vorbis.DefaultOptions())
//	for {
//		pcm, err := sr.Next(ctx)
//		if err == io.EOF { break }
//		...
//	}
//
// A chunk made by the segmenter (docs/ARCHITECTURE.md §3), header ‖ chunk
// with its primer page, decodes through a StreamReader to exactly the
// chunk's samples. DecodeWAV writes a whole stream as a WAV file.
package vorbis
