// Package grafana_test checks the Grafana dashboard smppmux.json against
// the rules grafana/dashboard-linter applies, written out here: a
// datasource variable and job and instance variables that every query
// matches on, $__rate_interval in every range, a title, a description and
// a unit on every panel, aggregation over instances (max for the series
// README.md says to aggregate with max), a dashboard that is not editable,
// and queries that promtool parses.
package grafana_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const dashboardFile = "smppmux.json"

type dashboard struct {
	Title       string  `json:"title"`
	UID         string  `json:"uid"`
	Description string  `json:"description"`
	Editable    *bool   `json:"editable"`
	Panels      []panel `json:"panels"`
	Templating  struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID          int         `json:"id"`
	Type        string      `json:"type"`
	Title       string      `json:"title"`
	Description string      `json:"description"`
	Datasource  *datasource `json:"datasource"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Targets []target `json:"targets"`
}

type target struct {
	RefID      string      `json:"refId"`
	Expr       string      `json:"expr"`
	Datasource *datasource `json:"datasource"`
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Datasource *datasource     `json:"datasource"`
	Multi      bool            `json:"multi"`
	IncludeAll bool            `json:"includeAll"`
	AllValue   string          `json:"allValue"`
}

// query returns a query variable's query, written as text or as
// {"query": text}.
func (v variable) query() string {
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var q struct {
		Query string `json:"query"`
	}
	_ = json.Unmarshal(v.Query, &q)
	return q.Query
}

func load(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// maxAggregated are the series README.md says to aggregate over instances
// with max, not sum: with Redis every instance reports the same shared
// value.
var maxAggregated = []string{"smppmux_outbox_depth", "smppmux_outbox_oldest_age_seconds", "smppmux_dead_letters"}

var (
	selectorRE = regexp.MustCompile(`\b(smppmux_[a-z_]+|up)\b(\{[^}]*\})?`)
	rangeRE    = regexp.MustCompile(`\[([^\]]*)\]`)
	identRE    = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*$`)
)

var aggregations = []string{"sum", "max", "min", "avg", "count", "topk", "bottomk", "quantile"}

func TestDashboardRules(t *testing.T) {
	t.Parallel()
	d := load(t)
	problems := lint(d)
	for _, p := range problems {
		t.Error(p)
	}
	if len(d.Panels) == 0 {
		t.Error("no panel")
	}
}

// lint returns every rule d breaks.
func lint(d dashboard) []string {
	var out []string
	bad := func(format string, a ...any) { out = append(out, fmt.Sprintf(format, a...)) }
	if d.Title == "" || d.UID == "" || d.Description == "" {
		bad("dashboard: title, uid and description are required")
	}
	if d.Editable == nil || *d.Editable {
		bad("dashboard: editable must be false")
	}
	vars := map[string]variable{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	if v, ok := vars["datasource"]; !ok || v.Type != "datasource" || string(v.Query) != `"prometheus"` {
		bad("templating: a datasource variable named datasource of type datasource, query prometheus, is required")
	}
	for _, name := range []string{"job", "instance"} {
		v, ok := vars[name]
		switch {
		case !ok:
			bad("templating: no %s variable", name)
			continue
		case v.Type != "query" || !usesDatasourceVar(v.Datasource):
			bad("templating: %s must be a query variable on ${datasource}", name)
		case !v.Multi || !v.IncludeAll || v.AllValue != ".+":
			bad("templating: %s must allow several values and All (allValue .+)", name)
		case !strings.Contains(v.query(), "label_values(") || !strings.Contains(v.query(), name+")"):
			bad("templating: %s must be filled by label_values(..., %s), got %q", name, name, v.query())
		}
	}
	if q := vars["instance"].query(); !strings.Contains(q, `job=~"$job"`) {
		bad("templating: instance must list the instances of the selected jobs, got %q", q)
	}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		name := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if ids[p.ID] {
			bad("%s: id used twice", name)
		}
		ids[p.ID] = true
		if p.Title == "" || p.Description == "" {
			bad("%s: needs a title and a description", name)
		}
		if p.FieldConfig.Defaults.Unit == "" {
			bad("%s: needs a unit", name)
		}
		if !usesDatasourceVar(p.Datasource) {
			bad("%s: datasource must be ${datasource}", name)
		}
		if len(p.Targets) == 0 {
			bad("%s: no query", name)
		}
		for _, tg := range p.Targets {
			tname := name + " query " + tg.RefID
			if !usesDatasourceVar(tg.Datasource) {
				bad("%s: datasource must be ${datasource}", tname)
			}
			for _, problem := range lintExpr(tg.Expr) {
				bad("%s: %s", tname, problem)
			}
		}
	}
	return out
}

func usesDatasourceVar(ds *datasource) bool {
	return ds != nil && ds.Type == "prometheus" && (ds.UID == "${datasource}" || ds.UID == "$datasource")
}

