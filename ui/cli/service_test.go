package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestServiceInstallWritesAHardenedUnit(t *testing.T) {
	units := t.TempDir()
	var out, errb bytes.Buffer
	code := ServiceInstall("/var/lib/pbx365", ServiceOptions{UnitDir: units, Binary: "/usr/local/bin/pbx365"}, IO{Out: &out, Err: &errb})
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	b, err := os.ReadFile(filepath.Join(units, "pbx365.service"))
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for _, want := range []string{"ExecStart=/usr/local/bin/pbx365 --data-dir /var/lib/pbx365 serve", "Restart=on-failure",
		"StateDirectory=pbx365", "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes", "WantedBy=multi-user.target"} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q:\n%s", want, unit)
		}
	}
	if !strings.Contains(out.String(), "systemctl") {
		t.Errorf("no start instructions: %s", out.String())
	}
	// Another data dir: no StateDirectory, but write access to it.
	u, _ := Unit("/srv/pbx", "/opt/pbx365")
	if strings.Contains(u, "StateDirectory") || !strings.Contains(u, "ReadWritePaths=/srv/pbx") {
		t.Errorf("unit for /srv/pbx:\n%s", u)
	}
}

func TestServiceStatusSeesARunningServe(t *testing.T) {
	data, _ := simDataDir(t, 10, map[string]string{"schedule.delta_interval": "1h"})
	var out bytes.Buffer
	if code := ServiceStatus(data, IO{Out: &out}); code != 3 || !strings.Contains(out.String(), "not running") {
		t.Fatalf("before: exit %d %q", code, out.String())
	}
	cmd, _ := startServe(t, data)
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	waitFor(t, 30*time.Second, "serve to hold the store", func() bool {
		out.Reset()
		return ServiceStatus(data, IO{Out: &out}) == ExitOK
	})
	if !strings.Contains(out.String(), "running") {
		t.Fatalf("status %q", out.String())
	}
}
