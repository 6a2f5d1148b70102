package main

import (
	"context"
	"fmt"
	"time"

	"github.com/pbx365/pbx365/ui/cli"
)

// The command table: names, synopses and help text of PRODUCT.md's interface.
func init() {
	register(command{name: "", usage: "", summary: "The terminal UI (setup wizard on first start); attaches to a running pbx365 serve.", run: runTUI})
	register(command{name: "demo", usage: "demo [--users N]", summary: "The terminal UI against a built-in simulated tenant and PBX; nothing to configure.", run: runDemo})
	register(command{name: "sync", usage: "sync [--users|--contacts|--all] [--dry-run] [--yes] [--allow-removals] [--json]",
		summary: "Plan, print the plan, and apply it (headless): a full reconcile.\nExit 0 ok (skips and conflicts are not failures), 1 some writes failed, 2 stopped by a guard.", run: runSync})
	register(command{name: "serve", usage: "serve", summary: "The service: schedules, change notifications, calendar presence, contacts.\nSIGTERM or SIGINT: writes in flight finish and settle, then it exits 0.", run: runServe})
	register(command{name: "check", usage: "check", summary: "Check the Graph token, each permission, the PBX login and version: one line each.\nExit 1 if any is not ok.", run: runCheck})
	register(command{name: "keygen", usage: "keygen [--days N] [--force]", summary: "Make a new key pair; print the public certificate path, thumbprint and expiry.\nAn existing pair is kept beside the new one until the new certificate works.", run: runKeygen})
	register(command{name: "explain", usage: "explain [--json] USER", summary: "Every rule's verdict for one user (UPN, mail or object id), and the change it leads to.", run: runExplain})
	register(command{name: "log", usage: "log [--json] [--run N] [--user USER] [--limit N]", summary: "The audit log, newest first.", run: runLog})
	register(command{name: "config", usage: "config list | get KEY | set KEY VALUE | unset KEY", summary: "Read and change settings. Secrets are write-only.", run: runConfig})
	register(command{name: "sim", usage: "sim [--users N] [--seed N] [--graph-addr ADDR] [--pbx-addr ADDR]", summary: "Run the simulated tenant and PBX as local servers and print their URLs.", run: runSim})
	register(command{name: "bench", usage: "bench [--users N] [--changes N] [--graph-latency D] [--pbx-latency D]",
		summary: "Measure a full sync and an incremental sync against the simulators with injected latency.", run: runBench})
	register(command{name: "sso", usage: "sso apply [--yes]", summary: "Write the tenant and app ID into the PBX's Microsoft 365 settings and enable sign-in there.\nShows the change first; never turns on 3CX's own user sync.", run: runSSO})
	register(command{name: "service", usage: "service install [--enable] | status", summary: "Install or inspect the systemd unit for 'pbx365 serve'.", run: runService})
}

func (env *cmdEnv) io() cli.IO { return cli.IO{In: env.stdin, Out: env.stdout, Err: env.stderr} }

func runSync(ctx context.Context, env *cmdEnv, args []string) int {
	c, _ := findCommand("sync")
	fs := newFlags(env, c)
	usersOnly := fs.Bool("users", false, "sync users (the default)")
	contacts := fs.Bool("contacts", false, "sync contacts")
	all := fs.Bool("all", false, "sync users, then contacts")
	var opt cli.SyncOptions
	fs.BoolVar(&opt.DryRun, "dry-run", false, "print the plan, write nothing")
	fs.BoolVar(&opt.Yes, "yes", false, "apply without asking")
	fs.BoolVar(&opt.AllowRemovals, "allow-removals", false, "go past the removal threshold (users.max_removals)")
	fs.BoolVar(&opt.JSON, "json", false, "print JSON lines")
	delta := fs.Bool("delta", false, "incremental: users delta from the stored token, as serve does every interval (a rejected token falls back to a full reconcile)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	switch {
	case btoi(*usersOnly)+btoi(*contacts)+btoi(*all) > 1:
		fmt.Fprintln(env.stderr, "pbx365 sync: give one of --users, --contacts, --all")
		return 2
	case *contacts:
		opt.What = cli.SyncWhatContacts
	case *all:
		opt.What = cli.SyncWhatAll
	}
	opt.Full = !*delta
	return cli.Sync(ctx, env.dataDir, opt, env.io())
}

func runCheck(ctx context.Context, env *cmdEnv, args []string) int {
	c, _ := findCommand("check")
	if code, ok := parseFlags(newFlags(env, c), args); !ok {
		return code
	}
	return cli.Check(ctx, env.dataDir, env.io())
}

func runKeygen(_ context.Context, env *cmdEnv, args []string) int {
	c, _ := findCommand("keygen")
	fs := newFlags(env, c)
	days := fs.Int("days", 730, "validity of the certificate in days")
	force := fs.Bool("force", false, "make a new pair even when the current one is still valid")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	return cli.Keygen(env.dataDir, *days, *force, env.io())
}

