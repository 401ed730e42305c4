package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/smppmux/smppmux/admin"
	"github.com/smppmux/smppmux/metrics"
)

// statusDoc is the status API's answer.
type statusDoc struct {
	metrics.Snapshot
	Control *admin.Control `json:"control"`
}

func ctlStatus(ctx context.Context, o *ctlOptions, stdout io.Writer) error {
	var s statusDoc
	if ok, err := o.get(ctx, "GET", "/api/v1/status", nil, stdout, &s); !ok {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	store := s.Store.Kind + " " + yesNo(s.Store.Healthy, "healthy", "unhealthy")
	if s.Store.Error != "" {
		store += ": " + s.Store.Error
	}
	fmt.Fprintf(tw, "ready:\t%s\n", yesNo(s.Ready, "yes", "no"))
	fmt.Fprintf(tw, "store:\t%s\n", store)
	var stopped, suspended map[string]bool
	if c := s.Control; c != nil {
		fmt.Fprintf(tw, "log level:\t%s\n", orDash(c.LogLevel))
		stopped, suspended = setOf(c.StoppedUpstreams), setOf(c.SuspendedClients)
	}
	tw.Flush()

	fmt.Fprintln(stdout)
	tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "UPSTREAM\tSTATE\tBOUND\tWINDOW USED\tPACE TPS\tTHROTTLED")
	for _, u := range s.Upstreams {
		bound, binds, used, window := 0, 0, 0, 0
		for _, b := range s.Binds {
			if b.Upstream == u.Name {
				binds++
				used += b.WindowUsed
				window += b.Window
				if b.State == "bound" {
					bound++
				}
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%d/%d\t%s\t%d\n", u.Name, yesNo(stopped[u.Name], "stopped", "running"),
			bound, binds, used, window, pace(u.PaceTPS), u.Throttled)
	}
	tw.Flush()

	fmt.Fprintln(stdout)
	tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tMODE\tMEMBER\tWEIGHT\tEFFECTIVE\tHEALTHY\tBREAKER")
	for _, g := range s.Groups {
		name := g.Name
		if !g.Available {
			name += " (unavailable)"
		}
		for _, m := range g.Members {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.1f\t%s\t%s\n", name, g.Mode, m.Upstream, m.Weight, m.EffectiveWeight,
				yesNo(m.Healthy, "yes", "no"), m.Breaker)
		}
	}
	tw.Flush()

	if queued := slices.ContainsFunc(s.Groups, func(g metrics.GroupInfo) bool { return g.Queue != nil }); queued {
		fmt.Fprintln(stdout)
		tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "QUEUED GROUP\tDEPTH\tOLDEST\tIN FLIGHT")
		for _, g := range s.Groups {
			if q := g.Queue; q != nil {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%d\n", g.Name, q.Depth,
					time.Duration(q.OldestAgeSeconds*float64(time.Second)).Round(time.Second), q.InFlight)
			}
		}
		tw.Flush()
	}

	fmt.Fprintln(stdout)
	tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT\tSTATE\tSESSIONS\tOUTBOX\tOLDEST\tDEAD LETTERS")
	outbox := map[string]metrics.OutboxInfo{}
	for _, ob := range s.Outboxes {
		outbox[ob.SystemID] = ob
	}
	dead := map[string]int{}
	for _, d := range s.DeadLetters {
		dead[d.SystemID] = d.Count
	}
	for _, id := range clientsOf(s) {
		sessions := 0
		for _, ss := range s.Sessions {
			if ss.SystemID == id {
				sessions++
			}
		}
		ob := outbox[id]
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%d\n", id, yesNo(suspended[id], "suspended", "active"), sessions,
			ob.Depth, ob.OldestAge.Round(time.Second), dead[id])
	}
	tw.Flush()

	if c := s.Control; c != nil && len(c.Drained) > 0 {
		fmt.Fprintf(stdout, "\ndrained: %s\n", strings.Join(c.Drained, ", "))
	}
	if c := s.Control; c != nil && len(c.RecentErrors) > 0 {
		fmt.Fprintln(stdout, "\nrecent warnings and errors, newest first:")
		tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tLEVEL\tLOGGER\tCOUNT\tMESSAGE")
		for _, e := range c.RecentErrors {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", e.Time.UTC().Format(time.RFC3339), e.Level, orDash(e.Logger), e.Count, e.Message)
		}
		tw.Flush()
	}
	return nil
}

// clientsOf returns the clients the status names: every configured one
// when it says, else those with sessions, outboxes or dead letters.
func clientsOf(s statusDoc) []string {
	var ids []string
	seen := map[string]bool{}
	add := func(id string) {
		if id != "" && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if s.Control != nil {
		for _, c := range s.Control.Clients {
			add(c.SystemID)
		}
	}
	for _, ss := range s.Sessions {
		add(ss.SystemID)
	}
	for _, ob := range s.Outboxes {
		add(ob.SystemID)
	}
	for _, d := range s.DeadLetters {
		add(d.SystemID)
	}
	return ids
}
