// Package backend implements the TUI's Backend (ui/common.Backend): Local runs
// everything in this process on the store and the sync engines (sync/app);
// Remote talks to a running pbx365 serve over its unix socket, and Serve is
// the service's side of that socket, so a TUI attached to the service works
// exactly like one on its own.
package backend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/pbx365/pbx365/graphclient"
	"github.com/pbx365/pbx365/store"
	"github.com/pbx365/pbx365/sync/app"
	"github.com/pbx365/pbx365/sync/plan"
	"github.com/pbx365/pbx365/sync/progress"
	"github.com/pbx365/pbx365/sync/users"
	"github.com/pbx365/pbx365/ui/common"
)

// Local is the Backend on this process's store and engines.
type Local struct {
	App *app.App

	mu     sync.Mutex
	snaps  map[string]planned // plan hash → what it was made from
	recent []string           // plan hashes, oldest first (at most keptPlans)
}

// keptPlans is how many of the latest plans stay appliable: each holds a
// whole directory snapshot, so an afternoon of previews must not pile up.
const keptPlans = 4

type planned struct {
	snap *users.Snapshot
	sel  common.Selection
}

var (
	_ common.Backend        = (*Local)(nil)
	_ common.PreviewBackend = (*Local)(nil)
)

// NewLocal wraps an opened App.
func NewLocal(a *app.App) *Local { return &Local{App: a, snaps: map[string]planned{}} }

// Settings lists every setting of the registry with its current value.
func (l *Local) Settings(ctx context.Context) ([]common.SettingValue, error) {
	vals, err := l.App.Store.List()
	if err != nil {
		return nil, err
	}
	out := make([]common.SettingValue, 0, len(vals))
	for _, v := range vals {
		k := v.Key
		sv := common.SettingValue{Key: k.Name, Group: string(k.Group), Help: k.Help, Kind: settingKind(k.Kind),
			Allowed: k.Allowed, Default: k.Default, IsSet: v.Set}
		if sv.Default == "" {
			sv.Default = k.DefaultText
		}
		if k.Kind == store.KindBool {
			sv.Allowed = []string{"true", "false"}
		}
		if !k.Secret && v.Set {
			sv.Value = v.Text
		}
		out = append(out, sv)
	}
	return out, nil
}

func settingKind(k store.Kind) common.SettingKind {
	switch k {
	case store.KindBool:
		return common.KindBool
	case store.KindEnum:
		return common.KindEnum
	case store.KindNumber:
		return common.KindNumber
	case store.KindDuration:
		return common.KindDuration
	case store.KindList:
		return common.KindList
	case store.KindURL:
		return common.KindURL
	case store.KindPath:
		return common.KindPath
	case store.KindSecret:
		return common.KindSecret
	}
	return common.KindString
}

// ValidateSetting checks a value without saving it.
func (l *Local) ValidateSetting(_ context.Context, key, value string) error {
	_, err := store.Validate(key, value)
	return err
}

// SetSetting validates and saves a value.
func (l *Local) SetSetting(_ context.Context, key, value string) error {
	if _, err := l.App.Store.Set(key, value); err != nil {
		return err
	}
	l.App.Reset()
	return nil
}

// UnsetSetting removes a stored value.
func (l *Local) UnsetSetting(_ context.Context, key string) error {
	if err := l.App.Store.Unset(key); err != nil {
		return err
	}
	l.App.Reset()
	return nil
}

// SetupStatus reports what the setup wizard shows.
func (l *Local) SetupStatus(_ context.Context) (common.Setup, error) {
	s, err := l.App.Store.Settings()
	if err != nil {
		return common.Setup{}, err
	}
	su := common.Setup{Tenant: s.MS.Tenant, ClientID: s.MS.ClientID, Cloud: s.MS.Cloud, PBXURL: s.PBX.URL,
		PBXClientID: s.PBX.ClientID, PBXSecret: s.PBX.SecretSet}
	for _, p := range graphclient.Permissions {
		su.Permissions = append(su.Permissions, string(p))
	}
	if u, err := url.Parse(s.PBX.URL); err == nil && u.Hostname() != "" {
		su.RedirectURI = "https://" + u.Hostname() + "/oauth2office2"
	}
	if s.MS.Tenant != "" && s.MS.ClientID != "" {
		if cu, err := graphclient.AdminConsentURL(s.MS.Cloud, s.MS.LoginURL, s.MS.Tenant, s.MS.ClientID, su.RedirectURI); err == nil {
			su.ConsentURL = cu
		}
	}
	su.Key = l.keyInfo()
	return su, nil
}

