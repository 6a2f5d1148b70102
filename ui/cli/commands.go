package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pbx365/pbx365/graphclient"
	"github.com/pbx365/pbx365/store"
	"github.com/pbx365/pbx365/sync/app"
	"github.com/pbx365/pbx365/sync/notify"
	"github.com/pbx365/pbx365/sync/plan"
	"github.com/pbx365/pbx365/sync/users"
)

// openApp opens the data directory or prints why not.
func openApp(dataDir string, sio IO, cmd string) (*app.App, bool) {
	a, err := app.Open(dataDir)
	if err != nil {
		fmt.Fprintf(sio.Err, "pbx365 %s: %v\n", cmd, err)
		return nil, false
	}
	return a, true
}

// What pbx365 sync syncs.
const (
	SyncWhatUsers    = "users"
	SyncWhatContacts = "contacts"
	SyncWhatAll      = "all"
)

// Sync is pbx365 sync: users, contacts, or users then contacts, headless.
func Sync(ctx context.Context, dataDir string, opt SyncOptions, sio IO) int {
	a, ok := openApp(dataDir, sio, "sync")
	if !ok {
		return ExitFailed
	}
	defer a.Close()
	fail := func(err error) int {
		fmt.Fprintf(sio.Err, "pbx365 sync: %v\n", err)
		return ExitFailed
	}
	switch opt.What {
	case SyncWhatContacts:
		ceng, err := a.Contacts(ctx)
		if err != nil {
			return fail(err)
		}
		return SyncContacts(ctx, ceng, opt, sio)
	case SyncWhatAll:
		ueng, err := a.Users(ctx)
		if err != nil {
			return fail(err)
		}
		ceng, err := a.Contacts(ctx)
		if err != nil {
			return fail(err)
		}
		return SyncAll(ctx, ueng, ceng, opt, sio)
	}
	eng, err := a.Users(ctx)
	if err != nil {
		return fail(err)
	}
	return SyncUsers(ctx, eng, opt, sio)
}

// Keygen is pbx365 keygen: a new key pair, the old one kept while it still works.
func Keygen(dataDir string, days int, force bool, sio IO) int {
	a, ok := openApp(dataDir, sio, "keygen")
	if !ok {
		return ExitFailed
	}
	defer a.Close()
	kf, err := a.KeyFile()
	if err != nil {
		fmt.Fprintf(sio.Err, "pbx365 keygen: %v\n", err)
		return ExitFailed
	}
	info, err := graphclient.Keygen(kf, time.Duration(days)*24*time.Hour, force)
	if err != nil {
		fmt.Fprintf(sio.Err, "pbx365 keygen: %v\n", err)
		return ExitFailed
	}
	fmt.Fprintf(sio.Out, "public certificate: %s\n", info.PublicFile)
	fmt.Fprintf(sio.Out, "thumbprint:         %s\n", info.ThumbprintSHA1)
	fmt.Fprintf(sio.Out, "sha-256:            %s\n", info.ThumbprintSHA256)
	fmt.Fprintf(sio.Out, "expires:            %s\n", info.NotAfter.UTC().Format(time.DateOnly))
	fmt.Fprintf(sio.Out, "private key:        %s (mode 0600; never leaves this machine)\n", info.KeyFile)
	if info.RotatedFrom != "" {
		fmt.Fprintf(sio.Out, "previous key kept:  %s (still used until the new certificate works)\n", info.RotatedFrom)
	}
	fmt.Fprintln(sio.Out, "\nUpload the public certificate in the Entra admin center: App registrations → your app →")
	fmt.Fprintln(sio.Out, "Certificates & secrets → Certificates → Upload certificate. Then run: pbx365 check")
	return ExitOK
}

// Check is pbx365 check: the Microsoft and PBX checks, one line each.
func Check(ctx context.Context, dataDir string, sio IO) int {
	a, ok := openApp(dataDir, sio, "check")
	if !ok {
		return ExitFailed
	}
	defer a.Close()
	failed := false
	line := func(status, item, detail string) {
		if status != "ok" {
			failed = true
		}
		l := fmt.Sprintf("%-7s %s", status, item)
		if detail != "" {
			l += ": " + detail
		}
		fmt.Fprintln(sio.Out, l)
	}
	if g, err := a.Graph(ctx); err != nil {
		line("error", "microsoft 365", err.Error())
	} else {
		for _, l := range g.CheckLines(ctx) {
			line(l.Status, l.Item, l.Detail)
		}
	}
	if p, err := a.PBX(); err != nil {
		line("error", "pbx", err.Error())
	} else {
		for _, r := range p.Check(ctx) {
			line(r.Status, r.Name, r.Detail)
		}
	}
	// Change notifications are optional: checked only when configured.
	if st, err := a.Store.Settings(); err == nil && st.Notify.PublicURL != "" {
		for _, l := range notify.Check(ctx, notify.FromSettings(st.Notify), nil) {
			line(l.Status, l.Item, l.Detail)
		}
	}
	if failed {
		return ExitFailed
	}
	return ExitOK
}

// Explain is pbx365 explain USER: every rule's verdict for one user.
func Explain(ctx context.Context, dataDir, who string, asJSON bool, sio IO) int {
	a, ok := openApp(dataDir, sio, "explain")
	if !ok {
		return ExitFailed
	}
	defer a.Close()
	eng, err := a.Users(ctx)
	if err != nil {
		fmt.Fprintf(sio.Err, "pbx365 explain: %v\n", err)
		return ExitFailed
	}
	snap, err := eng.Read(ctx, users.Options{Full: true})
	if err != nil {
		fmt.Fprintf(sio.Err, "pbx365 explain: %v\n", err)
		return ExitFailed
	}
	ex, err := plan.Explain(snap.Input, who)
	if err != nil {
		fmt.Fprintf(sio.Err, "pbx365 explain: %v\n", err)
		return ExitFailed
	}
	if asJSON {
		json.NewEncoder(sio.Out).Encode(ex)
		return ExitOK
	}
	fmt.Fprint(sio.Out, ex.Text())
	return ExitOK
}

