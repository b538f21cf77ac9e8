// Package filekind names the kind of a file that is not a regular file,
// for the errors that refuse it (a FIFO, a socket or a device opened as
// an input blocks or streams for ever, so inputs are checked from their
// stat before they are opened).
package filekind

import "io/fs"

// Of names the kind of a file of mode m with an article ("a FIFO",
// "a directory"); a kind it does not know is named by its mode bits.
// For a regular file it says "a regular file".
func Of(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	default:
		return "a file of mode " + m.Type().String()
	}
}