func (l *Local) keyInfo() common.KeyInfo {
	kf, err := l.App.KeyFile()
	if err != nil {
		return common.KeyInfo{}
	}
	ki := common.KeyInfo{KeyFile: kf}
	kp, err := graphclient.LoadKeyPair(kf)
	if err != nil {
		return ki
	}
	info := kp.Info(kf)
	ki.Exists, ki.CertFile, ki.Thumbprint, ki.NotAfter = true, info.PublicFile, info.ThumbprintSHA1, info.NotAfter
	return ki
}

// GenerateKeyPair makes a new key pair, keeping an existing one as the
// rotation's old pair.
func (l *Local) GenerateKeyPair(_ context.Context) (common.KeyInfo, error) {
	kf, err := l.App.KeyFile()
	if err != nil {
		return common.KeyInfo{}, err
	}
	_, statErr := os.Stat(kf)
	if _, err := graphclient.Keygen(kf, 0, statErr == nil); err != nil {
		return common.KeyInfo{}, err
	}
	l.App.Reset()
	return l.keyInfo(), nil
}

// CheckMicrosoft gets a token and checks each permission live.
func (l *Local) CheckMicrosoft(ctx context.Context) ([]common.CheckLine, error) {
	// A fresh client asks Entra for a fresh token: consent granted since the
	// last token shows at once instead of after the cached token expires.
	l.App.Reset()
	g, err := l.App.Graph(ctx)
	if err != nil {
		return []common.CheckLine{{Name: "microsoft 365", Status: common.CheckError, Detail: err.Error()}}, nil
	}
	var out []common.CheckLine
	for _, c := range g.CheckLines(ctx) {
		// The screens name lines "token" and by permission.
		name := strings.TrimPrefix(c.Item, "permission ")
		if name == "graph token" {
			name = "token"
		}
		out = append(out, common.CheckLine{Name: name, Status: common.CheckStatus(c.Status), Detail: c.Detail})
	}
	return out, nil
}

// CheckPBX logs in to the PBX and reads its version.
func (l *Local) CheckPBX(ctx context.Context) ([]common.CheckLine, error) {
	p, err := l.App.PBX()
	if err != nil {
		return []common.CheckLine{{Name: "pbx", Status: common.CheckError, Detail: err.Error()}}, nil
	}
	var out []common.CheckLine
	for _, r := range p.Check(ctx) {
		// The screens name lines "login", "version", ...
		out = append(out, common.CheckLine{Name: strings.TrimPrefix(r.Name, "pbx "), Status: common.CheckStatus(r.Status), Detail: r.Detail})
	}
	return out, nil
}

// readWith reads the planner's input with the scope of sel instead of the
// saved one.
func (l *Local) readWith(ctx context.Context, sel *common.Selection) (*users.Engine, *users.Snapshot, error) {
	eng, err := l.App.Users(ctx)
	if err != nil {
		return nil, nil, err
	}
	if sel != nil {
		eng.State = scoped{State: eng.State, sel: *sel}
	}
	snap, err := eng.Read(ctx, users.Options{Full: true})
	if err != nil {
		return nil, nil, err
	}
	return eng, snap, nil
}

// settleIdle settles what an interrupted run left open, but only while no
// run is in flight (App.RunMu free): the open intents of a live run (the
// service's, or an apply of this TUI) are its own, not leftovers.
func (l *Local) settleIdle(ctx context.Context, settle func(context.Context) (int, error)) error {
	if !l.App.RunMu.TryLock() {
		return nil
	}
	defer l.App.RunMu.Unlock()
	_, err := settle(ctx)
	return err
}

// scoped overrides the saved scope with the TUI's selection.
type scoped struct {
	users.State
	sel common.Selection
}

func (s scoped) Settings() (users.Settings, error) {
	st, err := s.State.Settings()
	if err != nil {
		return st, err
	}
	applySelection(&st, s.sel)
	return st, nil
}

func applySelection(st *users.Settings, sel common.Selection) {
	if sel.Scope == "" {
		return
	}
	st.Plan.Scope = string(sel.Scope)
	st.Groups = slices.Clone(sel.Groups)
	st.Plan.Selected = slices.Clone(sel.Users)
}

func savedSelection(s store.Settings) common.Selection {
	return common.Selection{Scope: common.ScopeKind(s.Users.Scope), Groups: slices.Clone(s.Users.Groups), Users: slices.Clone(s.Users.Selected)}
}

