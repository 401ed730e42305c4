package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/smppmux/smppmux/balancer"
	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/smppserver"
	"github.com/smppmux/smppmux/upstream"
)

// Defaults of the top-level sections, set in viper before the file is read.
// They refer to the components' defaults; the relay's (receipts'
// wait_for_mapping, mapping_ttl and unmatched_hold, server.submit_timeout
// and no_route_status, store.max_pending_writes) are written out, since
// the relay imports config, and its TestConfigDefaults checks they agree.
var sectionDefaults = map[string]any{
	"state_dir":                     "/var/lib/smppmux",
	"listen.admin":                  "127.0.0.1:9090",
	"log.level":                     LevelInfo,
	"log.format":                    FormatAuto,
	"server.bind_timeout":           smppserver.DefaultBindTimeout,
	"server.enquire_link_interval":  smppserver.DefaultEnquireLinkInterval,
	"server.inactivity_timeout":     smppserver.DefaultInactivityTimeout,
	"server.response_timeout":       smppserver.DefaultResponseTimeout,
	"server.write_timeout":          smppserver.DefaultWriteTimeout,
	"server.submit_timeout":         30 * time.Second,
	"server.no_route_status":        "ESME_RINVDSTADR",
	"server.failed_binds_per_ip":    10,
	"server.failed_bind_window":     time.Minute,
	"receipts.mapping_ttl":          72 * time.Hour,
	"receipts.wait_for_mapping":     30 * time.Second,
	"receipts.resend_window":        dlr.DefaultResendWindow,
	"receipts.unmatched_hold":       250 * time.Millisecond,
	"receipts.delivery_hold":        200 * time.Millisecond,
	"receipts.outbox_max_items":     dlr.DefaultOutboxMaxItems,
	"receipts.outbox_max_age":       dlr.DefaultOutboxMaxAge,
	"receipts.retry_min":            dlr.DefaultRetryMin,
	"receipts.retry_max":            dlr.DefaultRetryMax,
	"receipts.max_attempts":         dlr.DefaultMaxAttempts,
	"receipts.dead_letter_statuses": statusNames(dlr.DefaultDeadLetterStatuses),
	"store.kind":                    StorePebble,
	"store.instance":                -1,
	"store.max_pending_writes":      10000,
	"store.sync":                    SyncAlways,
	"store.sync_interval":           5 * time.Millisecond,
	"store.redis.addrs":             []string{},
	"store.redis.master_name":       "",
	"store.redis.username":          "",
	"store.redis.password":          "",
	"store.redis.sentinel_password": "",
	"store.redis.db":                0,
	"store.redis.prefix":            "smppmux:",
	"store.redis.lease_ttl":         10 * time.Second,
	"store.redis.wait_replicas":     0,
	"store.redis.wait_timeout":      time.Second,
}

// Defaults of list elements, by element type. viper cannot hold defaults
// inside lists, so they are filled in while decoding, into each element's
// map of keys, where a key is absent or written with no value. A key written
// explicitly keeps its value, zero included (weight: 0 drains a member).
var elementDefaults = map[reflect.Type]map[string]any{
	reflect.TypeFor[Client](): {
		"max_binds":         4,
		"window":            100,
		"message_id":        map[string]any{},
		"tps":               0,
		"destination_limit": map[string]any{},
	},
	reflect.TypeFor[DestinationLimit](): {
		"count":  0,
		"per":    60 * time.Second,
		"status": "ESME_RTHROTTLED",
	},
	reflect.TypeFor[MessageID](): {
		"format": string(IDHex),
		"length": 0,
	},
	reflect.TypeFor[Upstream](): {
		"bind":                  upstream.DefaultBind,
		"binds":                 upstream.DefaultBinds,
		"window":                upstream.DefaultWindow,
		"response_timeout":      upstream.DefaultResponseTimeout,
		"enquire_link_interval": upstream.DefaultEnquireLinkInterval,
		"connect_timeout":       upstream.DefaultConnectTimeout,
		"reconnect_min":         upstream.DefaultReconnectMin,
		"reconnect_max":         upstream.DefaultReconnectMax,
		"tps":                   0,
		"id_format":             "auto",
		"tls":                   map[string]any{},
	},
	reflect.TypeFor[Group](): {
		"mode":             string(balancer.DefaultMode),
		"retry_on":         anyList(statusNames(balancer.DefaultRetryOn)),
		"max_attempts":     balancer.DefaultMaxAttempts,
		"queue_timeout":    balancer.DefaultQueueTimeout,
		"resubmit_unknown": false,
		"sticky_ttl":       balancer.DefaultStickyTTL,
		"breaker":          map[string]any{},
		"queue":            map[string]any{},
	},
	reflect.TypeFor[Queue](): {
		"mode":      string(QueueRelay),
		"max_items": DefaultQueueMaxItems,
		"max_age":   DefaultQueueMaxAge,
	},
	reflect.TypeFor[Breaker](): {
		"failures":     balancer.DefaultBreakerFailures,
		"error_rate":   balancer.DefaultBreakerErrorRate,
		"min_requests": balancer.DefaultBreakerMinRequests,
		"window":       balancer.DefaultBreakerWindow,
		"cooldown":     balancer.DefaultBreakerCooldown,
		"probes":       balancer.DefaultBreakerProbes,
		"slow_start":   balancer.DefaultBreakerSlowStart,
	},
	reflect.TypeFor[Member](): {
		"weight": 1,
	},
}

