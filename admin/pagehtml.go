package admin

import (
	"bytes"
	"fmt"
	"html"
	"maps"
	"slices"
	"strconv"
	"time"
)

// The status page is written by Go code rather than html/template: a
// template's reflection (its method calls by name) keeps every exported
// method of every type in the binary. Every value that comes from the
// outside (names, addresses, states, log messages and fields) goes
// through esc, in text and in attributes alike; the rest is numbers and
// the constant markup below.

// esc escapes s for HTML text and quoted attribute values.
var esc = html.EscapeString

// writePage writes the whole status page of d.
func writePage(b *bytes.Buffer, d *pageData) {
	refresh := strconv.Itoa(d.Refresh)
	b.WriteString(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>smppmux status</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<noscript><meta http-equiv="refresh" content="` + refresh + `"></noscript>
<link rel="stylesheet" href="static/style.css">
<script src="static/page.js" defer></script>
</head>
<body data-refresh="` + refresh + `">
<header>
<h1>smppmux</h1>
<span class="version">` + esc(d.Version) + `</span>
<span id="live" class="live" hidden>live</span>
</header>
<main id="main">`)
	writeMain(b, d)
	b.WriteString("</main>\n</body>\n</html>\n")
}

// writeMain writes the contents of the page's <main>: the summary and the
// tables, which the page's script fetches alone (?part=main) to refresh
// them in place.
func writeMain(b *bytes.Buffer, d *pageData) {
	writeSummary(b, d)
	writeBinds(b, d.Upstreams)
	writeGroups(b, d.Groups)
	writeClients(b, d.Clients)
	writeErrors(b, d.Errors)
}

func writeSummary(b *bytes.Buffer, d *pageData) {
	b.WriteString("\n<p class=\"summary\" id=\"summary\" data-generated=\"" + esc(d.Now.Format(time.RFC3339)) + "\">\n")
	if d.Snap.Ready {
		b.WriteString(`<span class="ok" id="ready">ready</span>`)
	} else {
		b.WriteString(`<span class="bad" id="ready">not ready</span>`)
	}
	b.WriteString("\n&middot; store " + esc(d.Snap.Store.Kind) + ": ")
	if d.Snap.Store.Healthy {
		b.WriteString(`<span class="ok">takes writes</span>`)
	} else {
		b.WriteString(`<span class="bad">` + esc(d.Snap.Store.Error) + `</span>`)
	}
	b.WriteString("\n")
	if d.Control != nil && d.Control.LogLevel != "" {
		b.WriteString(`&middot; log level <b id="log-level">` + esc(d.Control.LogLevel) + `</b>`)
	}
	b.WriteString("\n&middot; updated " + d.Now.Format("15:04:05") + "\n</p>\n\n")
}

// writeTable writes a section's heading and its table's head up to the
// first row; rows writes the rows, and when it wrote none, empty is the
// row saying so, across every column.
func writeTable(b *bytes.Buffer, title, id, head string, columns int, empty string, rows func() bool) {
	b.WriteString("<section>\n<h2>" + title + "</h2>\n<table id=\"" + id + "\">\n<thead><tr>" + head + "</tr></thead>\n<tbody>\n")
	if !rows() {
		b.WriteString(`<tr><td colspan="` + strconv.Itoa(columns) + `">` + empty + `</td></tr>`)
	}
	b.WriteString("\n</tbody>\n</table>\n</section>\n")
}

func writeBinds(b *bytes.Buffer, ups []pageUpstream) {
	head := `<th>upstream</th><th>state</th><th>bind</th><th>type</th><th>bind state</th><th>window</th><th>local address</th>`
	writeTable(b, "Upstream binds", "binds", head, 7, "no upstream", func() bool {
		for _, u := range ups {
			name, state := esc(u.Name), "running"
			if u.Stopped {
				state = `<span class="bad">stopped</span>`
			}
			for _, x := range u.Binds {
				st := esc(x.State)
				fmt.Fprintf(b, "\n<tr data-upstream=\"%s\">\n<td>%s</td>\n<td>%s</td>\n<td>%d</td><td>%s</td>\n"+
					"<td class=\"state-%s\">%s</td>\n<td>%d/%d</td>\n<td>%s</td>\n</tr>",
					name, name, state, x.Index, esc(x.BindType), st, st, x.WindowUsed, x.Window, esc(x.LocalAddr))
			}
		}
		return len(ups) > 0
	})
	b.WriteString("\n")
}

func writeGroups(b *bytes.Buffer, groups []pageGroup) {
	head := `<th>group</th><th>mode</th><th>member</th><th>weight</th><th>effective</th><th>breaker</th><th>healthy</th>` +
		`<th title="submits per second the upstream sends at most: its configured tps, or the lower rate it learned from the SMSC's throttling answers (0x58, 0x14)">learned rate</th>`
	writeTable(b, "Groups", "groups", head, 8, "no group", func() bool {
		for _, g := range groups {
			name := esc(g.Name)
			group := name
			if !g.Available {
				group += ` <span class="bad">no member available</span>`
			}
			if q := g.Queue; q != nil {
				group += fmt.Sprintf(` <span class="queue">queued %d, oldest %s, in flight %d</span>`,
					q.Depth, time.Duration(q.OldestAgeSeconds*float64(time.Second)).Round(time.Second), q.InFlight)
			}
			for _, m := range g.Members {
				member := esc(m.Upstream)
				fmt.Fprintf(b, "\n<tr data-group=\"%s\" data-member=\"%s\">\n<td>%s</td>\n<td>%s</td>\n<td>%s%s</td>\n"+
					"<td class=\"weight\">%d%s</td>\n<td>%.2f</td>\n<td class=\"breaker breaker-%s\">%s</td>\n<td>%s</td>\n"+
					"<td class=\"pace\">%s%s</td>\n</tr>",
					name, member, group, esc(g.Mode), member, when(m.Stopped, ` <span class="bad">stopped</span>`),
					m.Weight, when(m.Drained, ` <span class="warn drained">drained</span>`), m.EffectiveWeight,
					esc(m.Breaker), esc(m.Breaker), yesNo(m.Healthy), pace(m), throttled(m))
			}
		}
		return len(groups) > 0
	})
	b.WriteString("\n")
}

// pace is a member's learned rate as the page shows it.
func pace(m pageMember) string {
	if m.PaceTPS == 0 {
		return "unpaced"
	}
	return fmt.Sprintf("%.0f/s", m.PaceTPS)
}

func throttled(m pageMember) string {
	if m.Throttled == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d throttled)", m.Throttled)
}

func yesNo(ok bool) string {
	if ok {
		return `<span class="ok">yes</span>`
	}
	return `<span class="bad">no</span>`
}

// when returns markup if cond holds, else nothing.
func when(cond bool, markup string) string {
	if cond {
		return markup
	}
	return ""
}

func writeClients(b *bytes.Buffer, clients []pageClient) {
	head := `<th>system_id</th><th>state</th><th>sessions</th><th>outbox</th><th>oldest</th><th>dead letters</th>`
	writeTable(b, "Clients", "clients", head, 6, "no client", func() bool {
		for _, c := range clients {
			id, state := esc(c.SystemID), "active"
			if c.Suspended {
				state = `<span class="bad">suspended</span>`
			}
			fmt.Fprintf(b, "\n<tr data-client=\"%s\">\n<td>%s</td>\n<td>%s</td>\n<td class=\"sessions\">", id, id, state)
			for _, s := range c.Sessions {
				fmt.Fprintf(b, "<div>#%d %s from %s, %d in flight</div>", s.ID, esc(s.BindType), esc(s.Remote), s.Inflight)
			}
			if len(c.Sessions) == 0 {
				b.WriteString("none")
			}
			oldest := ""
			if c.Depth != 0 {
				oldest = esc(c.Oldest.String())
			}
			fmt.Fprintf(b, "</td>\n<td class=\"outbox\">%d</td>\n<td>%s</td>\n<td>%d</td>\n</tr>", c.Depth, oldest, c.DeadLetters)
		}
		return len(clients) > 0
	})
	b.WriteString("\n")
}

func writeErrors(b *bytes.Buffer, errs []LogEntry) {
	head := `<th>time</th><th>level</th><th>where</th><th>message</th><th>details</th>`
	writeTable(b, "Recent errors", "errors", head, 5, "none", func() bool {
		for _, e := range errs {
			level := esc(e.Level)
			fmt.Fprintf(b, "\n<tr class=\"level-%s\">\n<td>%s", level, e.Time.Format("15:04:05"))
			if e.Count > 1 {
				fmt.Fprintf(b, " (%d&times;)", e.Count)
			}
			fmt.Fprintf(b, "</td>\n<td>%s</td><td>%s</td><td>%s</td>\n<td class=\"fields\">", level, esc(e.Logger), esc(e.Message))
			for _, k := range slices.Sorted(maps.Keys(e.Fields)) {
				b.WriteString("<span>" + esc(k) + "=" + esc(e.Fields[k]) + "</span> ")
			}
			b.WriteString("</td>\n</tr>")
		}
		return len(errs) > 0
	})
}
