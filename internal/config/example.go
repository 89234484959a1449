package config

import _ "embed"

//go:embed example.yaml
var example string

// Example is a complete, commented configuration: every key with its
// default (`gatehouse config example`). TestExample keeps it complete and
// its values the defaults.
func Example() string { return example }