// lintExpr returns the rules a PromQL expression breaks.
func lintExpr(expr string) []string {
	var out []string
	if expr == "" {
		return []string{"empty expression"}
	}
	sels := selectorRE.FindAllStringSubmatchIndex(expr, -1)
	if len(sels) == 0 {
		out = append(out, "queries no metric")
	}
	for _, m := range sels {
		metric := expr[m[2]:m[3]]
		matchers := ""
		if m[4] >= 0 {
			matchers = expr[m[4]:m[5]]
		}
		for _, want := range []string{`job=~"$job"`, `instance=~"$instance"`} {
			if !strings.Contains(matchers, want) {
				out = append(out, fmt.Sprintf("%s lacks the matcher %s", metric, want))
			}
		}
		aggs := enclosing(expr, m[0])
		if !slices.ContainsFunc(aggs, func(a string) bool { return slices.Contains(aggregations, a) }) {
			out = append(out, fmt.Sprintf("%s is not aggregated over instances (sum, max, min, avg or count)", metric))
		}
		if slices.Contains(maxAggregated, metric) && (!slices.Contains(aggs, "max") || slices.Contains(aggs, "sum")) {
			out = append(out, fmt.Sprintf("%s must be aggregated with max, not sum: instances sharing Redis report the same value", metric))
		}
	}
	for _, r := range rangeRE.FindAllStringSubmatch(expr, -1) {
		if r[1] != "$__rate_interval" {
			out = append(out, fmt.Sprintf("range [%s]: use [$__rate_interval]", r[1]))
		}
	}
	return out
}

// enclosing returns the names of the calls and aggregations whose
// parentheses hold position p of expr, innermost first. An aggregation's
// by or without clause before its parentheses is skipped.
func enclosing(expr string, p int) []string {
	var names []string
	depth := 0
	for i := p - 1; i >= 0; i-- {
		switch expr[i] {
		case ')':
			depth++
		case '(':
			if depth > 0 {
				depth--
				continue
			}
			j := strings.TrimRight(expr[:i], " ")
			if strings.HasSuffix(j, ")") {
				// "sum by (a, b) (": skip the clause and its keyword.
				open := strings.LastIndexByte(j, '(')
				j = strings.TrimRight(j[:open], " ")
				j = strings.TrimSuffix(strings.TrimSuffix(j, "by"), "without")
				j = strings.TrimRight(j, " ")
			}
			names = append(names, identRE.FindString(j))
		}
	}
	return names
}

// TestLintCatchesBreaches: each rule is shown failing on an expression
// that breaks it.
func TestLintCatchesBreaches(t *testing.T) {
	t.Parallel()
	const m = `{job=~"$job", instance=~"$instance"}`
	for expr, want := range map[string]string{
		`sum(rate(smppmux_submits_total` + m + `[5m]))`:                             "use [$__rate_interval]",
		`sum(rate(smppmux_submits_total{job=~"$job"}[$__rate_interval]))`:           `lacks the matcher instance=~"$instance"`,
		`sum(rate(smppmux_submits_total{instance=~"$instance"}[$__rate_interval]))`: `lacks the matcher job=~"$job"`,
		`smppmux_ready` + m: "not aggregated over instances",
		`rate(smppmux_submits_total` + m + `[$__rate_interval])`:                                                                "not aggregated over instances",
		`sum by (client) (smppmux_outbox_depth` + m + `)`:                                                                       "must be aggregated with max",
		`max by (client) (smppmux_dead_letters` + m + `)`:                                                                       "",
		`histogram_quantile(0.5, sum by (group, le) (rate(smppmux_submit_duration_seconds_bucket` + m + `[$__rate_interval])))`: "",
		`count by (version, commit) (smppmux_build_info` + m + `)`:                                                              "",
	} {
		got := strings.Join(lintExpr(expr), "; ")
		if want == "" && got != "" || !strings.Contains(got, want) {
			t.Errorf("%s: problems %q, want one with %q", expr, got, want)
		}
	}
	d := load(t)
	yes := true
	d.Editable = &yes
	d.Panels[0].Description = ""
	d.Panels[1].FieldConfig.Defaults.Unit = ""
	d.Templating.List = slices.DeleteFunc(d.Templating.List, func(v variable) bool { return v.Name == "job" })
	got := strings.Join(lint(d), "\n")
	for _, want := range []string{"editable must be false", "needs a title and a description", "needs a unit", "no job variable"} {
		if !strings.Contains(got, want) {
			t.Errorf("lint of a broken dashboard lacks %q:\n%s", want, got)
		}
	}
}

// TestDashboardQueriesParse: promtool parses every query, with the
// dashboard's variables in place, as the expression of a recording rule.
func TestDashboardQueriesParse(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("SMPPMUX_REQUIRE_PROMTOOL") != "" {
			t.Fatalf("promtool is required (SMPPMUX_REQUIRE_PROMTOOL is set) but not installed: %v", err)
		}
		t.Skip("promtool not installed: the dashboard's queries are not parsed (make deps, or apt-get install prometheus)")
	}
	d := load(t)
	vars := strings.NewReplacer("$__rate_interval", "1m", "$job", "smppmux", "$instance", "localhost:9090")
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			q, _ := json.Marshal(vars.Replace(tg.Expr))
			fmt.Fprintf(&b, "      - record: panel_%d_%s\n        expr: %s\n", p.ID, tg.RefID, q)
		}
	}
	path := filepath.Join(t.TempDir(), "dashboard.rules.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "check", "rules", path).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules: %v\n%s\n%s", err, out, b.String())
	}
}
