package admin

import (
	"go.uber.org/zap"
)

// logRefused writes a request refused for a bad or missing token at warn,
// with its source address, at most once per 10 s: the line after a quiet
// spell at once, then one per interval counting the refusals since the
// previous line. Its state is a count and a time, so a flood from many
// addresses costs no memory.
func (h *handler) logRefused(remote, path string) {
	if ok, n := h.refusedLog.Allow(refusedLogEvery); ok {
		h.log.Warn("admin request refused: bad or missing bearer token",
			zap.String("remote", remote), zap.String("path", path), zap.Int("more_refused_since_last_line", n))
	}
}
