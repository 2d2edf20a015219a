package helm

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
)

func TestLoadArchive(t *testing.T) {
	ch, err := LoadArchive(packageChart(t, "app", appChart()), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if ch.Name() != "app" || ch.Metadata.Version != "1.2.3" {
		t.Errorf("chart = %s %s", ch.Name(), ch.Metadata.Version)
	}
	var deps []string
	for _, d := range ch.Dependencies() {
		deps = append(deps, d.Name())
	}
	if !slices.Equal(deps, []string{"lib", "sub"}) {
		t.Errorf("dependencies = %v, want lib and sub (in name order)", deps)
	}
	if len(ch.Raw) != len(appChart()) {
		t.Errorf("Raw has %d files, want every file of the archive (%d)", len(ch.Raw), len(appChart()))
	}
	// An archive does not apply .helmignore (as in Helm: `helm package` did).
	if !slices.ContainsFunc(ch.Files, func(f *common.File) bool { return f.Name == "README.orig" }) {
		t.Error("README.orig is missing from the files")
	}
}

// TestLoadArchiveHelmPackage loads what Helm's own packaging (`helm
// package`) writes.
func TestLoadArchiveHelmPackage(t *testing.T) {
	ch, err := LoadDir(repo("app", appChart()), "app", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	path, err := chartutil.Save(ch, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	packaged, err := LoadArchive(data, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{ReleaseName: "r", Namespace: "ns"}
	if got, want := mustRender(t, packaged, opts), mustRender(t, ch, opts); !reflect.DeepEqual(got, want) {
		t.Errorf("packaged: %v\nwant: %v", kinds(got), kinds(want))
	}
}

// TestLoadArchiveForms accepts what chart archives look like in the wild.
func TestLoadArchiveForms(t *testing.T) {
	chartYAML := "apiVersion: v2\nname: tiny\nversion: 0.1.0\n"
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n"
	tests := []struct {
		name    string
		entries []tarEntry
	}{
		{"directory entries and a pax_global_header (git archive)", []tarEntry{
			{hdr: tar.Header{Name: "pax_global_header", Typeflag: tar.TypeXGlobalHeader, PAXRecords: map[string]string{"comment": "abc"}}},
			{hdr: tar.Header{Name: "tiny/", Typeflag: tar.TypeDir, Mode: 0o755}},
			{hdr: tar.Header{Name: "tiny/templates/", Typeflag: tar.TypeDir, Mode: 0o755}},
			file("tiny/Chart.yaml", chartYAML),
			file("tiny/templates/cm.yaml", cm),
		}},
		{"a byte order mark", []tarEntry{file("tiny/Chart.yaml", "\xef\xbb\xbf"+chartYAML), file("tiny/templates/cm.yaml", cm)}},
		{"backslashes (written on Windows)", []tarEntry{file(`tiny\Chart.yaml`, chartYAML), file(`tiny\templates\cm.yaml`, cm)}},
		{"a long name (PAX)", []tarEntry{file("tiny/Chart.yaml", chartYAML), file("tiny/templates/"+strings.Repeat("x", 200)+".yaml", cm)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch, err := LoadArchive(tgz(t, tc.entries...), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if ch.Name() != "tiny" || len(ch.Templates) != 1 {
				t.Errorf("chart %s with %d templates", ch.Name(), len(ch.Templates))
			}
		})
	}
}

// TestLoadArchiveRefuses checks the refusals of the archive advisories
// (CVE-2023-40584 and its kind): each names the entry and wraps the right
// sentinel.
func TestLoadArchiveRefuses(t *testing.T) {
	chartYAML := file("app/Chart.yaml", "apiVersion: v2\nname: app\nversion: 0.1.0\n")
	special := func(name string, flag byte, link string) tarEntry {
		return tarEntry{hdr: tar.Header{Name: name, Typeflag: flag, Linkname: link, Mode: 0o644}}
	}
	many := []tarEntry{chartYAML}
	for i := range 10 {
		many = append(many, file(fmt.Sprintf("app/templates/cm%d.yaml", i), "{}"))
	}
	nested := tgz(t, file("sub/Chart.yaml", "apiVersion: v2\nname: sub\nversion: 0.1.0\n"), file("sub/../../evil", "x"))
	tests := []struct {
		name    string
		archive []byte
		lim     Limits
		limit   bool   // wraps ErrLimitExceeded too
		want    string // in the error
	}{
		{"a .. element", tgz(t, chartYAML, file("app/../evil", "x")), Limits{}, false, `entry "app/../evil" has a ".." element`},
		{"a leading ..", tgz(t, file("../evil", "x"), chartYAML), Limits{}, false, `entry "../evil" has a ".." element`},
		{"backslashed ..", tgz(t, chartYAML, file(`app\..\..\evil`, "x")), Limits{}, false, `has a ".." element`},
		{"an absolute path", tgz(t, chartYAML, file("/etc/cron.d/evil", "x")), Limits{}, false, `entry "/etc/cron.d/evil" has an absolute path`},
		{"a drive letter", tgz(t, chartYAML, file("app/C:/evil", "x")), Limits{}, false, `entry "app/C:/evil" has a drive letter`},
		{"a symlink", tgz(t, chartYAML, special("app/templates/passwd.yaml", tar.TypeSymlink, "/etc/passwd")), Limits{}, false,
			`entry "app/templates/passwd.yaml" is a symbolic link`},
		{"a hard link", tgz(t, chartYAML, special("app/templates/hard.yaml", tar.TypeLink, "app/Chart.yaml")), Limits{}, false,
			`entry "app/templates/hard.yaml" is a hard link`},
		{"a character device", tgz(t, chartYAML, special("app/tty", tar.TypeChar, "")), Limits{}, false, `entry "app/tty" is a character device`},
		{"a block device", tgz(t, chartYAML, special("app/sda", tar.TypeBlock, "")), Limits{}, false, `entry "app/sda" is a block device`},
		{"a FIFO", tgz(t, chartYAML, special("app/pipe", tar.TypeFifo, "")), Limits{}, false, `entry "app/pipe" is a FIFO`},
		{"a duplicate", tgz(t, chartYAML, file("app/values.yaml", "a: 1"), file("app/values.yaml", "a: 2")), Limits{}, false,
			`entry "app/values.yaml" appears twice`},
		{"a file outside the chart's directory", tgz(t, file("Chart.yaml", "x"), chartYAML), Limits{}, false,
			`entry "Chart.yaml" is not inside the chart's directory`},
		{"too many entries", tgz(t, many...), Limits{MaxEntries: 10}, true, `entry "app/templates/cm9.yaml": ` + ErrLimitExceeded.Error() + `: more than 10 entries`},
		{"an oversized entry", tgz(t, chartYAML, file("app/big.txt", strings.Repeat("x", 2048))), Limits{MaxEntryBytes: 1024}, true,
			`entry "app/big.txt": ` + ErrLimitExceeded.Error() + `: 2048 bytes, over 1024`},
		{"over the total", tgz(t, chartYAML, file("app/a.txt", strings.Repeat("x", 600)), file("app/b.txt", strings.Repeat("x", 600))),
			Limits{MaxExpandedBytes: 1024}, true, `entry "app/b.txt": ` + ErrLimitExceeded.Error() + `: the chart expands to more than 1024 bytes`},
		{"an oversized archive", tgz(t, chartYAML, file("app/a.txt", strings.Repeat("x", 4096))), Limits{MaxArchiveBytes: 100}, true,
			`bytes compressed, over 100 (Limits.MaxArchiveBytes)`},
		{"not gzip", []byte("PK\x03\x04 this is a zip"), Limits{}, false, "not a gzip archive"},
		{"gzip but not tar", gzipped(t, []byte(strings.Repeat("not a tar archive ", 100))), Limits{}, false, "damaged gzip or tar data"},
		{"truncated", truncated(tgz(t, chartYAML, file("app/a.txt", fmt.Sprint(rangeOf(3000))))), Limits{}, false, "damaged gzip or tar data"},
		{"empty", tgz(t), Limits{}, false, "no files in the archive"},
		{"a subchart archive's entry", tgz(t, chartYAML, tarEntry{hdr: tar.Header{Name: "app/charts/sub-0.1.0.tgz", Typeflag: tar.TypeReg, Mode: 0o644,
			Size: int64(len(nested))}, data: nested}), Limits{}, false, `subchart charts/sub-0.1.0.tgz of chart app: ` + ErrUnsafeArchive.Error() + `: entry "sub/../../evil" has a ".." element`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadArchive(tc.archive, tc.lim)
			if err == nil {
				t.Fatal("loaded")
			}
			if !errors.Is(err, ErrUnsafeArchive) {
				t.Errorf("err = %v, want it to wrap ErrUnsafeArchive", err)
			}
			if errors.Is(err, ErrLimitExceeded) != tc.limit {
				t.Errorf("err = %v; wraps ErrLimitExceeded: %v, want %v", err, !tc.limit, tc.limit)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestLoadArchiveSubchartsShareTheBudget checks that a subchart archive's
// entries count against the chart's limits.
func TestLoadArchiveSubchartsShareTheBudget(t *testing.T) {
	var subEntries []tarEntry
	subEntries = append(subEntries, file("sub/Chart.yaml", "apiVersion: v2\nname: sub\nversion: 0.1.0\n"))
	for i := range 5 {
		subEntries = append(subEntries, file(fmt.Sprintf("sub/templates/cm%d.yaml", i), "{}"))
	}
	sub := tgz(t, subEntries...)
	parent := []tarEntry{file("app/Chart.yaml", "apiVersion: v2\nname: app\nversion: 0.1.0\n"),
		{hdr: tar.Header{Name: "app/charts/sub-0.1.0.tgz", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(sub))}, data: sub}}
	for i := range 3 {
		parent = append(parent, file(fmt.Sprintf("app/templates/cm%d.yaml", i), "{}"))
	}
	archive := tgz(t, parent...)
	if _, err := LoadArchive(archive, Limits{MaxEntries: 11}); err != nil {
		t.Errorf("11 entries in all, MaxEntries 11: %v", err)
	}
	_, err := LoadArchive(archive, Limits{MaxEntries: 10})
	if !errors.Is(err, ErrLimitExceeded) || !strings.Contains(err.Error(), "subchart charts/sub-0.1.0.tgz") {
		t.Errorf("11 entries in all, MaxEntries 10: err = %v, want the subchart over the limit", err)
	}
}

// TestLoadArchiveGzipBombs checks that archives expanding far past the
// limits are refused at the limit: the error comes back without the
// archive being decompressed (no gigabytes allocated).
func TestLoadArchiveGzipBombs(t *testing.T) {
	tests := []struct {
		name    string
		archive func(t *testing.T) []byte
		want    string
	}{
		{
			// A tar header declaring 10 GiB, then the zeros: ~10 MB of gzip.
			name: "one entry of 10 GiB",
			archive: func(t *testing.T) []byte {
				return zeroBomb(t, tarHeader(t, "app/big", 10<<30), 10<<30)
			},
			want: `entry "app/big": ` + ErrLimitExceeded.Error() + `: 10737418240 bytes, over 8388608 (Limits.MaxEntryBytes)`,
		},
		{
			// Entries whose headers tell the truth, each within
			// MaxEntryBytes, adding up past MaxExpandedBytes.
			name: "many entries of 8 MiB",
			archive: func(t *testing.T) []byte {
				zeros := gzipped(t, make([]byte, 8<<20))
				var out bytes.Buffer
				for i := range 100 {
					out.Write(gzipped(t, tarHeader(t, fmt.Sprintf("app/f%03d", i), 8<<20)))
					out.Write(zeros)
				}
				return out.Bytes()
			},
			want: `entry "app/f008": ` + ErrLimitExceeded.Error() + `: the chart expands to more than 67108864 bytes`,
		},
		{
			// Extended headers chained without a file: no entry ever
			// reaches the limits, the stream does.
			name: "a chain of PAX headers",
			archive: func(t *testing.T) []byte {
				var unit bytes.Buffer
				for range 1024 {
					unit.Write(paxHeaderBlock(t))
				}
				member := gzipped(t, unit.Bytes())
				return bytes.Repeat(member, 1024) // 1 GiB of headers, in gzip members
			},
			want: "the archive decompresses to more than its limits allow",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			archive := tc.archive(t)
			if len(archive) > DefaultMaxArchiveBytes {
				t.Fatalf("the archive is %d bytes, over MaxArchiveBytes", len(archive))
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := LoadArchive(archive, Limits{})
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrLimitExceeded) || !errors.Is(err, ErrUnsafeArchive) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want a limit error containing %q", err, tc.want)
			}
			// What a load allocates in all stays in the order of the limits
			// (the files, the tar reader's garbage for the headers up to the
			// stream's allowance, more under -race); never the gigabytes
			// the archive expands to.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 512<<20 {
				t.Errorf("loading allocated %d MiB", alloc>>20)
			}
		})
	}
}

// zeroBomb is prefix then size zero bytes, gzip-compressed: one
// compressed MiB of zeros repeated as gzip members (which a gzip reader
// reads as one stream), so that building it stays cheap.
func zeroBomb(t *testing.T, prefix []byte, size int64) []byte {
	t.Helper()
	const chunk = 1 << 20
	var out bytes.Buffer
	out.Write(gzipped(t, prefix))
	zeros := gzipped(t, make([]byte, chunk))
	for written := int64(0); written < size; written += chunk {
		out.Write(zeros)
	}
	return out.Bytes()
}

// tarHeader is the header block of a regular file of that size.
func tarHeader(t *testing.T, name string, size int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: size}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// paxHeaderBlock is a tar extended header (type 'x') with one record,
// which affects the next entry, and its data block.
func paxHeaderBlock(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	// Write a header through the writer, then keep only its extended
	// header blocks: archive/tar writes them for PAX records.
	if err := tw.WriteHeader(&tar.Header{Name: "x", Typeflag: tar.TypeReg, PAXRecords: map[string]string{"comment": strings.Repeat("x", 18)}, Format: tar.FormatPAX}); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if b[156] != tar.TypeXHeader {
		t.Fatalf("first block has type %q, want an extended header", b[156])
	}
	return slices.Clone(b[:1024]) // the 'x' header and its data block
}

func truncated(b []byte) []byte { return b[:len(b)/2] }

func rangeOf(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func gzipped(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzLoadArchive feeds LoadArchive arbitrary bytes: it must never panic,
// and what it accepts stays within the limits.
func FuzzLoadArchive(f *testing.F) {
	f.Add(packageChart(f, "app", appChart()))
	f.Add(packageChart(f, "tiny", map[string]string{"Chart.yaml": "apiVersion: v2\nname: tiny\nversion: 0.1.0\n", "templates/a.yaml": "{}"}))
	f.Add(tgz(f, file("app/../evil", "x")))
	f.Add(tgz(f, tarEntry{hdr: tar.Header{Name: "app/link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}}))
	sub := packageChart(f, "sub", map[string]string{"Chart.yaml": "apiVersion: v2\nname: sub\nversion: 0.1.0\n"})
	f.Add(tgz(f, file("app/Chart.yaml", "apiVersion: v2\nname: app\nversion: 0.1.0\n"), file("app/charts/sub.tgz", string(sub))))
	f.Add([]byte{})
	f.Add([]byte("\x1f\x8b\x08"))
	lim := Limits{MaxArchiveBytes: 1 << 20, MaxExpandedBytes: 1 << 20, MaxEntries: 64, MaxEntryBytes: 256 << 10}
	f.Fuzz(func(t *testing.T, data []byte) {
		b := newBudget(lim)
		files, err := expand(data, b)
		if err != nil {
			if !errors.Is(err, ErrUnsafeArchive) {
				t.Errorf("a refusal that does not wrap ErrUnsafeArchive: %v", err)
			}
		} else {
			var total int64
			for _, f := range files {
				total += int64(len(f.Data))
				if int64(len(f.Data)) > lim.MaxEntryBytes {
					t.Errorf("%s: %d bytes", f.Name, len(f.Data))
				}
				if !fs.ValidPath(f.Name) || slices.Contains(strings.Split(f.Name, "/"), "..") {
					t.Errorf("accepted the name %q", f.Name)
				}
			}
			if len(files) > lim.MaxEntries || total > lim.MaxExpandedBytes {
				t.Errorf("accepted %d files of %d bytes", len(files), total)
			}
		}
		ch, err := LoadArchive(data, lim)
		if err == nil {
			var total int64
			for _, f := range ch.Raw {
				total += int64(len(f.Data))
			}
			if total > lim.MaxExpandedBytes {
				t.Errorf("loaded a chart of %d bytes", total)
			}
		}
	})
}
