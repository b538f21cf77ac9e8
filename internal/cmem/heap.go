package cmem

// Heap is a snapshot of the C heap's counters, in bytes.
type Heap struct {
	// InUse is held by live allocations (including the large ones
	// served by their own mmap).
	InUse uint64
	// Free is freed memory the allocator still holds in its arenas: part
	// of the resident size until Trim (or a later allocation) reuses or
	// returns it.
	Free uint64
	// Mapped is the part of InUse in allocations served by their own
	// mmap (returned to the system as soon as they are freed).
	Mapped uint64
}
