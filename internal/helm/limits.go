package helm

import (
	"errors"
	"fmt"
)

// Limits bound what one chart archive or chart directory may hold, subcharts
// included. Zero (or negative) fields take the defaults.
type Limits struct {
	// MaxArchiveBytes bounds the compressed size of one archive (the chart's,
	// or a subchart's under charts/). Default 16 MiB.
	MaxArchiveBytes int64
	// MaxExpandedBytes bounds the total size of all files once decompressed,
	// across the chart and all its subcharts. Default 64 MiB.
	MaxExpandedBytes int64
	// MaxEntries bounds the number of tar entries (directories included) or,
	// for a directory, of files and directories walked. Default 5,000.
	MaxEntries int
	// MaxEntryBytes bounds the size of one file. Default 8 MiB.
	MaxEntryBytes int64
}

// The default Limits. Public charts are far below them: the largest in
// Artifact Hub expand to a few MiB, mostly CRDs.
const (
	DefaultMaxArchiveBytes  = 16 << 20
	DefaultMaxExpandedBytes = 64 << 20
	DefaultMaxEntries       = 5000
	DefaultMaxEntryBytes    = 8 << 20
)

func (l Limits) withDefaults() Limits {
	if l.MaxArchiveBytes <= 0 {
		l.MaxArchiveBytes = DefaultMaxArchiveBytes
	}
	if l.MaxExpandedBytes <= 0 {
		l.MaxExpandedBytes = DefaultMaxExpandedBytes
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultMaxEntries
	}
	if l.MaxEntryBytes <= 0 {
		l.MaxEntryBytes = DefaultMaxEntryBytes
	}
	return l
}

var (
	// ErrUnsafeArchive is wrapped by every refusal of a chart archive's
	// content: an entry that would leave the chart (".." elements, an
	// absolute path), a link, device, FIFO or other non-regular entry, a
	// duplicate entry, data that is not gzip or not tar, and every limit an
	// archive goes over (those wrap ErrLimitExceeded too).
	ErrUnsafeArchive = errors.New("unsafe chart archive")
	// ErrLimitExceeded is wrapped when a chart goes over one of its Limits.
	ErrLimitExceeded = errors.New("chart limit exceeded")
)

// budget is what one load (a chart and all its subcharts) has consumed of
// its Limits. It is used by one goroutine.
type budget struct {
	lim      Limits
	entries  int
	expanded int64
}

func newBudget(lim Limits) *budget {
	return &budget{lim: lim.withDefaults()}
}

// entry accounts for one more entry (a file or a directory).
func (b *budget) entry() error {
	b.entries++
	if b.entries > b.lim.MaxEntries {
		return fmt.Errorf("%w: more than %d entries (Limits.MaxEntries)", ErrLimitExceeded, b.lim.MaxEntries)
	}
	return nil
}

// reserve checks, before anything is read, that a file of size bytes fits
// both the per-file and the total limit, and accounts for it.
func (b *budget) reserve(size int64) error {
	if size > b.lim.MaxEntryBytes {
		return fmt.Errorf("%w: %d bytes, over %d (Limits.MaxEntryBytes)", ErrLimitExceeded, size, b.lim.MaxEntryBytes)
	}
	if size > b.lim.MaxExpandedBytes-b.expanded {
		return fmt.Errorf("%w: the chart expands to more than %d bytes (Limits.MaxExpandedBytes)", ErrLimitExceeded, b.lim.MaxExpandedBytes)
	}
	b.expanded += size
	return nil
}