// statusNames returns the SMPP names of sts, as the configuration writes
// them.
func statusNames(sts []pdu.Status) []string {
	out := make([]string, len(sts))
	for i, st := range sts {
		name, ok := pdu.StatusName(st)
		if !ok {
			name = fmt.Sprintf("0x%08X", uint32(st))
		}
		out[i] = name
	}
	return out
}

// anyList returns names as a list of YAML values, the form a list takes
// in an element's map of keys.
func anyList(names []string) []any {
	out := make([]any, len(names))
	for i, n := range names {
		out[i] = n
	}
	return out
}

// Load reads the YAML file at path, fills in defaults, decodes it strictly
// and validates it. Errors name the file; see [Parse] for the rest.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse is [Load] from bytes. A YAML error wraps [ErrSyntax]. Unknown keys,
// values of the wrong kind and failed validation wrap [ErrInvalid] and join
// one [*FieldError] per problem; [FieldErrors] lists them.
func Parse(data []byte) (*Config, error) {
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSyntax, err)
	}
	if raw == nil {
		raw = map[string]any{}
	}
	if errs := keyCase(raw); len(errs) > 0 {
		return nil, fmt.Errorf("%w:\n%w", ErrInvalid, errors.Join(errs...))
	}
	dropNulls(raw, reflect.TypeFor[Config]())

	v := viper.New()
	for key, val := range sectionDefaults {
		v.SetDefault(key, val)
	}
	if err := v.MergeConfigMap(raw); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSyntax, err)
	}

	var c Config
	if err := v.Unmarshal(&c, decoderConfig); err != nil {
		return nil, fmt.Errorf("%w:\n%w", ErrInvalid, decodeErrors(err))
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%w:\n%w", ErrInvalid, err)
	}
	return &c, nil
}

// decoderConfig makes decoding strict: unknown keys are errors, values are
// not converted between kinds except by the hooks below.
func decoderConfig(dc *mapstructure.DecoderConfig) {
	dc.ErrorUnused = true
	dc.WeaklyTypedInput = false
	dc.DecodeHook = mapstructure.ComposeDecodeHookFunc(
		mapstructure.DecodeHookFuncType(fillElementDefaults),
		mapstructure.DecodeHookFuncType(checkKind),
	)
}

// dropNulls removes the known keys of m, a section of type t, that are
// written with no value, as in a "log:" whose sub-keys are all commented
// out, so that their defaults apply as if they were absent. Unknown keys
// stay, for strict decoding to report.
func dropNulls(m map[string]any, t reflect.Type) {
	for key, val := range m {
		f, ok := fieldByKey(t, key)
		if !ok {
			continue
		}
		switch val := val.(type) {
		case nil:
			delete(m, key)
		case map[string]any:
			if f.Type.Kind() == reflect.Struct {
				dropNulls(val, f.Type)
			}
		}
	}
}

