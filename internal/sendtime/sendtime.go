// Package sendtime is the slow-client rule of the relay, the edge and
// the relay's long-lived connections: writing n bytes to a client may
// take a grace period plus n at a minimum rate, after which the write
// fails (a write deadline) and the client is cut off.
//
//	l := sendtime.Default // 30 s + n at 32 KiB/s
//	conn.SetWriteDeadline(l.Deadline(time.Now(), len(b)))
package sendtime

import "time"

// Defaults of Limit: writing n bytes may take 30 s + n / 32 KiB/s (the
// top stream tier is 40 KB/s, a chunk at most a few hundred KB, so a
// real player is far inside it).
const (
	DefaultGrace = 30 * time.Second
	DefaultRate  = 32 << 10
)

// Default is the Limit of DefaultGrace and DefaultRate.
var Default = Limit{Grace: DefaultGrace, Rate: DefaultRate}

// Limit bounds how long writing n bytes may take: Grace plus n at Rate
// bytes a second. Rate must be > 0.
type Limit struct {
	Grace time.Duration
	Rate  int64
}

// Timeout returns how long writing n bytes may take.
func (l Limit) Timeout(n int) time.Duration {
	return l.Grace + time.Duration(float64(n)/float64(l.Rate)*float64(time.Second))
}

// Deadline returns when writing n bytes that starts at now must be done.
func (l Limit) Deadline(now time.Time, n int) time.Time { return now.Add(l.Timeout(n)) }
