package ingest

import (
	"bytes"
	"os"
	"testing"
)

// FuzzDecodeMaster feeds arbitrary bytes to the WAV and FLAC master
// decoders: they must return errors, never panic or run away.
func FuzzDecodeMaster(f *testing.F) {
	f.Add(sineWAV(f, 4410, 44100, 2))
	b, err := os.ReadFile("testdata/short.flac")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("fLaC\x00\x00\x00\x22"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m := &master{}
		if bytes.HasPrefix(data, []byte("fLaC")) {
			_ = m.decodeFLAC(bytes.NewReader(data))
		} else {
			_ = m.decodeWAV(bytes.NewReader(data), int64(len(data)))
		}
	})
}
