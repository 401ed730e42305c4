package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/smppmux/smppmux/admin"
)

func upstreamOp(verb, name string) ctlFunc {
	return func(ctx context.Context, o *ctlOptions, stdout io.Writer) error {
		if _, err := o.call(ctx, "POST", "/api/v1/upstreams/"+url.PathEscape(name)+"/"+verb, nil); err != nil {
			return err
		}
		if o.json {
			return nil
		}
		if verb == "stop" {
			fmt.Fprintf(stdout, "upstream %s stopped: its binds stay down, across reloads, until \"ctl upstream start %s\" or a restart\n", name, name)
			return nil
		}
		fmt.Fprintf(stdout, "upstream %s started: it binds again\n", name)
		return nil
	}
}

func clientKick(id, reason string) ctlFunc {
	return func(ctx context.Context, o *ctlOptions, stdout io.Writer) error {
		path := "/api/v1/clients/" + url.PathEscape(id) + "/kick"
		if reason != "" {
			path += "?reason=" + url.QueryEscape(reason)
		}
		var res struct {
			Closed int `json:"closed"`
		}
		if ok, err := o.get(ctx, "POST", path, nil, stdout, &res); !ok {
			return err
		}
		fmt.Fprintf(stdout, "client %s kicked: %s closed\n", id, plural(res.Closed, "session"))
		return nil
	}
}

func clientOp(verb, id string) ctlFunc {
	return func(ctx context.Context, o *ctlOptions, stdout io.Writer) error {
		path := "/api/v1/clients/" + url.PathEscape(id) + "/" + verb
		if verb == "resume" {
			if _, err := o.call(ctx, "POST", path, nil); err != nil || o.json {
				return err
			}
			fmt.Fprintf(stdout, "client %s resumed: it may bind again\n", id)
			return nil
		}
		var res struct {
			Closed int `json:"closed"`
		}
		if ok, err := o.get(ctx, "POST", path, nil, stdout, &res); !ok {
			return err
		}
		fmt.Fprintf(stdout, "client %s suspended: %s closed; its binds are refused, across reloads, until \"ctl client resume %s\" or a restart\n",
			id, plural(res.Closed, "session"), id)
		return nil
	}
}

