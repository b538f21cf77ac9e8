// Package wav writes and reads RIFF WAVE files holding 16- or 24-bit
// integer or 32-bit IEEE float PCM, using WAVE_FORMAT_EXTENSIBLE (with a
// channel mask) above two channels and for 24-bit samples, and a fact
// chunk for float samples.
//
// Writing streams: the header is written first with placeholder sizes,
// which Close patches when the destination can seek.
//
//	w, err := wav.NewWriter(f, 44100, 2, wav.S16)
//	...
//	err = w.WriteFloat32(interleaved) // any number of times
//	...
//	err = w.Close() // patches the sizes; does not close f
//
// Read parses a whole file into interleaved float32 samples; it is meant
// for tests and tools, not for unbounded streams.
package wav
