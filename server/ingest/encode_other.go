//go:build !linux

package ingest

import "os/exec"

// dieWithIngest does nothing: only Linux can have a child process
// signalled when its parent ends. An ingest ended by a signal it cannot
// catch leaves its encoders running to their end.
func dieWithIngest(*exec.Cmd) {}
