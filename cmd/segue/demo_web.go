package main

import "context"

// webPlayer prints the address of the web player the demo relay serves
// (server/web) and, with -serve, keeps the relay up until ctx ends
// (Ctrl-C).
func (d *demo) webPlayer(ctx context.Context) error {
	d.step("web player: open %s/ in a browser, sign up, search \"Harbour Lights\"", d.url)
	if !d.serve {
		d.step("(run `segue demo -serve` to keep it serving)")
		return nil
	}
	d.step("serving until Ctrl-C")
	<-ctx.Done()
	return nil
}
