package ingest

import (
	"context"
	"encoding/binary"
	"math"
	"testing"
	"testing/fstest"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testtool"
)

// rawWAV builds a WAV file by hand: n frames of a sine in the given
// format tag (1 PCM, 3 float) and bits, with extra chunks before the data
// chunk (each padded to an even length, as RIFF requires).
func rawWAV(tag, bits, channels, rate, n int, before ...[]byte) []byte {
	le := binary.LittleEndian
	align := channels * bits / 8
	var b []byte
	b = append(b, "RIFF\x00\x00\x00\x00WAVEfmt "...)
	b = le.AppendUint32(b, 16)
	b = le.AppendUint16(b, uint16(tag))
	b = le.AppendUint16(b, uint16(channels))
	b = le.AppendUint32(b, uint32(rate))
	b = le.AppendUint32(b, uint32(rate*align))
	b = le.AppendUint16(b, uint16(align))
	b = le.AppendUint16(b, uint16(bits))
	for _, c := range before {
		b = append(b, c...)
		if len(c)%2 == 1 {
			b = append(b, 0)
		}
	}
	b = append(b, "data"...)
	b = le.AppendUint32(b, uint32(n*align))
	for i := range n {
		for c := range channels {
			v := 0.4 * math.Sin(2*math.Pi*float64(220*(c+1)*i)/float64(rate))
			switch {
			case tag == 3:
				b = le.AppendUint32(b, math.Float32bits(float32(v)))
			case bits == 32:
				b = le.AppendUint32(b, uint32(int32(v*(1<<31))))
			case bits == 24:
				u := uint32(int32(v * (1 << 23)))
				b = append(b, byte(u), byte(u>>8), byte(u>>16))
			default:
				b = le.AppendUint16(b, uint16(int16(v*(1<<15))))
			}
		}
	}
	le.PutUint32(b[4:], uint32(len(b)-8))
	return b
}

// TestIngestWAVVariants ingests valid WAV masters that oggenc cannot read
// as they are (32-bit integer samples; an odd-sized chunk before the
// data, whose pad byte oggenc does not skip): the encoder gets a copy
// written from the decoded samples, so every tier holds the master's
// exact length.
func TestIngestWAVVariants(t *testing.T) {
	testtool.Need(t, "oggenc")
	const n = 44100 + 5
	list := append([]byte("LIST\x05\x00\x00\x00"), "INFOx"...)
	tests := []struct {
		name string
		wav  []byte
	}{
		{"32-bit integer", rawWAV(1, 32, 2, 44100, n)},
		{"odd-sized chunk before data", rawWAV(1, 16, 2, 44100, n, list)},
		{"24-bit, 6 channels", rawWAV(1, 24, 6, 44100, n)},
		{"float, mono", rawWAV(3, 32, 1, 44100, n, list)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newCatalog()
			fsys := fstest.MapFS{"m.wav": {Data: tc.wav}, "m.wav.json": {Data: []byte(`{"title":"T","artists":["X"]}`)}}
			req, err := LoadFiles(fsys, "m.wav")
			if err != nil {
				t.Fatal(err)
			}
			res, err := Ingest(context.Background(), c, testSigner, req, DefaultOptions().WithEncoders("oggenc", "no-such-ffmpeg"))
			if err != nil {
				t.Fatal(err)
			}
			tr := res.Tracks[0].Track
			if tr.Samples != n {
				t.Fatalf("master has %d samples, want %d", tr.Samples, n)
			}
			m, _, _ := stream(t, c, tr.ID, model.TierHigh)
			if m.TotalSamples != n {
				t.Fatalf("high tier has %d samples, want %d", m.TotalSamples, n)
			}
		})
	}
}
