package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// apiError is an answer of the admin API other than 2xx.
type apiError struct {
	method, path string
	code         int
	msg          string
}

func (e *apiError) Error() string {
	s := fmt.Sprintf("ctl: %s %s: %d %s", e.method, e.path, e.code, http.StatusText(e.code))
	if e.msg != "" {
		s += ": " + e.msg
	}
	if e.code == http.StatusUnauthorized {
		s += " (the token is missing or wrong: -token-file, $SMPPMUX_TOKEN or admin.token of -config)"
	}
	return s
}

// call sends a request to the admin API and returns the answer's body,
// or an error for any answer but 2xx.
func (o *ctlOptions) call(ctx context.Context, method, path string, body io.Reader) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, o.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("ctl: %w", err)
	}
	if o.token != "" {
		req.Header.Set("Authorization", "Bearer "+o.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ctl: %s %s: %w", method, path, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("ctl: %s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, &apiError{method: method, path: path, code: resp.StatusCode, msg: strings.TrimSpace(string(b))}
	}
	return b, nil
}

// get calls the API and, unless -json prints the answer as it is,
// decodes it into v and reports true.
func (o *ctlOptions) get(ctx context.Context, method, path string, body io.Reader, stdout io.Writer, v any) (bool, error) {
	b, err := o.call(ctx, method, path, body)
	if err != nil {
		return false, err
	}
	if o.json {
		_, err := stdout.Write(b)
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("ctl: %s %s: the answer is not what ctl reads: %w", method, path, err)
	}
	return true, nil
}
