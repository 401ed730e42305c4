package clients

import (
	"fmt"
	"net/netip"

	"github.com/smppmux/smppmux/config"
	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/internal/pdu"
)

// Client is one configured client as a configuration's snapshot holds it:
// its settings, the networks it may bind from, its limits, the format of
// the message ids it is given, and its remembered password.
type Client struct {
	config.Client
	// Limits are the client's limits on submits; never nil.
	Limits *Limits
	// IDBase and IDLength are how the client wants its message ids.
	IDBase   dlr.IDBase
	IDLength int

	allow []netip.Prefix
	// remembered is the client's verified password, for a bcrypt
	// client; nil for a plain one. It belongs to one Table: a reload
	// forgets it.
	remembered *remembered
}

// Table holds the clients of one configuration by system_id. It is built
// whole by NewTable and never changed after: a reload builds another.
type Table struct {
	clients map[string]*Client
}

// NewTable builds the clients of cfgs. A client that ch says is kept
// (neither added nor changed since prev) keeps prev's Limits, and with
// them their state; every other gets new ones. No remembered password
// passes from prev: a reload forgets them all. prev may be nil.
func NewTable(cfgs []config.Client, prev *Table, ch config.Entities) (*Table, error) {
	t := &Table{clients: make(map[string]*Client, len(cfgs))}
	for _, cc := range cfgs {
		f, err := dlr.ParseIDBase(string(cc.MessageID.Format))
		if err != nil {
			return nil, fmt.Errorf("client %s: %w", cc.SystemID, err)
		}
		c := &Client{Client: cc, IDBase: f, IDLength: cc.MessageID.Length}
		for _, s := range cc.Allow {
			if p, err := config.ParsePrefix(s); err == nil {
				c.allow = append(c.allow, p)
			}
		}
		if cc.IsBcrypt() {
			c.remembered = &remembered{}
		}
		if old := prev.Get(cc.SystemID); old != nil && ch.Kept(cc.SystemID) {
			c.Limits = old.Limits
		} else {
			c.Limits = NewLimits(LimitsConfig{
				TPS:            cc.TPS,
				AllowedSources: cc.AllowedSources,
				DestCount:      cc.DestinationLimit.Count,
				DestPer:        cc.DestinationLimit.Per,
				DestStatus:     pdu.Status(config.Status(cc.DestinationLimit.Status)),
			})
		}
		t.clients[cc.SystemID] = c
	}
	return t, nil
}

// Get returns the client of systemID, nil if it is not configured or t is
// nil.
func (t *Table) Get(systemID string) *Client {
	if t == nil {
		return nil
	}
	return t.clients[systemID]
}

// Known reports whether systemID is a configured client.
func (t *Table) Known(systemID string) bool { return t.Get(systemID) != nil }
