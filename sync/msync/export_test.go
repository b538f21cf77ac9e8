package msync

// Settled exposes State.settled to the lockstep test against automerge.
var Settled = (*State).settled

// MessageSize exposes Message.size, which GenerateWithin bounds, to the
// tests that compare it with the encoding.
var MessageSize = (*Message).size
