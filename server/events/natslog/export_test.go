package natslog

// SetTestHookSeeked sets the hook Read runs between its retention check
// and its first fetch; nil removes it.
func SetTestHookSeeked(f func()) { testHookSeeked = f }
