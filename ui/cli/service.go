package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/pbx365/pbx365/store"
	"github.com/pbx365/pbx365/ui/backend"
)

// ServiceOptions are the flags of pbx365 service install.
type ServiceOptions struct {
	UnitDir string // where the unit goes (default /etc/systemd/system)
	Binary  string // the pbx365 binary (default: this one)
	Enable  bool   // systemctl daemon-reload, then enable --now
}

var unitTemplate = template.Must(template.New("unit").Parse(`# Written by pbx365 service install. Rewrite it with that command.
[Unit]
Description=pbx365: Microsoft 365 to 3CX sync service
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart={{.Binary}} --data-dir {{.DataDir}} serve
Restart=on-failure
RestartSec=10s
TimeoutStopSec=120s
{{if .StateDirectory}}StateDirectory={{.StateDirectory}}
StateDirectoryMode=0700
{{else}}ReadWritePaths={{.DataDir}}
{{end}}UMask=0077
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=read-only
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6

[Install]
WantedBy=multi-user.target
`))

// Unit renders the systemd unit for a data dir and binary. A data dir under
// /var/lib becomes the unit's StateDirectory (systemd creates it 0700).
func Unit(dataDir, binary string) (string, error) {
	data := struct{ Binary, DataDir, StateDirectory string }{Binary: binary, DataDir: dataDir}
	if rel, ok := strings.CutPrefix(filepath.Clean(dataDir), "/var/lib/"); ok && rel != "" {
		data.StateDirectory = rel
	}
	var b bytes.Buffer
	if err := unitTemplate.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

// ServiceInstall is pbx365 service install: write the unit, optionally
// enable and start it, and say how to start it.
func ServiceInstall(dataDir string, opt ServiceOptions, sio IO) int {
	if dataDir == "" {
		d, err := store.DefaultDir()
		if err != nil {
			fmt.Fprintf(sio.Err, "pbx365 service install: %v\n", err)
			return ExitFailed
		}
		dataDir = d
	}
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		fmt.Fprintf(sio.Err, "pbx365 service install: %v\n", err)
		return ExitFailed
	}
	bin := opt.Binary
	if bin == "" {
		if bin, err = os.Executable(); err != nil {
			fmt.Fprintf(sio.Err, "pbx365 service install: %v\n", err)
			return ExitFailed
		}
	}
	if strings.Contains(bin, "go-build") {
		fmt.Fprintln(sio.Err, "pbx365 service install: this binary is a temporary `go run` build; install pbx365 (go build -o /usr/local/bin/pbx365 .) and run it from there")
		return ExitFailed
	}
	unit, err := Unit(abs, bin)
	if err != nil {
		fmt.Fprintf(sio.Err, "pbx365 service install: %v\n", err)
		return ExitFailed
	}
	dir := opt.UnitDir
	if dir == "" {
		dir = "/etc/systemd/system"
	}
	path := filepath.Join(dir, "pbx365.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		fmt.Fprintf(sio.Err, "pbx365 service install: write %s: %v (run as root)\n", path, err)
		return ExitFailed
	}
	fmt.Fprintf(sio.Out, "wrote %s\n", path)
	if opt.Enable {
		for _, args := range [][]string{{"daemon-reload"}, {"enable", "--now", "pbx365.service"}} {
			out, err := exec.Command("systemctl", args...).CombinedOutput()
			if err != nil {
				fmt.Fprintf(sio.Err, "pbx365 service install: systemctl %s: %v %s\n", strings.Join(args, " "), err, bytes.TrimSpace(out))
				return ExitFailed
			}
		}
		fmt.Fprintln(sio.Out, "enabled and started: systemctl status pbx365; journalctl -u pbx365 -f")
		return ExitOK
	}
	fmt.Fprintln(sio.Out, "start it with: systemctl daemon-reload && systemctl enable --now pbx365")
	fmt.Fprintln(sio.Out, "follow its log: journalctl -u pbx365 -f")
	return ExitOK
}

// ServiceStatus is pbx365 service status: whether the service runs on this
// data dir.
func ServiceStatus(dataDir string, sio IO) int {
	if dataDir == "" {
		d, err := store.DefaultDir()
		if err != nil {
			fmt.Fprintf(sio.Err, "pbx365 service status: %v\n", err)
			return ExitFailed
		}
		dataDir = d
	}
	r, err := backend.Dial(context.Background(), dataDir)
	if err != nil {
		if o, ok := store.Holder(dataDir); ok {
			fmt.Fprintf(sio.Out, "not running as a service; the store is held by %s\n", o)
		} else {
			fmt.Fprintf(sio.Out, "not running: nothing answers on %s\n", backend.SocketPath(dataDir))
		}
		return 3 // as systemctl is-active: inactive
	}
	defer r.Close()
	st, err := r.Status(context.Background())
	if err != nil {
		fmt.Fprintf(sio.Err, "pbx365 service status: %v\n", err)
		return ExitFailed
	}
	fmt.Fprintf(sio.Out, "running since %s (pid %d)\n", st.Since.Local().Format(time.DateTime), st.PID)
	switch {
	case st.Running:
		fmt.Fprintln(sio.Out, "a sync run is applying now")
	case !st.NextRun.IsZero():
		fmt.Fprintf(sio.Out, "next run at %s", st.NextRun.Local().Format(time.DateTime))
		if !st.NextFull.IsZero() {
			fmt.Fprintf(sio.Out, ", nightly full reconcile at %s", st.NextFull.Local().Format(time.DateTime))
		}
		fmt.Fprintln(sio.Out)
	}
	if st.Last != nil {
		state := "ok"
		if st.Last.Failed() {
			state = "needs attention"
		}
		fmt.Fprintf(sio.Out, "last run: %s %s at %s, %s\n", st.Last.Kind, st.Last.Reason, st.Last.Finished.Local().Format(time.DateTime), state)
	}
	if st.Waiting != "" {
		fmt.Fprintf(sio.Out, "waiting for the admin: %s\n", st.Waiting)
	}
	return ExitOK
}
