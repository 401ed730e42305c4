package admin

import "errors"

// ErrNotFound is what a Controller wraps (with %w) when a drain or undrain
// names a group, or a member of it, that the configuration does not have.
// The API answers 404 for it; any other error is a 409.
var ErrNotFound = errors.New("no such group or member")

// ErrNoDeadLetter is what a Controller wraps when a dead letter request
// names a client it does not know, or a dead letter that is not there.
// The API answers 404 for it.
var ErrNoDeadLetter = errors.New("no such client or dead letter")
