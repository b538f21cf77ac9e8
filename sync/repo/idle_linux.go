package repo

import (
	"runtime"
	"syscall"
)

// idleThread locks the calling goroutine to its thread and gives the
// thread the lowest CPU priority (nice 19), so the scheduler runs it only
// when nothing else wants the core: a background compaction's automerge
// calls then take no time from the edits on a busy relay. A thread's
// priority cannot be raised back without privilege, so the goroutine
// must end without unlocking: the thread then exits with it. A failure
// to lower the priority leaves the thread as it was.
func idleThread() {
	runtime.LockOSThread()
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), 19)
}
