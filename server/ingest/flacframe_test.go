package ingest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"
)

// TestDecodeFLACFrameFormat: a FLAC master whose frames disagree with its
// STREAMINFO on the sample size or rate is refused (ErrCorrupt), as
// libFLAC refuses it. Before, its samples were scaled by STREAMINFO's
// size: testdata/short.flac (16-bit frames) declaring 24 bits ingested
// with a loudness 48 dB too low, and played louder than normalised.
func TestDecodeFLACFrameFormat(t *testing.T) {
	orig, err := os.ReadFile("testdata/short.flac")
	if err != nil {
		t.Fatal(err)
	}
	// STREAMINFO's 64-bit field after "fLaC", the block header and the
	// block and frame sizes: rate (20 bits), channels − 1 (3), bits − 1
	// (5), total samples (36).
	const at = 4 + 4 + 10
	field := binary.BigEndian.Uint64(orig[at:])
	if rate, bits := field>>44, (field>>36&0x1f)+1; rate != 22050 || bits != 16 {
		t.Fatalf("short.flac is %d Hz, %d bits; the test expects 22050 Hz, 16 bits", rate, bits)
	}
	with := func(rate, bits uint64) []byte {
		b := bytes.Clone(orig)
		f := field&(1<<36-1) | field&(7<<41) | rate<<44 | (bits-1)<<36
		binary.BigEndian.PutUint64(b[at:], f)
		return b
	}
	for _, tc := range []struct {
		name string
		flac []byte
		want error
		says string
	}{
		{"as it is", orig, nil, ""},
		{"declares 24 bits", with(22050, 24), ErrCorrupt, "16 bits per sample at 22050 Hz, STREAMINFO says 24 bits at 22050 Hz"},
		{"declares 12 bits", with(22050, 12), ErrCorrupt, "STREAMINFO says 12 bits"},
		{"declares 44100 Hz", with(44100, 16), ErrCorrupt, "STREAMINFO says 16 bits at 44100 Hz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &master{}
			err := m.decodeFLAC(bytes.NewReader(tc.flac))
			if !errors.Is(err, tc.want) || tc.want != nil && !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("got %v, want %v saying %q", err, tc.want, tc.says)
			}
		})
	}
}

// TestDecodeFLACSampleCount: a FLAC master holding more samples than its
// STREAMINFO's total is corrupt, and one holding fewer is truncated (as
// flac -t says). Both were "truncated input".
func TestDecodeFLACSampleCount(t *testing.T) {
	orig, err := os.ReadFile("testdata/short.flac")
	if err != nil {
		t.Fatal(err)
	}
	const at = 4 + 4 + 10 // as in TestDecodeFLACFrameFormat
	field := binary.BigEndian.Uint64(orig[at:])
	total := field & (1<<36 - 1)
	with := func(n uint64) []byte {
		b := bytes.Clone(orig)
		binary.BigEndian.PutUint64(b[at:], field&^(1<<36-1)|n)
		return b
	}
	for _, tc := range []struct {
		name string
		flac []byte
		want error
		says string
	}{
		{"as it is", orig, nil, ""},
		{"declares fewer", with(total - 1), ErrCorrupt, "more than the header's"},
		{"declares more", with(total + 1), ErrTruncated, "header says"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &master{}
			err := m.decodeFLAC(bytes.NewReader(tc.flac))
			if !errors.Is(err, tc.want) || tc.want != nil && !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("got %v, want %v saying %q", err, tc.want, tc.says)
			}
		})
	}
}
