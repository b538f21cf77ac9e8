package download_test

import (
	"fmt"

	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
)

// Refs name what to download; the manager resolves albums through the
// relay and playlists through the app's resolver.
func ExampleRef() {
	r := download.Ref{Kind: download.KindAlbum, ID: "al0123", Tier: model.TierHigh}
	fmt.Println(r)
	// Output: album al0123 (high)
}

// Options are values: derive variants freely.
func ExampleDefaultOptions() {
	cellular := download.DefaultOptions().WithAllowMetered(true).WithWorkers(2)
	_ = cellular
	fmt.Println("ok")
	// Output: ok
}
