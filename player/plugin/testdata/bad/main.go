// Command bad is a misbehaving plugin for the host's tests. It implements
// the ABI; its parameter "mode" chooses how segue_process misbehaves:
// 0 passes the block through untouched (the overhead benchmark), 1 loops
// forever, 2 panics, 3 allocates until its memory is exhausted, 4 writes
// NaN, 5 returns a failure status, 6 traps with an out-of-range index.
// Parameter "after" delays the misbehaviour: the first "after" blocks are
// halved (exactly) and passed back. Parameter "abi" sets the version
// segue_abi_version returns from then on.
package main

import "unsafe"

var (
	mode     int32
	after    int32
	abi      int32 = 1
	channels int32
	buffers  [][]float32
	hoard    [][]byte
	sink     int
)

func main() {}

//go:wasmexport segue_abi_version
func abiVersion() int32 { return abi }

//go:wasmexport segue_alloc
func alloc(size int32) uint32 {
	b := make([]float32, (size+3)/4)
	buffers = append(buffers, b)
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}

//go:wasmexport segue_init
func initialise(rate, ch int32) int32 {
	channels = ch
	return 0
}

//go:wasmexport segue_set_param
func setParam(key uint32, n int32, v float64) int32 {
	k := string(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(buffers[1]))), n))
	switch k {
	case "mode":
		mode = int32(v)
	case "after":
		after = int32(v)
	case "abi":
		abi = int32(v)
	default:
		return 1
	}
	return 0
}

//go:wasmexport segue_process
func process(p uint32, frames int32) int32 {
	buf := buffers[0][:frames*channels]
	if after > 0 {
		after--
		for i := range buf {
			buf[i] *= 0.5
		}
		return 0
	}
	switch mode {
	case 1:
		for {
			sink++
		}
	case 2:
		panic("bad plugin: boom")
	case 3:
		for {
			hoard = append(hoard, make([]byte, 1<<20))
		}
	case 4:
		buf[0] = float32(nan())
	case 5:
		return 7
	case 6:
		idx := int(frames) * 1000
		buf[idx] = 1
	}
	return 0
}

func nan() float64 {
	var z float64
	return z / z
}