// fieldByKey returns the field of struct type t whose mapstructure key is
// key, ignoring case as decoding does.
func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		if strings.EqualFold(name, key) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// fillElementDefaults is a decode hook that adds the elementDefaults of the
// target type to a copy of its map of keys.
func fillElementDefaults(_, to reflect.Type, data any) (any, error) {
	defs, ok := elementDefaults[to]
	if !ok {
		return data, nil
	}
	m, ok := data.(map[string]any)
	if !ok {
		return data, nil
	}
	out := make(map[string]any, len(m)+len(defs))
	for k, v := range m {
		out[k] = v
	}
	for k, v := range defs {
		if out[k] == nil {
			out[k] = v
		}
	}
	return out, nil
}

var durationType = reflect.TypeFor[time.Duration]()

// checkKind is a decode hook that accepts a value only if its kind fits the
// target, with error messages in plain words. It parses durations ("30s")
// and splits comma-separated text into lists of text ("shop, bank").
func checkKind(from, to reflect.Type, data any) (any, error) {
	switch {
	case to == durationType:
		switch v := data.(type) {
		case time.Duration:
			return v, nil
		case string:
			d, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil {
				return nil, fmt.Errorf("%q is not a duration; write it like \"30s\" or \"1m30s\"", v)
			}
			return d, nil
		}
		if isNumber(from) {
			return nil, fmt.Errorf("%v needs a unit; write it like \"%vs\"", data, data)
		}
		return nil, fmt.Errorf("must be a duration like \"30s\", not %s", describe(data))
	case to.Kind() == reflect.String:
		if from.Kind() == reflect.String {
			return data, nil
		}
		if isNumber(from) || from.Kind() == reflect.Bool {
			return nil, fmt.Errorf("must be text; put %v in quotes", data)
		}
		return nil, fmt.Errorf("must be text, not %s", describe(data))
	case isInt(to):
		if isInt(from) {
			return data, nil
		}
		if f, ok := data.(float64); ok && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return int64(f), nil
		}
		return nil, fmt.Errorf("must be a whole number, not %s", describe(data))
	case to.Kind() == reflect.Slice:
		if from.Kind() == reflect.Slice {
			return data, nil
		}
		if s, ok := data.(string); ok && to.Elem().Kind() == reflect.String {
			return splitList(s), nil
		}
		return nil, fmt.Errorf("must be a list, not %s", describe(data))
	case to.Kind() == reflect.Struct:
		if from.Kind() == reflect.Map {
			return data, nil
		}
		return nil, fmt.Errorf("must be a set of keys, not %s", describe(data))
	}
	return data, nil
}

// splitList splits comma-separated text into its trimmed items.
func splitList(s string) []string {
	if strings.TrimSpace(s) == "" {
		return []string{}
	}
	items := strings.Split(s, ",")
	for i := range items {
		items[i] = strings.TrimSpace(items[i])
	}
	return items
}

func isInt(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

func isNumber(t reflect.Type) bool {
	return isInt(t) || t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64
}

// describe names a YAML value for error messages.
func describe(data any) string {
	t := reflect.TypeOf(data)
	switch {
	case isNumber(t):
		return fmt.Sprintf("the number %v", data)
	case t.Kind() == reflect.String:
		return fmt.Sprintf("the text %q", data)
	case t.Kind() == reflect.Bool:
		return fmt.Sprintf("%v", data)
	case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
		return "a list"
	case t.Kind() == reflect.Map:
		return "a set of keys"
	}
	return t.String()
}

// decodeErrors turns the errors of decoding into one [*FieldError] per key,
// joined.
func decodeErrors(err error) error {
	var out []error
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case *mapstructure.DecodeError:
			msg := e.Unwrap().Error()
			if keys, ok := strings.CutPrefix(msg, "has invalid keys: "); ok {
				// mapstructure names the root by its Go type
				// ("config.Config") where it has no key.
				parent := e.Name()
				if strings.HasPrefix(parent, "config.") {
					parent = ""
				}
				for key := range strings.SplitSeq(keys, ", ") {
					out = append(out, &FieldError{Path: joinPath(parent, key), Msg: "unknown key"})
				}
				return
			}
			out = append(out, &FieldError{Path: e.Name(), Msg: msg})
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				walk(inner)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		default:
			out = append(out, &FieldError{Msg: err.Error()})
		}
	}
	walk(err)
	return errors.Join(out...)
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}