func outboxList(w []string) ctlFunc {
	return func(ctx context.Context, o *ctlOptions, stdout io.Writer) error {
		path := fmt.Sprintf("/api/v1/clients/%s/outbox?limit=%d", url.PathEscape(w[0]), o.limit)
		var ob admin.Outbox
		if ok, err := o.get(ctx, "GET", path, nil, stdout, &ob); !ok {
			return err
		}
		fmt.Fprintf(stdout, "outbox of %s: %s waiting", ob.SystemID, plural(ob.Depth, "item"))
		if ob.Depth > 0 {
			fmt.Fprintf(stdout, ", the oldest for %s", (time.Duration(ob.OldestAgeSeconds * float64(time.Second))).Round(time.Second))
		}
		fmt.Fprintln(stdout)
		if len(ob.Items) == 0 {
			return nil
		}
		text := false
		for _, it := range ob.Items {
			text = text || it.Text != ""
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		head := "ITEM\tARRIVED\tCOMMAND\tMESSAGE ID\tSTATE\tSOURCE\tDESTINATION\tATTEMPTS\tREFUSALS\tLAST STATUS\tRETRY AT"
		if text {
			head += "\tTEXT"
		}
		fmt.Fprintln(tw, head)
		for _, it := range ob.Items {
			cmd := it.Command
			if it.Receipt {
				cmd += " (receipt)"
			}
			retry := "-"
			if !it.RetryAt.IsZero() {
				retry = stamp(it.RetryAt)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s", it.Seq, stamp(it.Arrived), cmd, orDash(it.MessageID),
				orDash(it.State), orDash(it.Source), orDash(it.Destination), it.Attempts, it.Refusals, orDash(it.LastStatus), retry)
			if text {
				fmt.Fprintf(tw, "\t%q", it.Text)
			}
			fmt.Fprintln(tw)
		}
		tw.Flush()
		if n := ob.Depth - len(ob.Items); n > 0 && len(ob.Items) == o.limit {
			fmt.Fprintf(stdout, "(%d more: -limit)\n", n)
		}
		return nil
	}
}

// purge deletes one item (seq) or all of a client's outbox or dead
// letters at path.
func purge(what, path, id string, seq uint64) ctlFunc {
	return func(ctx context.Context, o *ctlOptions, stdout io.Writer) error {
		p := path
		if seq != 0 {
			p += "/" + strconv.FormatUint(seq, 10)
		}
		var res struct {
			Purged int `json:"purged"`
		}
		if ok, err := o.get(ctx, "DELETE", p, nil, stdout, &res); !ok {
			return err
		}
		fmt.Fprintf(stdout, "%s of %s: %d purged\n", what, id, res.Purged)
		return nil
	}
}

func deadLettersList(w []string) ctlFunc {
	return func(ctx context.Context, o *ctlOptions, stdout io.Writer) error {
		path := fmt.Sprintf("/api/v1/deadletters/%s?limit=%d", url.PathEscape(w[0]), o.limit)
		var list []admin.DeadLetter
		if ok, err := o.get(ctx, "GET", path, nil, stdout, &list); !ok {
			return err
		}
		fmt.Fprintf(stdout, "dead letters of %s: %d listed\n", w[0], len(list))
		if len(list) == 0 {
			return nil
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SEQ\tARRIVED\tDEAD AT\tREASON\tCOMMAND\tMESSAGE ID\tSOURCE\tDESTINATION\tATTEMPTS\tREFUSALS\tLAST STATUS")
		for _, d := range list {
			cmd := d.Command
			if d.Receipt {
				cmd += " (receipt)"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", d.Seq, stamp(d.Arrived), stamp(d.DeadAt), d.Reason, cmd,
				orDash(d.MessageID), orDash(d.Source), orDash(d.Destination), d.Attempts, d.Refusals, orDash(d.LastStatus))
		}
		tw.Flush()
		if len(list) == o.limit {
			fmt.Fprintln(stdout, "(there may be more: -limit)")
		}
		return nil
	}
}

func deadLettersRetry(w []string) ctlFunc {
	return func(ctx context.Context, o *ctlOptions, stdout io.Writer) error {
		var res struct {
			Requeued int `json:"requeued"`
		}
		if ok, err := o.get(ctx, "POST", "/api/v1/deadletters/"+url.PathEscape(w[0])+"/retry", nil, stdout, &res); !ok {
			return err
		}
		fmt.Fprintf(stdout, "dead letters of %s: %d put back in its outbox\n", w[0], res.Requeued)
		return nil
	}
}

func messageLookup(id, msgID string) ctlFunc {
	return func(ctx context.Context, o *ctlOptions, stdout io.Writer) error {
		var m admin.Message
		path := "/api/v1/clients/" + url.PathEscape(id) + "/messages/" + url.PathEscape(msgID)
		if ok, err := o.get(ctx, "GET", path, nil, stdout, &m); !ok {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "system_id:\t%s\n", m.SystemID)
		fmt.Fprintf(tw, "message_id:\t%s\n", m.MessageID)
		fmt.Fprintf(tw, "state:\t%s\n", m.State)
		if m.Upstream != "" {
			fmt.Fprintf(tw, "upstream:\t%s\n", m.Upstream)
			fmt.Fprintf(tw, "upstream id:\t%s\n", orDash(m.UpstreamID))
			fmt.Fprintf(tw, "session:\t%d (%s)\n", m.Session, yesNo(m.SessionBound, "bound: receipts go there first", "gone: receipts go to another session of the client"))
			fmt.Fprintf(tw, "submitted:\t%s\n", stamp(m.Submitted))
			fmt.Fprintf(tw, "expires:\t%s\n", stamp(m.Expires))
		}
		tw.Flush()
		if len(m.Receipts) > 0 {
			fmt.Fprintln(stdout)
			tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RECEIPT IN\tITEM\tSTATE\tARRIVED")
			for _, r := range m.Receipts {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", r.Where, r.Seq, orDash(r.State), stamp(r.Arrived))
			}
			tw.Flush()
		}
		return nil
	}
}

func logLevel(w []string) ctlFunc {
	return func(ctx context.Context, o *ctlOptions, stdout io.Writer) error {
		method, body := "GET", io.Reader(nil)
		if len(w) == 1 {
			b, _ := json.Marshal(map[string]string{"level": w[0]})
			method, body = "PUT", strings.NewReader(string(b))
		}
		var res struct {
			Level string `json:"level"`
		}
		if ok, err := o.get(ctx, method, "/api/v1/log-level", body, stdout, &res); !ok {
			return err
		}
		if res.Level == "" {
			fmt.Fprintln(stdout, "log level: fixed (this smppmux's logger cannot change it)")
			return nil
		}
		fmt.Fprintf(stdout, "log level: %s\n", res.Level)
		return nil
	}
}
