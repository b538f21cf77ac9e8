// Package recs is the relay's recommendation core (issue 14): implicit
// feedback ALS (Hu, Koren & Volinsky 2008) solved with conjugate gradient,
// and the baselines it is measured against — popularity, item-kNN (cosine)
// and EASE (Steck 2019). Everything here is pure: it takes an in-memory
// play matrix and returns factors or scores, with no I/O, clock or global
// state. Linear algebra goes through gonum (blas64, mat); nothing here is a
// hand-written BLAS kernel.
//
// All recommenders implement [Scorer]: they score every item for one user
// of the matrix they were fitted on. Results are deterministic for a given
// matrix and options (ALS draws its initial factors from Options.Seed and
// solves each user or item independently, so the worker count changes only
// the speed).
package recs