// Directory reads every directory user with the state the planner gives it.
func (l *Local) Directory(ctx context.Context) (common.DirectorySnapshot, error) {
	s, err := l.App.Store.Settings()
	if err != nil {
		return common.DirectorySnapshot{}, err
	}
	saved := savedSelection(s)
	// Every user, so the picker can show and choose anyone.
	_, snap, err := l.readWith(ctx, &common.Selection{Scope: common.ScopeAll})
	if err != nil {
		return common.DirectorySnapshot{}, err
	}
	p := plan.Make(snap.Input)
	links := map[string]plan.Link{}
	for _, lk := range snap.Input.Links {
		links[lk.ObjectID] = lk
	}
	g, err := l.App.Graph(ctx)
	if err != nil {
		return common.DirectorySnapshot{}, err
	}
	groups, memberOf := l.groups(ctx, g)
	out := common.DirectorySnapshot{Saved: saved, Groups: groups, PlannedFor: common.Selection{Scope: common.ScopeAll}}
	for _, u := range snap.Input.Directory {
		out.Users = append(out.Users, common.DirectoryUser{ObjectID: u.ID, DisplayName: u.DisplayName, UPN: u.UserPrincipalName, Mail: u.Mail,
			Department: u.Department, UserType: u.UserType, Enabled: u.AccountEnabled, Groups: memberOf[u.ID], Linked: links[u.ID].Number})
	}
	out.Users = common.PlannedStates(out.Users, p)
	return out, nil
}

// Preview plans a selection for show: nothing is settled or kept.
func (l *Local) Preview(ctx context.Context, sel common.Selection) (plan.Plan, error) {
	_, snap, err := l.readWith(ctx, &sel)
	if err != nil {
		return plan.Plan{}, err
	}
	return plan.Make(snap.Input), nil
}

// groups lists the directory groups with their transitive user members
// (at most maxGroups of them, 4 at a time).
func (l *Local) groups(ctx context.Context, g *graphclient.Client) ([]common.Group, map[string][]string) {
	const maxGroups = 200
	gs, err := g.ListGroups(ctx)
	if err != nil {
		return nil, nil
	}
	if len(gs) > maxGroups {
		gs = gs[:maxGroups]
	}
	out := make([]common.Group, len(gs))
	memberOf := map[string][]string{}
	var mu sync.Mutex
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i, gr := range gs {
		out[i] = common.Group{ID: gr.ID, Name: gr.DisplayName}
		wg.Add(1)
		go func(i int, id string) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			ms, err := g.TransitiveUserMembers(ctx, id)
			if err != nil {
				return
			}
			mu.Lock()
			out[i].Members = len(ms)
			for _, m := range ms {
				memberOf[m.ID] = append(memberOf[m.ID], id)
			}
			mu.Unlock()
		}(i, gr.ID)
	}
	wg.Wait()
	sort.SliceStable(out, func(i, j int) bool { return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name) })
	return out, memberOf
}

// Plan computes the user-sync plan for a selection.
func (l *Local) Plan(ctx context.Context, sel common.Selection) (plan.Plan, error) {
	err := l.settleIdle(ctx, func(ctx context.Context) (int, error) {
		eng, err := l.App.Users(ctx)
		if err != nil {
			return 0, err
		}
		return eng.Settle(ctx)
	})
	if err != nil {
		return plan.Plan{}, fmt.Errorf("settle the previous run: %w", err)
	}
	_, snap, err := l.readWith(ctx, &sel)
	if err != nil {
		return plan.Plan{}, err
	}
	p := plan.Make(snap.Input)
	l.keep(p.Hash, planned{snap: snap, sel: sel})
	return p, nil
}

// keep remembers the snapshot of a plan, forgetting the oldest beyond keptPlans.
func (l *Local) keep(hash string, pl planned) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.snaps[hash]; !ok {
		l.recent = append(l.recent, hash)
	}
	l.snaps[hash] = pl
	for len(l.recent) > keptPlans {
		delete(l.snaps, l.recent[0])
		l.recent = l.recent[1:]
	}
}

// forget drops a plan's snapshot (it ran: it cannot run twice).
func (l *Local) forget(hash string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.snaps, hash)
	l.recent = slices.DeleteFunc(l.recent, func(h string) bool { return h == hash })
}

// Explain gives every rule's verdict for one user under a selection.
func (l *Local) Explain(ctx context.Context, sel common.Selection, objectID string) (common.Explanation, error) {
	_, snap, err := l.readWith(ctx, &sel)
	if err != nil {
		return common.Explanation{}, err
	}
	ex, err := plan.Explain(snap.Input, objectID)
	if err != nil {
		return common.Explanation{}, err
	}
	out := common.Explanation{ObjectID: ex.ObjectID, UPN: ex.UPN, DisplayName: ex.DisplayName, Outcome: "no change"}
	for _, v := range ex.Verdicts {
		out.Verdicts = append(out.Verdicts, common.Verdict{Rule: v.Rule, Pass: v.Verdict != plan.VerdictFail, Detail: v.Sentence})
	}
	if c := ex.Change; c != nil {
		out.Outcome = strings.TrimSpace(string(c.Action) + " " + c.Number)
		if c.Reason != "" {
			out.Outcome += ": " + c.Reason
		}
	}
	return out, nil
}

// ErrStalePlan is returned by Apply for a plan this backend did not make (or
// forgot): preview it again.
var ErrStalePlan = errors.New("this plan is no longer current: preview it again")

