package config

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// keyCase finds the keys of raw, the file's tree, that differ from a known
// key only in case ("LISTEN:", "clients[0].Password"), and the keys of one
// section written more than once in different cases ("listen:" and
// "Listen:"). viper folds case, so either would pass strict decoding
// unseen, and of a key written twice one would be dropped silently.
// Unknown keys are left to strict decoding, which names them.
func keyCase(raw map[string]any) []error {
	var errs []error
	walkKeys(raw, reflect.TypeFor[Config](), "", &errs)
	return errs
}

func walkKeys(m map[string]any, t reflect.Type, path string, errs *[]error) {
	byFold := make(map[string][]string, len(m))
	for k := range m {
		byFold[strings.ToLower(k)] = append(byFold[strings.ToLower(k)], k)
	}
	folds := make([]string, 0, len(byFold))
	for f := range byFold {
		folds = append(folds, f)
	}
	slices.Sort(folds)
	for _, folded := range folds {
		keys := byFold[folded]
		f, known := fieldByKey(t, folded)
		name := folded
		if known {
			name, _, _ = strings.Cut(f.Tag.Get("mapstructure"), ",")
		}
		if len(keys) > 1 {
			slices.Sort(keys)
			quoted := make([]string, len(keys))
			for i, k := range keys {
				quoted[i] = strconv.Quote(k)
			}
			*errs = append(*errs, &FieldError{Path: joinPath(path, name),
				Msg: fmt.Sprintf("written %d times, as %s: keys are not told apart by case; keep one, in lower case",
					len(keys), strings.Join(quoted, ", "))})
			continue
		}
		if !known {
			continue // strict decoding names it
		}
		if k := keys[0]; k != name {
			*errs = append(*errs, &FieldError{Path: joinPath(path, k),
				Msg: fmt.Sprintf("keys are written in lower case: %s", name)})
		}
		walkValue(m[keys[0]], f.Type, joinPath(path, name), errs)
	}
}

// walkValue walks val, the value of a key of type t, into the sections
// and list elements it holds.
func walkValue(val any, t reflect.Type, path string, errs *[]error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch v := val.(type) {
	case map[string]any:
		if t.Kind() == reflect.Struct {
			walkKeys(v, t, path, errs)
		}
	case []any:
		if t.Kind() == reflect.Slice {
			for i, e := range v {
				walkValue(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs)
			}
		}
	}
}
