package ingest

import (
	"os/exec"
	"syscall"
)

// dieWithIngest makes the encoder cmd runs get SIGKILL when the thread
// that started it ends, which on Go's runtime is when the ingest process
// ends, even by SIGKILL (Go does not end its threads otherwise). Before,
// an encoder outlived a killed ingest, reparented to init, and ran on
// into a temporary directory the next ingest removes.
func dieWithIngest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