func runExplain(ctx context.Context, env *cmdEnv, args []string) int {
	c, _ := findCommand("explain")
	fs := newFlags(env, c)
	asJSON := fs.Bool("json", false, "print JSON")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	return cli.Explain(ctx, env.dataDir, fs.Arg(0), *asJSON, env.io())
}

func runLog(ctx context.Context, env *cmdEnv, args []string) int {
	c, _ := findCommand("log")
	fs := newFlags(env, c)
	var opt cli.LogOptions
	fs.BoolVar(&opt.JSON, "json", false, "print JSON lines")
	fs.Uint64Var(&opt.Run, "run", 0, "only this run")
	fs.StringVar(&opt.User, "user", "", "only this user (object id, UPN or number)")
	fs.IntVar(&opt.Limit, "limit", 0, "at most this many lines (0: 200, or all with --json)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	return cli.Log(ctx, env.dataDir, opt, env.io())
}

func runConfig(ctx context.Context, env *cmdEnv, args []string) int {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
		c, _ := findCommand("config")
		newFlags(env, c).Usage()
		return 0
	}
	return cli.Config(ctx, env.dataDir, args, env.stdout, env.stderr)
}

func runSim(ctx context.Context, env *cmdEnv, args []string) int {
	c, _ := findCommand("sim")
	fs := newFlags(env, c)
	var opt cli.SimOptions
	fs.IntVar(&opt.Users, "users", 300, "directory users (10 to 100000)")
	fs.Int64Var(&opt.Seed, "seed", 1, "generator seed")
	fs.StringVar(&opt.GraphAddr, "graph-addr", "127.0.0.1:0", "listen address of the simulated tenant")
	fs.StringVar(&opt.PBXAddr, "pbx-addr", "127.0.0.1:0", "listen address of the simulated PBX")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	return cli.Sim(ctx, opt, env.io())
}

func runBench(ctx context.Context, env *cmdEnv, args []string) int {
	c, _ := findCommand("bench")
	fs := newFlags(env, c)
	opt := cli.BenchOptions{Concurrency: 8}
	fs.IntVar(&opt.Users, "users", 10000, "directory users")
	fs.IntVar(&opt.Changes, "changes", 100, "directory changes before the incremental sync")
	fs.DurationVar(&opt.GraphLatency, "graph-latency", 30*time.Millisecond, "latency added to every Graph request")
	fs.DurationVar(&opt.PBXLatency, "pbx-latency", 15*time.Millisecond, "latency added to every PBX request")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	return cli.Bench(ctx, opt, env.io())
}

func runSSO(ctx context.Context, env *cmdEnv, args []string) int {
	c, _ := findCommand("sso")
	fs := newFlags(env, c)
	yes := fs.Bool("yes", false, "write without asking")
	if len(args) == 0 || args[0] != "apply" {
		fs.Usage()
		return 2
	}
	if code, ok := parseFlags(fs, args[1:]); !ok {
		return code
	}
	return cli.SSOApply(ctx, env.dataDir, *yes, env.io())
}

func runServe(ctx context.Context, env *cmdEnv, args []string) int {
	c, _ := findCommand("serve")
	if code, ok := parseFlags(newFlags(env, c), args); !ok {
		return code
	}
	return cli.Serve(ctx, env.dataDir, env.io())
}

func runService(_ context.Context, env *cmdEnv, args []string) int {
	c, _ := findCommand("service")
	fs := newFlags(env, c)
	if len(args) == 0 {
		fs.Usage()
		return 2
	}
	switch args[0] {
	case "install":
		var opt cli.ServiceOptions
		fs.BoolVar(&opt.Enable, "enable", false, "systemctl enable --now the unit")
		fs.StringVar(&opt.UnitDir, "unit-dir", "/etc/systemd/system", "where to write pbx365.service")
		if code, ok := parseFlags(fs, args[1:]); !ok {
			return code
		}
		return cli.ServiceInstall(env.dataDir, opt, env.io())
	case "status":
		if code, ok := parseFlags(fs, args[1:]); !ok {
			return code
		}
		return cli.ServiceStatus(env.dataDir, env.io())
	}
	fs.Usage()
	return 2
}

func runTUI(ctx context.Context, env *cmdEnv, args []string) int {
	return cli.TUI(ctx, env.dataDir, env.io())
}

func runDemo(ctx context.Context, env *cmdEnv, args []string) int {
	c, _ := findCommand("demo")
	fs := newFlags(env, c)
	var opt cli.DemoOptions
	fs.IntVar(&opt.Users, "users", 300, "directory users of the simulated tenant (10 to 100000)")
	fs.Int64Var(&opt.Seed, "seed", 1, "generator seed")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	return cli.Demo(ctx, opt, env.io())
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
