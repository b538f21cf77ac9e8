package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/segue-fm/segue/server/catalog"
)

// TestRelayCacheFlags: a --store-cache-mib outside 0…MaxStoreCacheMiB
// or a --sync-cmem-mib whose byte count would wrap is a usage error
// before anything is opened or created (a huge store cache used to end
// the process out of memory when Badger opened).
func TestRelayCacheFlags(t *testing.T) {
	for _, c := range []struct{ flag, value string }{
		{"store-cache-mib", "-5"},
		{"store-cache-mib", strconv.FormatInt(catalog.MaxStoreCacheMiB+1, 10)},
		{"store-cache-mib", "99999999"},
		{"store-cache-mib", strconv.FormatInt(1<<50, 10)},
		{"sync-cmem-mib", strconv.FormatUint(1<<44, 10)},
	} {
		t.Run(c.flag+"="+c.value, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			args := []string{"-init", "-data", data, "-listen", "127.0.0.1:0", "-insecure-fast-passwords", "-" + c.flag, c.value}
			var stdout, stderr bytes.Buffer
			err := runRelay(context.Background(), args, &stdout, &stderr)
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--"+c.flag) {
				t.Fatalf("err %v, want a usage error naming --%s", err, c.flag)
			}
			if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("data directory after the refusal: %v", err)
			}
		})
	}
}
