package msync

// Settled exposes State.settled to the lockstep test against automerge.
var Settled = (*State).settled

// MessageSize exposes Message.size, which GenerateWithin bounds, to the
// tests that compare it with the encoding.
var MessageSize = (*Message).size

// SetQueueLimits replaces g's bounds on changes queued for missing
// dependencies (MaxQueuedChanges, MaxQueuedBytes) in tests.
func SetQueueLimits(g *Graph, changes, bytes int) { g.queueMax, g.queueMaxBytes = changes, bytes }
