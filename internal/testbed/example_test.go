package testbed_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/segue-fm/segue/internal/testbed"
)

// Example starts a relay serving the demo album without a testing.T, as
// runnable examples of other packages do, and closes it.
func Example() {
	r, err := testbed.Start(context.Background(), testbed.DefaultOptions())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	fmt.Println(strings.HasPrefix(r.URL, "http://127.0.0.1:"), len(r.Tracks), "tracks")
	// Output: true 4 tracks
}