// Apply executes exactly p, saving its selection as the synced scope.
func (l *Local) Apply(ctx context.Context, p plan.Plan, allowRemovals bool) (<-chan progress.Event, error) {
	l.mu.Lock()
	pl, ok := l.snaps[p.Hash]
	l.mu.Unlock()
	if !ok {
		return nil, ErrStalePlan
	}
	if !l.App.RunMu.TryLock() {
		return nil, ErrBusy
	}
	if err := l.saveSelection(pl.sel); err != nil {
		l.App.RunMu.Unlock()
		return nil, err
	}
	eng, err := l.App.Users(ctx)
	if err != nil {
		l.App.RunMu.Unlock()
		return nil, err
	}
	run, err := eng.Apply(ctx, p, pl.snap, users.ApplyOptions{AllowRemovals: allowRemovals, Kind: "tui"})
	if err != nil {
		l.App.RunMu.Unlock()
		return nil, err
	}
	l.forget(p.Hash)
	out := make(chan progress.Event)
	go func() {
		defer close(out)
		defer l.App.RunMu.Unlock()
		for ev := range run.Events() {
			out <- ev
		}
	}()
	return out, nil
}

// ErrBusy is returned by Apply while another run (the service's) applies.
var ErrBusy = errors.New("another sync run is applying right now: try again when it has finished")

// saveSelection stores the scope the admin applied, so later runs (and the
// service) sync the same users.
func (l *Local) saveSelection(sel common.Selection) error {
	if sel.Scope == "" {
		return nil
	}
	set := map[string]string{"users.scope": string(sel.Scope)}
	var unset []string
	for k, v := range map[string][]string{"users.groups": sel.Groups, "users.selected": sel.Users} {
		if len(v) == 0 {
			unset = append(unset, k)
		} else {
			set[k] = strings.Join(v, ",")
		}
	}
	if err := l.App.Store.SetMany(set); err != nil {
		return err
	}
	for _, k := range unset {
		if err := l.App.Store.Unset(k); err != nil {
			return err
		}
	}
	return nil
}

// Runs lists past runs, newest first.
func (l *Local) Runs(_ context.Context, f common.RunFilter) ([]common.Run, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	rs, err := l.App.Store.Runs(limit, 0)
	if err != nil {
		return nil, err
	}
	out := make([]common.Run, 0, len(rs))
	for _, r := range rs {
		kind, trigger, _ := strings.Cut(r.Kind, "/")
		cr := common.Run{ID: r.ID, Kind: kind, Trigger: trigger, Started: r.Started, Finished: r.Finished,
			Status: string(r.Status), Err: r.Error, Done: map[plan.Action]int{}, Failed: map[plan.Action]int{}}
		for k, n := range r.Counts {
			if a, ok := strings.CutSuffix(k, "_failed"); ok {
				cr.Failed[plan.Action(a)] = n
			} else {
				cr.Done[plan.Action(k)] = n
			}
		}
		out = append(out, cr)
	}
	return out, nil
}

// RunItems lists the audit items of one run, in the order they happened.
func (l *Local) RunItems(_ context.Context, runID uint64, f common.ItemFilter) ([]common.RunItem, error) {
	var out []common.RunItem
	q := store.AuditQuery{Run: runID, Limit: 1000}
	text := strings.ToLower(f.Text)
	for {
		page, err := l.App.Store.Audit(q)
		if err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			if f.FailedOnly && it.Result != store.ResultFailed {
				continue
			}
			if text != "" && !strings.Contains(strings.ToLower(it.UPN+" "+it.Number+" "+it.Action+" "+it.Error+" "+it.Rule), text) {
				continue
			}
			out = append(out, toRunItem(it))
		}
		if page.Next == 0 || (f.Limit > 0 && len(out) >= f.Limit) {
			break
		}
		q.Before = page.Next
	}
	slices.Reverse(out)
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[len(out)-f.Limit:]
	}
	return out, nil
}

func toRunItem(it store.RunItem) common.RunItem {
	ri := common.RunItem{Seq: it.ID, Time: it.Time, Actor: "pbx365", Action: plan.Action(it.Action), ObjectID: it.ObjectID,
		UPN: it.UPN, Number: it.Number, Rule: it.Rule, OK: it.Result != store.ResultFailed, Err: it.Error}
	var before, after map[string]string
	_ = json.Unmarshal(it.Before, &before)
	_ = json.Unmarshal(it.After, &after)
	keys := make([]string, 0, len(after))
	for k := range after {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ri.Fields = append(ri.Fields, plan.FieldChange{Field: k, Old: before[k], New: after[k]})
	}
	return ri
}

// String names the backend for status lines.
func (l *Local) String() string { return fmt.Sprintf("local store %s", l.App.Dir) }
