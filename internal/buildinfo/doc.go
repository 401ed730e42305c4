// Package buildinfo says which smppmux this is: its version, the commit it
// was built from and the Go version that built it.
//
// The version and commit come from the linker (make build sets them with
// -ldflags "-X ..."), else from the build information Go records in the
// binary (the module version of a go install, the VCS revision of a build
// in a repository). Nothing here starts a goroutine.
package buildinfo
