package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set by the linker: go build -ldflags "-X
// github.com/smppmux/smppmux/internal/buildinfo.version=v1.2.3 -X
// github.com/smppmux/smppmux/internal/buildinfo.commit=abc123".
var (
	version string
	commit  string
)

// Unknown stands for a version or commit neither the linker nor Go's
// build information gave.
const Unknown = "unknown"

// Info identifies a build.
type Info struct {
	Version   string // v1.2.3, a git describe, or "unknown"
	Commit    string // the commit's hash, "+dirty" appended when the tree had changes; or "unknown"
	GoVersion string // go1.26.8
}

// String renders i on one line, as smppmux version prints it.
func (i Info) String() string {
	return fmt.Sprintf("smppmux %s (commit %s, %s)", i.Version, i.Commit, i.GoVersion)
}

// Get returns this binary's build.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return get(version, commit, bi)
}

// get merges what the linker set with Go's build information bi (nil
// when the binary has none): the linker's values win.
func get(version, commit string, bi *debug.BuildInfo) Info {
	i := Info{Version: version, Commit: commit, GoVersion: runtime.Version()}
	if bi != nil {
		if bi.GoVersion != "" {
			i.GoVersion = bi.GoVersion
		}
		if i.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			i.Version = bi.Main.Version
		}
		var rev string
		var dirty bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if i.Commit == "" && rev != "" {
			i.Commit = rev
			if dirty {
				i.Commit += "+dirty"
			}
		}
	}
	if i.Version == "" {
		i.Version = Unknown
	}
	if i.Commit == "" {
		i.Commit = Unknown
	}
	return i
}
