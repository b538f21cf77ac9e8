//go:build wasip1

package main

import (
	"errors"
	"unsafe"

	"github.com/segue-fm/segue/examples/eq/dsp"
)

// abiVersion is the version of the plugin ABI this module implements.
const abiVersion = 1

// Status codes of the ABI (see package player/plugin).
const (
	statusOK         = 0
	statusUnknown    = 1 // unknown parameter, unsupported format
	statusRange      = 2 // parameter value out of range
	statusBadPointer = 3 // a pointer or length outside the module's buffers
	statusNotReady   = 4 // segue_init has not succeeded yet
)

var (
	eq      *dsp.EQ
	buffers [][]float32 // every segue_alloc result, kept alive for the instance's life
)

//go:wasmexport segue_abi_version
func segueABIVersion() int32 { return abiVersion }

// segueAlloc returns the address of a new zeroed buffer of size bytes,
// 4-byte aligned and valid for the instance's life, or 0.
//
//go:wasmexport segue_alloc
func segueAlloc(size int32) uint32 {
	if size <= 0 || size > 64<<20 {
		return 0
	}
	b := make([]float32, (size+3)/4)
	buffers = append(buffers, b)
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}

// region returns the n float32s at address p inside one buffer.
func region(p uint32, n int) ([]float32, bool) {
	if n < 0 || p%4 != 0 {
		return nil, false
	}
	for _, b := range buffers {
		base := uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
		if p < base || p >= base+uint32(4*len(b)) {
			continue
		}
		off := int(p-base) / 4
		if off+n > len(b) {
			return nil, false
		}
		return b[off : off+n], true
	}
	return nil, false
}

//go:wasmexport segue_init
func segueInit(rate, channels int32) int32 {
	e, err := dsp.New(int(rate), int(channels))
	if err != nil {
		return statusUnknown
	}
	eq = e
	return statusOK
}

//go:wasmexport segue_set_param
func segueSetParam(key uint32, keyLen int32, value float64) int32 {
	if eq == nil {
		return statusNotReady
	}
	if keyLen <= 0 || keyLen > 64 {
		return statusBadPointer
	}
	words, ok := region(key&^3, int(key%4+uint32(keyLen)+3)/4)
	if !ok {
		return statusBadPointer
	}
	raw := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(words))), 4*len(words))
	k := string(raw[key%4 : key%4+uint32(keyLen)])
	switch err := eq.SetParam(k, value); {
	case err == nil:
		return statusOK
	case errors.Is(err, dsp.ErrParam):
		return statusUnknown
	default:
		return statusRange
	}
}

//go:wasmexport segue_process
func segueProcess(p uint32, frames int32) int32 {
	if eq == nil {
		return statusNotReady
	}
	buf, ok := region(p, int(frames)*eq.Channels())
	if !ok {
		return statusBadPointer
	}
	eq.Process(buf)
	return statusOK
}
