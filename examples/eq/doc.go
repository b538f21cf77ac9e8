// Command eq is Segue's example effect plugin: a 10-band parametric
// equaliser (peaking biquads from the RBJ cookbook, package
// examples/eq/dsp) built as a WebAssembly module that implements the
// plugin ABI of package player/plugin. The same eq.wasm runs in the native
// player under wazero and in the browser under its WebAssembly engine, with
// bit-identical output.
//
// Build it (or run go generate ./examples/eq):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o eq.wasm ./examples/eq
//
// and play through it:
//
//	segue play --effect eq.wasm --effect-param band3=+4 --effect-param preamp=-4 album ID
//
// Parameters are those of package examples/eq/dsp: preamp, bandN (or
// bandN.gain), bandN.freq and bandN.q for N = 1…10. Built for any other
// target than wasip1 the command does nothing.
package main

//go:generate env GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o eq.wasm .

func main() {}
