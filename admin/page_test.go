package admin

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
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
