// Package access is the relay's (and the edge's) compact record of what
// audio a device was given: the chunks and blobs served to it and the
// offline licenses issued to it. Reconciliation (segue reconcile) checks
// every counted stream against these records: an online stream must be
// backed by chunks covering at least 30 s of that track served to that
// device, an offline stream by an offline license of that device.
//
// A Record has one versioned binary encoding (Record.AppendBinary,
// Decode; the layout is in docs/ARCHITECTURE.md "Access records") shared
// by both backends:
//
//   - NewStoreWriter / NewStoreReader keep records in the relay's store
//     (Badger) under acc/<time><seq>, one transaction per flushed batch;
//   - NewFileWriter / NewFileReader append CRC-framed records to one file
//     per UTC day (access-YYYY-MM-DD.log) in a directory, fsynced per
//     flushed batch (segue edge).
//
// Writers are built for the serving hot path: Write only appends to an
// in-memory queue (never blocks on disk); a background flusher writes
// batches every FlushInterval or MaxBatch records. The queue is bounded
// (MaxPending): past it Write returns ErrFull and the record is counted as
// dropped, so a slow or failed disk costs records (reconciliation then
// reports the stream as unbacked) but never stalls audio or grows memory.
// Records still queued when the process dies are lost the same way; Flush
// and Close write everything queued.
//
// Retention deletes whole UTC days: a Pruner (NewStorePruner,
// NewFilePruner) removes the days that ended before a time, Retain runs
// one hourly; a Scan that reaches before the first kept day then fails
// with ErrPruned.
package access
