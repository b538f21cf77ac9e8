package msync

// Settled exposes State.settled to the lockstep test against automerge.
var Settled = (*State).settled
