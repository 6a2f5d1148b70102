// Command pbx365 connects a Microsoft 365 tenant to a 3CX V20 phone system: a
// terminal UI to set it up and preview every change, headless commands for
// scripts, and a service that keeps users, phonebooks and presence current.
//
// This file is wiring only: the command table, global flags and signals.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one entry of the command table.
type command struct {
	name    string
	usage   string // the synopsis after "pbx365 "
	summary string
	run     func(ctx context.Context, env *cmdEnv, args []string) int
}

// cmdEnv carries what every command gets from the global flags.
type cmdEnv struct {
	dataDir string
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer
}

var commands []command

func register(c command) { commands = append(commands, c) }

func findCommand(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run parses the global flags and dispatches to a command.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	global := flag.NewFlagSet("pbx365", flag.ContinueOnError)
	global.SetOutput(stderr)
	dataDir := global.String("data-dir", os.Getenv("PBX365_DATA_DIR"), "state directory (env PBX365_DATA_DIR)")
	global.Usage = func() { usage(stderr) }
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout)
			return 0
		}
		return 2
	}
	env := &cmdEnv{dataDir: *dataDir, stdin: stdin, stdout: stdout, stderr: stderr}
	rest := global.Args()
	name := "" // no command: the TUI
	if len(rest) > 0 {
		name, rest = rest[0], rest[1:]
	}
	if name == "help" {
		if len(rest) > 0 {
			if c, ok := findCommand(rest[0]); ok {
				fmt.Fprintf(stdout, "usage: pbx365 %s\n\n%s\n", c.usage, c.summary)
				return 0
			}
		}
		usage(stdout)
		return 0
	}
	c, ok := findCommand(name)
	if !ok {
		fmt.Fprintf(stderr, "pbx365: unknown command %q\n\n", name)
		usage(stderr)
		return 2
	}
	return c.run(ctx, env, rest)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "pbx365 connects Microsoft 365 to a 3CX V20 phone system.")
	fmt.Fprintln(w, "\nusage: pbx365 [--data-dir DIR] [command] [flags]")
	fmt.Fprintln(w, "\ncommands:")
	cs := append([]command(nil), commands...)
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	for _, c := range cs {
		name := c.name
		if name == "" {
			name = "(none)"
		}
		fmt.Fprintf(w, "  %-10s %s\n", name, firstLine(c.summary))
	}
	fmt.Fprintln(w, "\nRun 'pbx365 COMMAND --help' for a command's flags.")
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// newFlags makes a command's flag set with --help text from the table.
func newFlags(env *cmdEnv, c command) *flag.FlagSet {
	fs := flag.NewFlagSet("pbx365 "+c.name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.stderr, "usage: pbx365 %s\n\n%s\n", c.usage, c.summary)
		if hasFlags(fs) {
			fmt.Fprintln(env.stderr, "\nflags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// parseFlags parses a command's flags; ok is false when the command must
// return code (help was shown: 0; a bad flag: 2).
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	return 0, true
}
