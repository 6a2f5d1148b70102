package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/pbx365/pbx365/store"
)

// ConfigUsage is the synopsis of pbx365 config.
const ConfigUsage = "usage: pbx365 config list | get KEY | set KEY VALUE | unset KEY"

// defaultDataDir finds the data directory when none is given (a variable so
// tests need not touch the real one).
var defaultDataDir = store.DefaultDir

// exitUsage is the exit code for a malformed command line.
const exitUsage = 2

// Config is `pbx365 config list | get KEY | set KEY VALUE | unset KEY` on the
// store in dataDir ("" = the default data directory). list shows every
// setting by group with defaults marked and secrets as set / not set; set
// refuses a bad value (exit 1, naming the key and what is allowed) and then
// stores nothing; an unknown key exits 1 naming it and the nearest key.
// Malformed command lines exit 2.
func Config(ctx context.Context, dataDir string, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, ConfigUsage)
		return exitUsage
	}
	sub, rest := args[0], args[1:]
	want := map[string]int{"list": 0, "get": 1, "set": 2, "unset": 1}
	switch n, ok := want[sub]; {
	case sub == "-h" || sub == "--help" || sub == "help":
		fmt.Fprintln(stdout, ConfigUsage)
		fmt.Fprintln(stdout, "\nSettings are listed, with their meaning, by: pbx365 config list")
		return ExitOK
	case !ok:
		fmt.Fprintf(stderr, "pbx365 config: unknown subcommand %q\n%s\n", sub, ConfigUsage)
		return exitUsage
	case len(rest) != n:
		fmt.Fprintf(stderr, "pbx365 config %s: takes %s\n%s\n", sub, argsWanted(sub), ConfigUsage)
		return exitUsage
	}
	// Check the key before opening the store: a typo needs no state.db.
	if sub != "list" {
		if _, err := store.LookupKey(rest[0]); err != nil {
			fmt.Fprintf(stderr, "pbx365 config %s: %v\n", sub, err)
			return ExitFailed
		}
	}
	if err := ctx.Err(); err != nil {
		fmt.Fprintf(stderr, "pbx365 config: %v\n", err)
		return ExitFailed
	}
	if dataDir == "" {
		d, err := defaultDataDir()
		if err != nil {
			fmt.Fprintf(stderr, "pbx365 config: %v\n", err)
			return ExitFailed
		}
		dataDir = d
	}
	st, err := store.Open(dataDir)
	if err != nil {
		fmt.Fprintf(stderr, "pbx365 config: %v\n", err)
		return ExitFailed
	}
	defer st.Close()
	switch sub {
	case "list":
		err = configList(st, stdout)
	case "get":
		err = configGet(st, rest[0], stdout, stderr)
	case "set":
		err = configSet(st, rest[0], rest[1], stdout, stderr)
	default:
		err = configUnset(st, rest[0], stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "pbx365 config %s: %v\n", sub, err)
		return ExitFailed
	}
	return ExitOK
}

func argsWanted(sub string) string {
	switch sub {
	case "list":
		return "no arguments"
	case "set":
		return "KEY and VALUE (quote a value with spaces or commas and spaces)"
	}
	return "one KEY"
}

// shown is a value as list prints it: the value, or a description of the
// default, with "(default)" or "(not set)".
func shown(v store.Value) string {
	switch {
	case v.Key.Secret:
		return v.Text
	case v.Set:
		return v.Text
	case v.Text != "":
		return v.Text + "  (default)"
	case v.Key.DefaultText != "":
		return "(" + v.Key.DefaultText + ", default)"
	}
	return "(not set)"
}

func configList(st *store.Store, w io.Writer) error {
	values, err := st.List()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, g := range store.Groups {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		fmt.Fprintf(tw, "%s\n", g)
		for _, v := range values {
			if v.Key.Group == g {
				fmt.Fprintf(tw, "  %s\t%s\n", v.Key.Name, shown(v))
			}
		}
	}
	return tw.Flush()
}

// configGet prints the effective value alone (for scripts); a key without
// any value prints nothing and says so on stderr.
func configGet(st *store.Store, key string, stdout, stderr io.Writer) error {
	v, err := st.Get(key)
	if err != nil {
		return err
	}
	if v.Text == "" {
		if v.Key.DefaultText != "" {
			fmt.Fprintf(stderr, "%s is not set (default: %s)\n", v.Key.Name, v.Key.DefaultText)
		} else {
			fmt.Fprintf(stderr, "%s is not set\n", v.Key.Name)
		}
		return nil
	}
	fmt.Fprintln(stdout, v.Text)
	return nil
}

func configSet(st *store.Store, key, value string, stdout, stderr io.Writer) error {
	norm, err := st.Set(key, value)
	if err != nil {
		var se *store.SettingError
		if errors.As(err, &se) {
			k, _ := store.LookupKey(key)
			return fmt.Errorf("%w\n%s: %s", err, k.Name, k.Help)
		}
		return err
	}
	k, _ := store.LookupKey(key)
	if k.Secret {
		fmt.Fprintf(stdout, "%s set\n", k.Name)
	} else {
		fmt.Fprintf(stdout, "%s = %s\n", k.Name, norm)
	}
	if advice := store.Advice(k.Name, norm); advice != "" {
		fmt.Fprintf(stderr, "note: %s\n", advice)
	}
	return nil
}

func configUnset(st *store.Store, key string, w io.Writer) error {
	if err := st.Unset(key); err != nil {
		return err
	}
	k, _ := store.LookupKey(key)
	if label := k.DefaultLabel(); label != "" {
		fmt.Fprintf(w, "%s unset (default: %s)\n", k.Name, label)
	} else {
		fmt.Fprintf(w, "%s unset\n", k.Name)
	}
	return nil
}
