// Package cmem reports and returns the C heap of the process: the memory
// automerge (through cgo) allocates with malloc, which the Go runtime
// neither sees nor accounts for.
//
// On glibc, Stats reads mallinfo2 — bytes in use by live allocations
// and bytes freed but still held by the allocator — and Trim calls
// malloc_trim(0), which gives the freed pages of every arena back to the
// operating system. glibc returns freed memory to the system only from
// the top of an arena, so a process that allocates and frees many small
// C objects (automerge documents, sync states and messages, each freed
// when its Go finalizer runs) keeps its peak resident even when little is
// in use; Trim bounds its resident size by what is in use.
//
// Elsewhere (other C libraries, no cgo) Supported reports false, Stats
// returns zeros and Trim does nothing.
package cmem
