// Command gen writes server/web/dist from the web player's sources and a
// built segue.wasm (see scripts/build-web.sh, which runs it).
//
//	go run ./server/web/gen -src wasm/web -wasm /tmp/segue.wasm -bundle /tmp/bundle -out server/web/dist
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"

	"github.com/segue-fm/segue/server/web/webgen"
)

func main() {
	src := flag.String("src", "wasm/web", "web player sources")
	wasm := flag.String("wasm", "", "built segue.wasm")
	bundle := flag.String("bundle", "", "output directory of wasm/playlists/build.sh")
	out := flag.String("out", "server/web/dist", "output directory (replaced)")
	flag.Parse()
	if *wasm == "" || *bundle == "" {
		fmt.Fprintln(os.Stderr, "gen: -wasm and -bundle are required")
		os.Exit(2)
	}
	in, err := webgen.Read(*src, *wasm, *bundle)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	m, err := webgen.Write(in, runtime.Version(), *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	fmt.Printf("gen: %d assets into %s (wasm %s)\n", len(m.Files), *out, m.Files["segue.wasm"])
}
