package engine

import "time"

// SetUploadTimer makes the background uploader's retry waits use fn's
// channel instead of a real timer: a fake clock for its waits.
func SetUploadTimer(e *Engine, fn func(d time.Duration) <-chan time.Time) { e.upTimer.Store(&fn) }
