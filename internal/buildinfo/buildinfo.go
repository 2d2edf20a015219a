// Package buildinfo says which Ferry a binary is: the version and commit it
// was built from, and the Go that built it.
//
// `make build` stamps the version (`git describe --tags --always --dirty`)
// and the commit through the linker (-X); `go install module@version` has
// the module's version in the binary's build information, and a `go build`
// with VCS stamping on has the commit there. Whatever is known is used, in
// that order.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Set by the linker (make build: -ldflags -X). Package variables because
// the linker can set nothing else; nothing assigns them at run time.
var (
	version string
	commit  string
)

// Info is what a binary knows of its build.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	Modified  bool   `json:"modified,omitempty"` // built from a work tree with uncommitted changes
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Read returns the build information of the running binary.
func Read() Info {
	info := Info{Version: version, Commit: commit, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if info.Commit == "" {
					info.Commit = s.Value
				}
			case "vcs.modified":
				info.Modified = info.Modified || s.Value == "true"
			}
		}
	}
	if info.Version == "" {
		info.Version = "(devel)"
	}
	return info
}
