// Package fraud scores accounts for streaming fraud from the relay's
// play-event log and records which accounts' streams royalties must hold
// out of the pool.
//
// The core is pure: Extractor turns streams (device, user, api.PlayRecord
// of at least MinPlayedMs; shorter plays are free to add and ignored)
// into per-account and per-device Features — activity around the clock,
// skip rate, catalogue narrowness, plays cut just over the 30 s stream
// threshold, loops, muted playback, accounts per device — plus the inputs
// the relay does not have today (AccountInfo: IP, friends, library
// edits), unknown when not supplied. Model is an additive logistic
// scorecard over binned features; Score returns a value in [0, 1], the
// verdict against the model's threshold, and the features that pushed
// it up (Score.Explain). Accounts with too few streams to score are
// checked together (Extractor.Groups): many light accounts putting their
// streams on the same few tracks, which hardly anyone else streams, are a
// group, and every account of it is flagged with the group's evidence
// (Group.Explain). DefaultModel is the model shipped in model.json,
// fitted with Fit on the training seeds of the simulated population
// (internal/playsim; evaluation in fraudeval and bench/fraud).
//
// Scan is the I/O edge: it reads the event log, scores a month's
// accounts, checks its groups and replaces that month's flags under
// fraud/<month>/: a new generation, written in several transactions and
// made the month's flags at once by the scan record written last
// (idempotent; the time comes from the injected clock). Flags
// reads them back; `segue royalties` holds the flagged accounts' counted
// streams out of the pool's divisor and lists them separately, never
// deleting them. Keys are in docs/ARCHITECTURE.md §5.
package fraud
