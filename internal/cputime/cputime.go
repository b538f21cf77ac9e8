// Package cputime reads the CPU time (user + system) a process or one OS
// thread has used, for benchmarks that report CPU beside wall time: on a
// loaded machine CPU time measures the work, wall time also the wait for
// a core. Both report false where the platform cannot say.
package cputime
