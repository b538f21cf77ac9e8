package relaysync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// TestInternalFailure: a session that ended on the relay's own I/O (a
// file or system-call error, however wrapped) is an internal failure,
// closed with ErrInternal and never with the cause, which names the
// relay's files; what the remote sent or did to its connection is not.
func TestInternalFailure(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"read of a value file", fmt.Errorf("repo: load doc: %w", &fs.PathError{Op: "read", Path: "/srv/relay/db/000012.vlog", Err: syscall.EIO}), true},
		{"bare errno", fmt.Errorf("commit: %w", syscall.EIO), true},
		{"rename", &os.LinkError{Op: "rename", Old: "/srv/a", New: "/srv/b", Err: syscall.EXDEV}, true},
		{"syscall", fmt.Errorf("sync: %w", os.NewSyscallError("fsync", syscall.EIO)), true},
		{"connection reset", fmt.Errorf("read frame: %w", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), false},
		{"malformed message", fmt.Errorf("%w: %w", peer.ErrProtocol, wire.ErrMalformed), false},
		{"limit", fmt.Errorf("too many documents: %w", peer.ErrLimit), false},
		{"eof", fmt.Errorf("read: %w", io.EOF), false},
		{"canceled", context.Canceled, false},
		{"none", nil, false},
		{"other", errors.New("peer: something the remote did"), false},
	} {
		if got := internalFailure(c.err); got != c.want {
			t.Errorf("%s: internalFailure(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}
