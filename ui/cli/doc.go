// Package cli holds pbx365's headless commands: sync, check, keygen, explain,
// log and config. Each is a function that takes the data directory, its
// arguments and where to write, and returns the process exit code; main only
// parses global flags and calls them.
package cli
