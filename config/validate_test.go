package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		text string
		want []string // every FieldError, in order
	}{
		{
			name: "redis store without instance or address",
			text: doc(nil, "store: {kind: redis}\n"),
			want: []string{
				"store.instance: required with store.kind redis: a number from 0 to 255, different on every instance sharing the store; got -1",
				"store.redis.addrs: at least one host:port is required with store.kind redis",
			},
		},
		{
			name: "redis store bad values",
			text: doc(nil, "store: {kind: redis, instance: 256, redis: {addrs: [\"nohost\"], lease_ttl: 100ms}}\n"),
			want: []string{
				"store.instance: required with store.kind redis: a number from 0 to 255, different on every instance sharing the store; got 256",
				"store.redis.addrs[0]: must be host:port; got \"nohost\"",
				"store.redis.lease_ttl: must be at least 1s; got 100ms",
			},
		},
		{
			name: "dead letter settings",
			text: doc(nil, "receipts: {max_attempts: 0, dead_letter_statuses: [ESME_RX_P_APPN, ESME_NOPE, \"0\"]}\n"),
			want: []string{
				"receipts.max_attempts: must be at least 1; got 0",
				`receipts.dead_letter_statuses[1]: "ESME_NOPE" is not a command_status; write an SMPP name like ESME_RTHROTTLED or a number like "0x58"`,
				"receipts.dead_letter_statuses[2]: ESME_ROK accepts a delivery; it cannot refuse one",
			},
		},
		{
			name: "unknown id_format",
			text: doc(map[string]string{
				"upstreams": "upstreams:\n  - {name: carrier-a, addr: \"h:1\", system_id: x, id_format: lower}",
			}, ""),
			want: []string{`upstreams[0].id_format: must be one of auto, exact, same, hex-decimal, decimal-hex; got "lower"`},
		},
		{
			name: "unknown store kind",
			text: doc(nil, "store: {kind: etcd}\n"),
			want: []string{`store.kind: must be one of pebble, redis; got "etcd"`},
		},
		{
			name: "store sync mode and interval",
			text: doc(nil, "store: {sync: sometimes, sync_interval: 2s}\n"),
			want: []string{
				`store.sync: must be one of always, interval; got "sometimes"`,
				"store.sync_interval: must be from 1ms to 1s; got 2s",
			},
		},
		{
			name: "store sync interval too short",
			text: doc(nil, "store: {sync: interval, sync_interval: 500us}\n"),
			want: []string{"store.sync_interval: must be from 1ms to 1s; got 500µs"},
		},
		{
			name: "store sync interval with redis",
			text: doc(nil, "store: {kind: redis, instance: 1, sync: interval, redis: {addrs: [\"127.0.0.1:6379\"]}}\n"),
			want: []string{"store.sync: interval applies to store.kind pebble only: Redis syncs by its own appendfsync; remove it or set always"},
		},
		{
			name: "unknown top-level key",
			text: doc(nil, "listn: {smpp: \":1\"}\n"),
			want: []string{"listn: unknown key"},
		},
		{
			name: "unknown key in a section",
			text: doc(map[string]string{"listen": `listen: {smpp: ":2775", tls: ":3550"}`}, ""),
			want: []string{"listen.tls: unknown key"},
		},
		{
			name: "unknown key in a list element",
			text: doc(map[string]string{
				"upstreams": "upstreams:\n  - {name: carrier-a, addr: \"h:1\", system_id: x, windw: 5}",
			}, ""),
			want: []string{"upstreams[0].windw: unknown key"},
		},
		{
			name: "unknown keys at several depths",
			text: doc(map[string]string{
				"groups": "groups:\n  - name: main\n    members: [{upstream: carrier-a, wieght: 2}]",
			}, "server: {bind_timout: 1s}\n"),
			want: []string{
				"server.bind_timout: unknown key",
				"groups[0].members[0].wieght: unknown key",
			},
		},
		{
			name: "store-and-forward queue bad values",
			text: doc(map[string]string{
				"groups": "groups:\n  - name: main\n    members: [{upstream: carrier-a}]\n" +
					"    queue: {mode: store, max_items: 0, max_age: -1s}",
			}, ""),
			want: []string{
				`groups[0].queue.mode: must be one of relay, store-and-forward; got "store"`,
				"groups[0].queue.max_items: must be at least 1; got 0",
				"groups[0].queue.max_age: must be longer than 0; got -1s",
			},
		},
		{
			name: "key in upper case",
			text: doc(map[string]string{"listen": `LISTEN: {smpp: ":2775"}`}, ""),
			want: []string{"LISTEN: keys are written in lower case: listen"},
		},
		{
			name: "key in mixed case deep down",
			text: doc(map[string]string{
				"groups": "groups:\n  - name: main\n    members: [{upstream: carrier-a, Weight: 2}]",
			}, "server: {Bind_Timeout: 1s}\n"),
			want: []string{
				"groups[0].members[0].Weight: keys are written in lower case: weight",
				"server.Bind_Timeout: keys are written in lower case: bind_timeout",
			},
		},
		{
			name: "key written twice in different case",
			text: doc(nil, "Listen: {smpp: \":2776\"}\n"),
			want: []string{`listen: written 2 times, as "Listen", "listen": keys are not told apart by case; keep one, in lower case`},
		},
		{
			name: "duration without unit",
			text: doc(nil, "server: {bind_timeout: 10}\n"),
			want: []string{`server.bind_timeout: 10 needs a unit; write it like "10s"`},
		},
		{
			name: "bad duration",
			text: doc(nil, "server: {bind_timeout: soon}\n"),
			want: []string{`server.bind_timeout: "soon" is not a duration; write it like "30s" or "1m30s"`},
		},
		{
			name: "number where text is expected",
			text: doc(map[string]string{
				"routes": "routes:\n  - {destination_prefix: [44], group: main}",
			}, ""),
			want: []string{"routes[0].destination_prefix[0]: must be text; put 44 in quotes"},
		},
		{
			name: "text where a number is expected",
			text: doc(map[string]string{
				"clients": "clients:\n  - {system_id: shop, password: secret, window: many}",
			}, ""),
			want: []string{`clients[0].window: must be a whole number, not the text "many"`},
		},
		{
			name: "text where a list is expected",
			text: doc(map[string]string{"clients": "clients: shop"}, ""),
			want: []string{`clients: must be a list, not the text "shop"`},
		},
		{
			name: "everything missing",
			text: "",
			want: []string{
				"listen.smpp: required",
				"clients: at least one client is required",
				"upstreams: at least one upstream is required",
				"groups: at least one group is required",
				"routes: at least one route is required",
			},
		},
		{
			name: "several problems at once",
			text: doc(map[string]string{
				"clients": "clients:\n  - {system_id: shop, password: secret}\n  - {system_id: shop, password: other}",
				"groups": "groups:\n  - name: main\n    members:\n      - {upstream: carrier-a}\n" +
					"      - {upstream: carrier-z}\n      - {upstream: carrier-a, weight: -1}",
				"routes": "routes:\n  - {clients: [shop, nobody], destination_prefix: [\"44x\", \"+\"], group: uk}\n" +
					"  - group: main\n  - group: main",
			}, "log: {level: verbose}\n"),
			want: []string{
				`log.level: must be one of debug, info, warn, error; got "verbose"`,
				`clients[1].system_id: duplicate "shop"`,
				`groups[0].members[1].upstream: unknown upstream "carrier-z"`,
				"groups[0].members[2].weight: must be 0 (drained) or more; got -1",
				`groups[0].members[2].upstream: duplicate "carrier-a" (also groups[0].members[0])`,
				`routes[0].clients[1]: unknown client "nobody"`,
				`routes[0].destination_prefix[0]: must be digits, optionally after a leading "+"; got "44x"`,
				`routes[0].destination_prefix[1]: must be digits, optionally after a leading "+"; got "+"`,
				`routes[0].group: unknown group "uk"`,
				"routes[2]: never used: routes[1] before it has no condition and matches every submit",
			},
		},
		{
			name: "system_id too long",
			text: doc(map[string]string{
				"clients": "clients:\n  - {system_id: abcdefghijklmnop, password: secret}",
			}, ""),
			want: []string{"clients[0].system_id: is 16 characters; SMPP allows at most 15"},
		},
		{
			name: "plain password too long",
			text: doc(map[string]string{
				"clients": "clients:\n  - {system_id: shop, password: secret123}",
			}, ""),
			want: []string{"clients[0].password: is 9 characters; SMPP allows at most 8"},
		},
		{
			name: "broken bcrypt hash",
			text: doc(map[string]string{
				"clients": "clients:\n  - {system_id: shop, password: \"$2y$10$short\"}",
			}, ""),
			want: []string{"clients[0].password: not a valid bcrypt hash: crypto/bcrypt: hashedSecret too short to be a bcrypted password"},
		},
		{
			name: "explicit zero is not replaced by the default",
			text: doc(map[string]string{
				"clients":   "clients:\n  - {system_id: shop, password: secret, window: 0, max_binds: 0}",
				"upstreams": "upstreams:\n  - {name: carrier-a, addr: \"h:1\", system_id: x, binds: 0, window: 0}",
			}, ""),
			want: []string{
				"clients[0].max_binds: must be at least 1; got 0",
				"clients[0].window: must be from 1 to 4096; got 0",
				"upstreams[0].binds: must be from 1 to 64; got 0",
				"upstreams[0].window: must be from 1 to 10000; got 0",
			},
		},
		{
			name: "upstream values",
			text: doc(map[string]string{
				"upstreams": "upstreams:\n  - name: carrier a\n    addr: \":2776\"\n    system_id: x\n" +
					"    password: \"123456789\"\n    system_type: \"1234567890123\"\n    bind: tr\n" +
					"    reconnect_min: 10s\n    reconnect_max: 5s\n    response_timeout: 0s\n" +
					"  - {name: carrier-b, addr: \"h:99999\", system_id: \"\"}",
				"groups": "groups:\n  - name: main\n    members: [{upstream: \"carrier a\"}]",
			}, ""),
			want: []string{
				`upstreams[0].name: must use only letters, digits, "_", "." and "-"; got "carrier a"`,
				`upstreams[0].addr: needs a host; got ":2776"`,
				"upstreams[0].password: is 9 characters; SMPP allows at most 8",
				"upstreams[0].system_type: is 13 characters; SMPP allows at most 12",
				`upstreams[0].bind: must be one of trx, txrx, tx, rx; got "tr"`,
				"upstreams[0].response_timeout: must be longer than 0; got 0s",
				"upstreams[0].reconnect_max: must not be shorter than reconnect_min (10s); got 5s",
				`upstreams[1].addr: port must be a number from 1 to 65535; got "99999"`,
				"upstreams[1].system_id: required",
			},
		},
		{
			name: "receive-only upstream in a group",
			text: doc(map[string]string{
				"upstreams": "upstreams:\n  - {name: carrier-a, addr: \"h:1\", system_id: x, bind: rx}",
			}, ""),
			want: []string{`groups[0].members[0].upstream: upstream "carrier-a" binds rx and cannot carry submits`},
		},
		{
			name: "server timers",
			text: doc(map[string]string{"listen": `listen: {smpp: "localhost"}`},
				"server: {enquire_link_interval: 1m, inactivity_timeout: 1m, write_timeout: -1s}\n"),
			want: []string{
				`listen.smpp: must be host:port; got "localhost"`,
				"server.write_timeout: must be longer than 0; got -1s",
				"server.inactivity_timeout: must be longer than server.enquire_link_interval (1m0s), " +
					"or idle clients are closed before they are probed; got 1m0s",
			},
		},
		{
			name: "group values",
			text: doc(map[string]string{
				"groups": "groups:\n  - {name: main, mode: round-robin, members: []}\n" +
					"  - {name: main, members: [{weight: 2}]}",
			}, ""),
			want: []string{
				`groups[0].mode: must be one of active-active, active-standby, adaptive; got "round-robin"`,
				"groups[0].members: at least one member is required",
				"groups[1].members[0].upstream: required",
				`groups[1].name: duplicate "main"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse([]byte(tt.text))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", c)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			var got []string
			for _, fe := range FieldErrors(err) {
				got = append(got, fe.Error())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("field errors:\n got %q\nwant %q", got, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error text lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestValidateInCode(t *testing.T) {
	t.Parallel()
	c := mustParse(t, doc(nil, ""))
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate of a parsed config: %v", err)
	}
	c.Clients = append(c.Clients, Client{SystemID: "shop", Password: "x", MaxBinds: 1, Window: 1,
		MessageID: MessageID{Format: IDHex}})
	fes := FieldErrors(c.Validate())
	if len(fes) != 1 || fes[0].Path != "clients[1].system_id" {
		t.Errorf("Validate = %v, want one duplicate system_id", fes)
	}
}

// TestStoreAndForwardWithRedis: a store-and-forward group is accepted with
// the redis store, whose instances share its queue.
func TestStoreAndForwardWithRedis(t *testing.T) {
	t.Parallel()
	c := mustParse(t, doc(map[string]string{
		"groups": "groups:\n  - name: main\n    members: [{upstream: carrier-a}]\n    queue: {mode: store-and-forward}",
	}, "store: {kind: redis, instance: 1, redis: {addrs: [\"127.0.0.1:6379\"]}}\n"))
	if !c.Groups[0].Queue.StoreAndForward() || c.Store.Kind != StoreRedis {
		t.Fatalf("parsed %+v with store %q", c.Groups[0].Queue, c.Store.Kind)
	}
}
