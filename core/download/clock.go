package download

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

var processStart = time.Now()

// processID identifies this process run (the fallback boot id).
var processID = func() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return hex.EncodeToString(b[:])
}()

// processTime is the monotonic time since this process started.
func processTime() time.Duration { return time.Since(processStart) }
