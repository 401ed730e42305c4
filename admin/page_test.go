package admin

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// TestPageRefresh: the status page refreshes every pageRefresh seconds, or
// every ?refresh=N seconds for N from 1 to maxPageRefresh, with its
// script (data-refresh) and without (meta refresh).
func TestPageRefresh(t *testing.T) {
	t.Parallel()
	srv := serve(t, newFake(), Config{})
	for _, tt := range []struct {
		query string
		want  int
	}{
		{"", pageRefresh},
		{"?refresh=1", 1},
		{"?refresh=60", 60},
		{fmt.Sprintf("?refresh=%d", maxPageRefresh), maxPageRefresh},
		{"?refresh=0", pageRefresh},
		{"?refresh=-3", pageRefresh},
		{fmt.Sprintf("?refresh=%d", maxPageRefresh+1), pageRefresh},
		{"?refresh=soon", pageRefresh},
	} {
		code, body, _ := do(t, srv, "GET", "/"+tt.query, "")
		if code != http.StatusOK {
			t.Fatalf("GET /%s = %d", tt.query, code)
		}
		for _, want := range []string{
			fmt.Sprintf(`<body data-refresh="%d">`, tt.want),
			fmt.Sprintf(`<meta http-equiv="refresh" content="%d">`, tt.want),
		} {
			if !strings.Contains(body, want) {
				t.Errorf("GET /%s lacks %s", tt.query, want)
			}
		}
	}
}

// TestPageChallengeNotWarned: a browser asks for the status page without
// credentials first, and sends them once the Basic challenge asks: that
// first request is no warning. A wrong password for the page still is, as
// is a request without a token anywhere else.
func TestPageChallengeNotWarned(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zap.InfoLevel)
	srv := serve(t, newFake(), Config{Token: "t0k", Logger: zap.New(core)})
	const refused = "admin request refused: bad or missing bearer token"
	for _, path := range []string{"/", "/static/style.css"} {
		code, _, hdr := do(t, srv, "GET", path, "")
		if code != http.StatusUnauthorized || !strings.Contains(strings.Join(hdr.Values("WWW-Authenticate"), " "), "Basic") {
			t.Fatalf("GET %s without credentials: %d %v, want 401 with a Basic challenge", path, code, hdr.Values("WWW-Authenticate"))
		}
	}
	if n := logs.FilterMessage(refused).Len(); n != 0 {
		t.Fatalf("the page's challenge logged %d warnings: %v", n, logs.All())
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("ops:wrong"))
	if code, _, _ := do(t, srv, "GET", "/", basic); code != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d, want 401", code)
	}
	if n := logs.FilterMessage(refused).Len(); n != 1 {
		t.Fatalf("a wrong password for the page logged %d warnings, want 1", n)
	}
}
