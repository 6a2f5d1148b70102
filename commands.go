package main

// The command table: names, synopses and help text of PRODUCT.md's interface.
func init() {
	register(command{name: "", usage: "", summary: "The terminal UI (setup wizard on first start).", run: notYet("")})
	register(command{name: "demo", usage: "demo [--users N]", summary: "The terminal UI against a built-in simulated tenant and PBX; nothing to configure.", run: notYet("demo")})
	register(command{name: "sync", usage: "sync [--users|--contacts|--all] [--dry-run] [--yes] [--allow-removals] [--json]",
		summary: "Plan, print the plan, and apply it (headless).\nExit 0 ok (skips and conflicts are not failures), 1 some writes failed, 2 stopped by a guard.", run: notYet("sync")})
	register(command{name: "serve", usage: "serve", summary: "The service: schedules, change notifications, calendar presence, contacts.", run: notYet("serve")})
	register(command{name: "check", usage: "check", summary: "Check the Graph token, each permission, the PBX login and version: one line each.\nExit 1 if any is not ok.", run: notYet("check")})
	register(command{name: "keygen", usage: "keygen [--days N] [--force]", summary: "Make a new key pair; print the public certificate path, thumbprint and expiry.", run: notYet("keygen")})
	register(command{name: "explain", usage: "explain USER", summary: "Every rule's verdict for one user (UPN, mail or object id).", run: notYet("explain")})
	register(command{name: "log", usage: "log [--json] [--run N] [--user USER]", summary: "The audit log, newest first.", run: notYet("log")})
	register(command{name: "config", usage: "config list | get KEY | set KEY VALUE | unset KEY", summary: "Read and change settings. Secrets are write-only.", run: notYet("config")})
	register(command{name: "sim", usage: "sim", summary: "Run the simulated tenant and PBX as local servers and print their URLs.", run: notYet("sim")})
	register(command{name: "sso", usage: "sso apply [--yes]", summary: "Write the tenant and app ID into the PBX's Microsoft 365 settings and enable sign-in there.", run: notYet("sso")})
	register(command{name: "service", usage: "service install [--enable] | status", summary: "Install or inspect the systemd unit for 'pbx365 serve'.", run: notYet("service")})
}
