package helm

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"helm.sh/helm/v4/pkg/chart/loader/archive"
	chart "helm.sh/helm/v4/pkg/chart/v2"
)

// LoadArchive loads a chart packaged as a .tgz (what `helm package` writes
// and chart repositories serve) from memory. The archive is expanded in
// memory by a reader of our own, within lim, and only the files it accepts
// reach Helm's loader; subcharts under charts/ (directories or .tgz) are
// loaded the same way, against the same budget. Every refusal names the
// entry and wraps ErrUnsafeArchive (and ErrLimitExceeded for a limit).
func LoadArchive(data []byte, lim Limits) (*chart.Chart, error) {
	ch, err := loadArchive(data, newBudget(lim))
	if err != nil {
		return nil, err
	}
	if err := checkTopChart(ch); err != nil {
		return nil, err
	}
	return ch, nil
}

func loadArchive(data []byte, b *budget) (*chart.Chart, error) {
	files, err := expand(data, b)
	if err != nil {
		return nil, err
	}
	return loadFiles(files, b)
}

// expand reads a gzip-compressed tar archive into memory, refusing what a
// chart never needs and stopping as soon as a limit is reached: sizes are
// checked from the headers before any file is read, and every decompressed
// byte (headers and padding included) counts, so a gzip bomb is never
// decompressed past the limits. Names are returned without their first
// element (the chart's directory), as Helm's loader expects them.
func expand(data []byte, b *budget) ([]*archive.BufferedFile, error) {
	if int64(len(data)) > b.lim.MaxArchiveBytes {
		return nil, limitError(fmt.Errorf("%w: %d bytes compressed, over %d (Limits.MaxArchiveBytes)",
			ErrLimitExceeded, len(data), b.lim.MaxArchiveBytes))
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: not a gzip archive: %v", ErrUnsafeArchive, err)
	}
	stream := &cappedReader{r: zr, left: streamAllowance(b)}
	tr := tar.NewReader(stream)
	seen := map[string]bool{}
	var files []*archive.BufferedFile
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, stream.explain(err, "read the next entry")
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue // a pax_global_header, as `git archive` writes; Helm skips it too
		}
		name := hdr.Name
		if err := b.entry(); err != nil {
			return nil, limitError(fmt.Errorf("entry %q: %w", name, err))
		}
		if hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeDir {
			return nil, fmt.Errorf("%w: entry %q is a %s; a chart holds only files and directories",
				ErrUnsafeArchive, name, typeName(hdr.Typeflag))
		}
		rel, err := entryPath(name)
		if err != nil {
			return nil, fmt.Errorf("%w: entry %q %v", ErrUnsafeArchive, name, err)
		}
		if hdr.Typeflag == tar.TypeDir {
			continue
		}
		if rel == "" {
			return nil, fmt.Errorf("%w: entry %q is not inside the chart's directory", ErrUnsafeArchive, name)
		}
		if seen[rel] {
			return nil, fmt.Errorf("%w: entry %q appears twice", ErrUnsafeArchive, name)
		}
		seen[rel] = true
		if hdr.Size < 0 {
			return nil, fmt.Errorf("%w: entry %q has a negative size", ErrUnsafeArchive, name)
		}
		if err := b.reserve(hdr.Size); err != nil {
			return nil, limitError(fmt.Errorf("entry %q: %w", name, err))
		}
		content := make([]byte, hdr.Size)
		if _, err := io.ReadFull(tr, content); err != nil {
			return nil, stream.explain(err, fmt.Sprintf("read entry %q", name))
		}
		files = append(files, &archive.BufferedFile{Name: rel, ModTime: hdr.ModTime, Data: bytes.TrimPrefix(content, utf8BOM)})
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: no files in the archive", ErrUnsafeArchive)
	}
	return files, nil
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// entryPath checks a tar entry's name and returns it without its first
// element (the chart's directory), "" for that directory itself. Names
// written on Windows (with backslashes) are read as Helm reads them. The
// error completes a sentence starting with the entry's name.
func entryPath(name string) (string, error) {
	n := strings.ReplaceAll(name, `\`, "/")
	if strings.HasPrefix(n, "/") {
		return "", errors.New("has an absolute path")
	}
	n = strings.TrimSuffix(n, "/")
	for _, elem := range strings.Split(n, "/") {
		switch {
		case elem == "..":
			return "", errors.New(`has a ".." element`)
		case len(elem) == 2 && elem[1] == ':' && ('a' <= elem[0]|0x20 && elem[0]|0x20 <= 'z'):
			return "", errors.New("has a drive letter (an absolute Windows path)")
		}
	}
	if !fs.ValidPath(n) || n == "." {
		return "", errors.New(`is not a clean relative path (empty or "." elements)`)
	}
	_, rest, _ := strings.Cut(n, "/")
	return rest, nil
}

func typeName(flag byte) string {
	switch flag {
	case tar.TypeSymlink:
		return "symbolic link"
	case tar.TypeLink:
		return "hard link"
	case tar.TypeChar:
		return "character device"
	case tar.TypeBlock:
		return "block device"
	case tar.TypeFifo:
		return "FIFO"
	case tar.TypeCont:
		return "contiguous file"
	case tar.TypeGNUSparse:
		return "sparse file"
	}
	return fmt.Sprintf("entry of type %q", flag)
}

// limitError marks a limit an archive went over as a refusal of the
// archive too.
func limitError(err error) error {
	return fmt.Errorf("%w: %w", ErrUnsafeArchive, err)
}

// streamAllowance is how many decompressed bytes an archive may take: what
// its files may still expand to, plus room for the tar headers, long-name
// records and padding of every entry it may still hold.
func streamAllowance(b *budget) int64 {
	const perEntry = 4 << 10 // header, a PAX record, padding
	return b.lim.MaxExpandedBytes - b.expanded + int64(b.lim.MaxEntries-b.entries+1)*perEntry + 1<<20
}

// cappedReader reads at most left bytes from r, then fails: the
// decompressor is asked for no more than that.
type cappedReader struct {
	r        io.Reader
	left     int64
	exceeded bool
}

var errStreamCap = errors.New("decompressed stream over its allowance")

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		c.exceeded = true
		return 0, errStreamCap
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// explain turns an error reading the archive into a refusal: a limit when
// the stream went over its allowance, a damaged archive otherwise.
func (c *cappedReader) explain(err error, doing string) error {
	if c.exceeded {
		return limitError(fmt.Errorf("%w: %s: the archive decompresses to more than its limits allow (Limits.MaxExpandedBytes, Limits.MaxEntries)",
			ErrLimitExceeded, doing))
	}
	return fmt.Errorf("%w: %s: damaged gzip or tar data: %v", ErrUnsafeArchive, doing, err)
}
