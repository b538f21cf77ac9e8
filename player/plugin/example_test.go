package plugin_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/segue-fm/segue/player/plugin"
)

// A plugin is compiled once, instantiated per stream and called per
// block. This one (a minimal module assembled by the tests) passes blocks
// through; a module that is not a plugin is refused with a clear error.
func Example() {
	ctx := context.Background()
	rt, err := plugin.NewRuntime(ctx, plugin.DefaultOptions().WithCacheDir(""))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rt.Close(ctx)

	p, err := rt.Compile(ctx, "pass", abiModule(plugin.ABIVersion, []byte{0x41, 0}))
	if err != nil {
		fmt.Println(err)
		return
	}
	inst, err := p.Instantiate(ctx, 44100, 2)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer inst.Close()
	block := []float32{0.5, -0.5, 0.25, -0.25}
	fmt.Println(inst.Process(ctx, block), block)

	_, err = rt.Compile(ctx, "junk", []byte("not wasm"))
	fmt.Println(errors.Is(err, plugin.ErrInvalidModule))
	// Output:
	// <nil> [0.5 -0.5 0.25 -0.25]
	// true
}

func ExampleParseParam() {
	p, err := plugin.ParseParam("band3=+4")
	fmt.Println(p.Key, p.Value, err)
	_, err = plugin.ParseParam("band3")
	fmt.Println(err)
	// Output:
	// band3 4 <nil>
	// plugin: bad parameter: "band3": want key=value
}
