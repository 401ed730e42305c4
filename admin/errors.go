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

// ErrUnknown is what an Operator wraps when a request names an upstream,
// a client, an outbox item or a message it does not know. The API answers
// 404 for it.
var ErrUnknown = errors.New("unknown")

// ErrBadInput is what an Operator wraps for a request it cannot read,
// such as a log level that does not exist. The API answers 400.
var ErrBadInput = errors.New("bad input")

// ErrRefused is what an Operator wraps for a request it understood and
// will not carry out now, such as one made while smppmux stops. The API
// answers 409.
var ErrRefused = errors.New("refused")
