// Package loudness measures loudness per EBU R128 / ITU-R BS.1770-4:
// K-weighted, gated integrated loudness in LUFS, momentary (400 ms) and
// short-term (3 s) loudness, and true peak in dBTP by 4× oversampling with
// the polyphase FIR interpolator of BS.1770-4 Annex 2.
//
// The K-weighting filters are designed for any sample rate from their
// analogue prototypes with the bilinear transform, so a 16 kHz low tier and
// a 44.1 kHz master are measured by the same code; at 48 kHz the
// coefficients equal the tables of BS.1770.
//
// Measure a whole buffer at once:
//
//	l, err := loudness.Measure(samples, 44100, 2)
//	gain := -14 - l.IntegratedLUFS
//
// or stream into a Meter, which never allocates in Write:
//
//	m, err := loudness.NewMeter(44100, 2)
//	for buf := range blocks {
//		m.Write(buf) // interleaved float32, any length
//	}
//	l := m.Result()
//
// The package is pure: no I/O, no goroutines, no global state. A Meter is
// not safe for concurrent use.
package loudness
