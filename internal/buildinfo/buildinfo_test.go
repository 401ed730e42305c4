package buildinfo

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestGet(t *testing.T) {
	t.Parallel()
	vcs := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/smppmux/smppmux", Version: "(devel)"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123abcd"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	for _, tc := range []struct {
		name            string
		version, commit string
		bi              *debug.BuildInfo
		want            Info
	}{
		{"linker wins", "v1.2.3", "feedbeef", vcs, Info{"v1.2.3", "feedbeef", "go1.26.8"}},
		{"vcs of a repository build", "", "", vcs, Info{Unknown, "0123abcd+dirty", "go1.26.8"}},
		{"go install of a tag", "", "", &debug.BuildInfo{GoVersion: "go1.27.1",
			Main: debug.Module{Version: "v0.4.0"}}, Info{"v0.4.0", Unknown, "go1.27.1"}},
		{"nothing known", "", "", nil, Info{Unknown, Unknown, runtime.Version()}},
	} {
		if got := get(tc.version, tc.commit, tc.bi); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
	if s := (Info{"v1", "abc", "go1.26.8"}).String(); s != "smppmux v1 (commit abc, go1.26.8)" {
		t.Errorf("String: %q", s)
	}
}
