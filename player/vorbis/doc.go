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
// Where libvorbis 1.3.7 (the reference decoder) reads a stream
// differently from the letter of the specification, this package follows
// libvorbis, so that every stream decodes as libvorbis decodes it:
// residue 0 adds a partition only once all its codewords are read; a
// residue 2 partition covers the whole frames between its offsets,
// starting at channel 0, even when the partition size is not a multiple
// of the channel count; class codewords of classes^dims or more end the
// residue, and a class book with fewer entries is rejected; a book
// without codewords reads nothing (no-op residue vectors, zero floor 0
// coefficients); a long-block packet that ends in its window flags is
// not audio; floor 0 is computed float for float as libvorbis does and
// floor 1 uses libvorbis' dB table. One deliberate difference: a sample
// libvorbis decodes to NaN, to an infinity or beyond ±16 (only a crafted
// or damaged setup makes them) is returned as 0 or ±16, and counted
// (Decoder.Clamped, StreamReader.Clamped). Coverage: files from oggenc and
// ffmpeg, and synthetic streams exercising floor 0, residue 0 and lookup
// type 2 (which no available encoder emits), all match libvorbisfile
// within 1e-5 absolute, 1e-6 RMS (testdata/README.md).
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
