package admin

import "errors"

// ErrNotFound is what a Controller wraps (with %w) when a drain or undrain
// names a group, or a member of it, that the configuration does not have.
// The API answers 404 for it; any other error is a 409.
var ErrNotFound = errors.New("no such group or member")