// LogOptions are the flags of pbx365 log.
type LogOptions struct {
	JSON  bool
	Run   uint64
	User  string
	Limit int
}

// Log is pbx365 log: the audit log, newest first.
func Log(ctx context.Context, dataDir string, opt LogOptions, sio IO) int {
	a, ok := openApp(dataDir, sio, "log")
	if !ok {
		return ExitFailed
	}
	defer a.Close()
	q := store.AuditQuery{Run: opt.Run, User: opt.User, Limit: opt.Limit}
	if opt.JSON {
		if err := a.Store.ExportAudit(ctx, sio.Out, q); err != nil {
			fmt.Fprintf(sio.Err, "pbx365 log: %v\n", err)
			return ExitFailed
		}
		return ExitOK
	}
	if q.Limit == 0 {
		q.Limit = 200
	}
	page, err := a.Store.Audit(q)
	if err != nil {
		fmt.Fprintf(sio.Err, "pbx365 log: %v\n", err)
		return ExitFailed
	}
	if len(page.Items) == 0 {
		fmt.Fprintln(sio.Out, "The audit log is empty: nothing has been synced yet.")
		return ExitOK
	}
	tw := tabwriter.NewWriter(sio.Out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tRUN\tACTION\tNUMBER\tUSER\tRESULT\tDETAIL")
	for _, it := range page.Items {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", it.Time.Local().Format("2006-01-02 15:04:05"), it.Run, it.Action,
			dash(it.Number), dash(it.UPN), it.Result, auditDetail(it))
	}
	tw.Flush()
	if page.Next != 0 {
		fmt.Fprintf(sio.Out, "(more: --limit %d, or filter with --run / --user)\n", q.Limit*2)
	}
	return ExitOK
}

func auditDetail(it store.RunItem) string {
	if it.Error != "" {
		return it.Error
	}
	var after map[string]string
	if json.Unmarshal(it.After, &after) != nil || len(after) == 0 {
		return it.Rule
	}
	parts := make([]string, 0, len(after))
	for _, k := range sortedKeys(after) {
		parts = append(parts, k+"="+after[k])
	}
	return strings.Join(parts, " ")
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	for i := 1; i < len(ks); i++ {
		for j := i; j > 0 && ks[j] < ks[j-1]; j-- {
			ks[j], ks[j-1] = ks[j-1], ks[j]
		}
	}
	return ks
}

// SimOptions are the flags of pbx365 sim.
type SimOptions struct {
	Users     int
	Seed      int64
	GraphAddr string
	PBXAddr   string
}

// Sim is pbx365 sim: both simulators as local servers until interrupted.
func Sim(ctx context.Context, opt SimOptions, sio IO) int {
	dir, err := os.MkdirTemp("", "pbx365-sim-")
	if err != nil {
		fmt.Fprintf(sio.Err, "pbx365 sim: %v\n", err)
		return ExitFailed
	}
	defer os.RemoveAll(dir)
	s, err := app.StartSims(app.SimOptions{Seed: opt.Seed, Users: opt.Users, GraphAddr: opt.GraphAddr, PBXAddr: opt.PBXAddr, Dir: dir})
	if err != nil {
		fmt.Fprintf(sio.Err, "pbx365 sim: %v\n", err)
		return ExitFailed
	}
	defer s.Close()
	w := sio.Out
	fmt.Fprintf(w, "Simulated Microsoft 365 tenant (%d users)\n", opt.Users)
	fmt.Fprintf(w, "  login (ms.login_url):  %s\n", s.M365.URL())
	fmt.Fprintf(w, "  graph (ms.graph_url):  %s\n", s.M365.GraphURL())
	fmt.Fprintf(w, "  CA file (ms.ca_file):  %s\n", s.GraphCA)
	fmt.Fprintf(w, "  tenant, app ID:        %s, %s\n", s.M365.TenantID(), s.M365.ClientID())
	fmt.Fprintf(w, "  certificate to use:    %s (uploaded; thumbprint %s)\n", s.KeyFile, s.KeyInfo.ThumbprintSHA1)
	fmt.Fprintf(w, "  control API:           %s/_sim/ (key %s)\n", s.M365.URL(), s.M365.ControlKey())
	fmt.Fprintf(w, "Simulated 3CX V20 PBX\n")
	fmt.Fprintf(w, "  URL (pbx.url):         %s\n", s.PBX.URL())
	fmt.Fprintf(w, "  CA file (pbx.ca_file): %s\n", s.PBXCA)
	fmt.Fprintf(w, "  API client ID, key:    %s, %s\n", s.PBX.ClientID(), s.PBX.Secret())
	fmt.Fprintf(w, "  control API:           %s/_sim/ (key %s)\n", s.PBX.URL(), s.PBX.ControlKey())
	fmt.Fprintf(w, "\nPoint pbx365 at them (use a data dir of its own, e.g. --data-dir /tmp/pbx365-try):\n")
	set := s.Settings()
	for _, k := range []string{"ms.tenant", "ms.client_id", "ms.login_url", "ms.graph_url", "ms.key_file", "ms.ca_file", "pbx.url", "pbx.client_id", "pbx.secret", "pbx.ca_file"} {
		fmt.Fprintf(w, "  pbx365 config set %s '%s'\n", k, set[k])
	}
	fmt.Fprintf(w, "\nFiles live in %s and are removed on exit. Ctrl+C stops the simulators.\n", dir)
	<-ctx.Done()
	return ExitOK
}
