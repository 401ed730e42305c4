// Package config reads and checks the smppmux configuration file.
//
// [Load] reads a YAML file (and [Parse] the same bytes from memory) into a
// [Config] in four steps:
//
//  1. defaults are set first, in a private viper instance;
//  2. the file is decoded strictly: a key smppmux does not know is an error
//     naming its path (for example upstreams[0].windw), as is a value of the
//     wrong kind (a number where a duration like "30s" is expected);
//  3. defaults of list elements (clients[].window, groups[].members[].weight,
//     ...) are filled only where the key is absent, so a value written
//     explicitly, such as weight: 0 to drain a member, is kept;
//  4. [Config.Validate] checks every value and every reference between
//     sections, and reports all problems at once, each as a [*FieldError]
//     naming its key path.
//
// Environment variables never override the file.
//
// The package starts no goroutines and keeps no state: a Config is a plain
// value, safe to read from many goroutines once loaded. Swapping configs on
// reload is the caller's business.
package config
