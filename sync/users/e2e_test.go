package users_test

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pbx365/pbx365/graphclient/m365sim"
	"github.com/pbx365/pbx365/pbxclient"
	"github.com/pbx365/pbx365/pbxclient/pbxsim"
	"github.com/pbx365/pbx365/sync/app"
	"github.com/pbx365/pbx365/sync/internal/crashtest"
	"github.com/pbx365/pbx365/sync/plan"
	"github.com/pbx365/pbx365/sync/progress"
	"github.com/pbx365/pbx365/sync/users"
)

// env is a data dir configured against both simulators over HTTPS.
type env struct {
	t    *testing.T
	sims *app.Sims
	app  *app.App
	eng  *users.Engine
}

func newEnv(t *testing.T, n int, settings map[string]string) *env {
	t.Helper()
	dir := t.TempDir()
	sims, err := app.StartSims(app.SimOptions{Seed: 7, Users: n, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sims.Close)
	e := &env{t: t, sims: sims}
	e.open(filepath.Join(dir, "data"))
	if err := sims.Configure(e.app.Store); err != nil {
		t.Fatal(err)
	}
	if len(settings) > 0 {
		if err := e.app.Store.SetMany(settings); err != nil {
			t.Fatal(err)
		}
	}
	e.engine()
	return e
}

func (e *env) open(dir string) {
	a, err := app.Open(dir)
	if err != nil {
		e.t.Fatal(err)
	}
	e.app = a
	e.t.Cleanup(func() { a.Close() })
}

func (e *env) engine() {
	eng, err := e.app.Users(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	e.eng = eng
}

// sync settles, plans and applies; it returns the plan and the summary.
func (e *env) sync(full, allowRemovals bool) (plan.Plan, progress.Summary) {
	e.t.Helper()
	return syncWith(e.t, e.eng, full, allowRemovals)
}

func syncWith(t *testing.T, eng *users.Engine, full, allowRemovals bool) (plan.Plan, progress.Summary) {
	t.Helper()
	ctx := context.Background()
	if _, err := eng.Settle(ctx); err != nil {
		t.Fatalf("settle: %v", err)
	}
	p, snap, err := eng.Plan(ctx, users.Options{Full: full})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	run, err := eng.Apply(ctx, p, snap, users.ApplyOptions{AllowRemovals: allowRemovals})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	var last progress.Event
	for ev := range run.Events() {
		last = ev
	}
	sum := run.Wait()
	if last.Phase != progress.PhaseDone || last.Summary == nil {
		t.Fatalf("last event is %+v, want the final summary", last)
	}
	return p, sum
}

func writes(p plan.Plan) int {
	n := 0
	for a, c := range p.Counts {
		if a != plan.ActSkip && a != plan.ActConflict {
			n += c
		}
	}
	return n
}

func failed(s progress.Summary) int {
	n := 0
	for _, v := range s.Failed {
		n += v
	}
	return n
}

// eligible lists the directory users the default settings sync.
func eligible(s *m365sim.Sim) map[string]m365sim.User {
	out := map[string]m365sim.User{}
	for _, u := range s.Users() {
		if u.UserType == "Member" && u.AccountEnabled && u.DeletedDateTime.IsZero() {
			out[u.ID] = u
		}
	}
	return out
}

// checkPBX verifies the PBX holds exactly one enabled extension per linked
// user, numbers and emails unique, and returns the users by email.
func (e *env) checkPBX() map[string]pbxsim.User {
	e.t.Helper()
	byEmail := map[string]pbxsim.User{}
	byNumber := map[string]bool{}
	for _, u := range e.sims.PBX.Users() {
		k := strings.ToLower(u.EmailAddress)
		if _, dup := byEmail[k]; dup && k != "" {
			e.t.Errorf("duplicate extension for %s", u.EmailAddress)
		}
		byEmail[k] = u
		if byNumber[u.Number] {
			e.t.Errorf("duplicate number %s", u.Number)
		}
		byNumber[u.Number] = true
	}
	links, err := e.app.Store.Links()
	if err != nil {
		e.t.Fatal(err)
	}
	seen := map[string]string{}
	for _, l := range links {
		if o, dup := seen[l.Number]; dup {
			e.t.Errorf("number %s linked to %s and %s", l.Number, o, l.ObjectID)
		}
		seen[l.Number] = l.ObjectID
	}
	return byEmail
}

func mailOf(u m365sim.User) string {
	if u.Mail != "" {
		return u.Mail
	}
	return u.UserPrincipalName
}

func TestFirstSyncOf500UsersThenNoChanges(t *testing.T) {
	e := newEnv(t, 500, nil)
	p, sum := e.sync(true, false)
	if p.Counts[plan.ActAdopt] != 3 {
		t.Errorf("adopt = %d, want the 3 pre-seeded extensions", p.Counts[plan.ActAdopt])
	}
	if failed(sum) != 0 || sum.Err != "" {
		t.Fatalf("first sync failed: %+v", sum)
	}
	want := eligible(e.sims.M365)
	if got := sum.Done[plan.ActCreate] + sum.Done[plan.ActAdopt]; got != len(want) {
		t.Errorf("created+adopted %d, want %d eligible users", got, len(want))
	}
	// Everyone excluded is listed with a reason.
	skips := 0
	for _, c := range p.Changes {
		if c.Action == plan.ActSkip {
			skips++
			if c.Reason == "" || c.Rule == "" {
				t.Errorf("skip without reason: %+v", c)
			}
		}
	}
	if skips == 0 {
		t.Error("the generated tenant has guests, disabled and untyped users, but nothing was skipped")
	}
	pbx := e.checkPBX()
	for _, u := range want {
		x, ok := pbx[strings.ToLower(mailOf(u))]
		if !ok {
			t.Errorf("%s (%s) has no extension", u.DisplayName, mailOf(u))
			continue
		}
		if !x.Enabled || x.EmailAddress != mailOf(u) {
			t.Errorf("%s: enabled %v email %q, want enabled and %q", u.DisplayName, x.Enabled, x.EmailAddress, mailOf(u))
		}
		inDept := false
		for _, g := range x.Groups {
			inDept = inDept || g.GroupName == "Azure AD"
		}
		if !inDept {
			t.Errorf("%s is not in the Azure AD department: %+v", u.DisplayName, x.Groups)
		}
	}
	// A second full run finds nothing to write.
	p2, _ := e.sync(true, false)
	if n := writes(p2); n != 0 {
		for _, c := range p2.Changes {
			if c.Action != plan.ActSkip && c.Action != plan.ActConflict {
				t.Logf("unexpected: %s %s %s %+v", c.Action, c.UPN, c.Rule, c.Fields)
			}
		}
		t.Fatalf("second run plans %d writes, want 0", n)
	}
}

func TestIncrementalSyncFollowsTheDirectory(t *testing.T) {
	e := newEnv(t, 120, nil)
	if _, sum := e.sync(true, false); failed(sum) != 0 {
		t.Fatalf("first sync: %+v", sum)
	}
	m := e.sims.M365
	var members []m365sim.User
	for _, u := range eligible(m) {
		members = append(members, u)
	}
	if len(members) < 6 {
		t.Fatal("too few members")
	}
	// Sort for determinism.
	for i := 1; i < len(members); i++ {
		for j := i; j > 0 && members[j].ID < members[j-1].ID; j-- {
			members[j], members[j-1] = members[j-1], members[j]
		}
	}
	rename, phone, disable, soft, hard := members[0], members[1], members[2], members[3], members[4]
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(m.UpdateUser(rename.ID, func(u *m365sim.User) { u.GivenName = "Renamed" }))
	must(m.UpdateUser(phone.ID, func(u *m365sim.User) { u.MobilePhone = "+44 20 7946 0958" }))
	must(m.DisableUser(disable.ID))
	must(m.SoftDeleteUser(soft.ID))
	must(m.HardDeleteUser(hard.ID))
	added, err := m.AddUser(m365sim.User{DisplayName: "Aaron Added", GivenName: "Aaron", Surname: "Added",
		UserPrincipalName: "aaron.added@" + domainOf(rename.UserPrincipalName), Mail: "aaron.added@" + domainOf(rename.UserPrincipalName),
		UserType: "Member", AccountEnabled: true})
	must(err)

	p, sum := e.sync(false, false)
	if p.Full {
		t.Fatal("the incremental run fell back to a full reconcile")
	}
	if failed(sum) != 0 {
		t.Fatalf("incremental sync failed: %+v", sum)
	}
	got := map[string]plan.Action{}
	for _, c := range p.Changes {
		got[c.ObjectID] = c.Action
	}
	want := map[string]plan.Action{rename.ID: plan.ActUpdate, phone.ID: plan.ActUpdate, disable.ID: plan.ActDisable,
		soft.ID: plan.ActDisable, hard.ID: plan.ActDisable, added.ID: plan.ActCreate}
	for id, a := range want {
		if got[id] != a {
			t.Errorf("user %s: planned %q, want %q", id, got[id], a)
		}
	}
	if len(p.Changes) > len(want)+2 {
		t.Errorf("incremental plan has %d changes, want about %d: it should only hold the changed users", len(p.Changes), len(want))
	}
	pbx := e.checkPBX()
	if x := pbx[strings.ToLower(mailOf(rename))]; x.FirstName != "Renamed" {
		t.Errorf("rename not applied: %+v", x)
	}
	if x := pbx[strings.ToLower(mailOf(phone))]; x.Mobile != "+442079460958" {
		t.Errorf("mobile = %q, want +442079460958", x.Mobile)
	}
	for _, u := range []m365sim.User{disable, soft, hard} {
		if x := pbx[strings.ToLower(mailOf(u))]; x.Enabled {
			t.Errorf("%s still enabled", u.DisplayName)
		}
	}
	if _, ok := pbx["aaron.added@"+domainOf(rename.UserPrincipalName)]; !ok {
		t.Error("added user has no extension")
	}
	// A user who comes back is re-enabled with the same number.
	before := pbx[strings.ToLower(mailOf(disable))].Number
	must(m.EnableUser(disable.ID))
	p, _ = e.sync(false, false)
	if p.Counts[plan.ActEnable] != 1 {
		t.Errorf("re-enable not planned: %v", p.Counts)
	}
	if x := e.checkPBX()[strings.ToLower(mailOf(disable))]; !x.Enabled || x.Number != before {
		t.Errorf("came back as %+v, want enabled with number %s", x, before)
	}
}

func domainOf(upn string) string { return upn[strings.IndexByte(upn, '@')+1:] }

func TestRemovalPoliciesAndGuards(t *testing.T) {
	e := newEnv(t, 60, map[string]string{"users.removal": "delete", "users.removal_grace": "7d", "users.max_removals": "2"})
	now := time.Now().UTC()
	e.eng.Now = func() time.Time { return now }
	if _, sum := e.sync(true, false); failed(sum) != 0 {
		t.Fatalf("first sync: %+v", sum)
	}
	var ids []string
	for id := range eligible(e.sims.M365) {
		ids = append(ids, id)
		if len(ids) == 3 {
			break
		}
	}
	for _, id := range ids {
		if err := e.sims.M365.DisableUser(id); err != nil {
			t.Fatal(err)
		}
	}
	before := e.sims.PBX.Snapshot()
	// Three removals exceed max_removals 2: stopped before writing anything.
	p, sum := e.sync(true, false)
	if p.Guard == nil || p.Guard.Kind != "removal_threshold" || sum.Guard == nil {
		t.Fatalf("guard = %+v / %+v, want removal_threshold", p.Guard, sum.Guard)
	}
	if !reflect.DeepEqual(before, e.sims.PBX.Snapshot()) {
		t.Fatal("a guarded run wrote to the PBX")
	}
	// Allowed: disabled at once, not yet deleted.
	p, sum = e.sync(true, true)
	if sum.Done[plan.ActDisable] != 3 || p.Counts[plan.ActDelete] != 0 {
		t.Fatalf("allowed run: plan %v done %v", p.Counts, sum.Done)
	}
	// After the grace period: deleted; numbers stay reserved.
	now = now.Add(8 * 24 * time.Hour)
	_, sum = e.sync(true, true)
	if sum.Done[plan.ActDelete] != 3 {
		t.Fatalf("after grace: done %v, want 3 deletes", sum.Done)
	}
	links, _ := e.app.Store.Links()
	reserved := map[string]bool{}
	for _, l := range links {
		reserved[l.ObjectID] = true
	}
	for _, id := range ids {
		if !reserved[id] {
			t.Errorf("link of deleted user %s was dropped: its number could be reused", id)
		}
	}
	// Coming back: recreated with the same number.
	if err := e.sims.M365.EnableUser(ids[0]); err != nil {
		t.Fatal(err)
	}
	p, _ = e.sync(true, false)
	if p.Counts[plan.ActRecreate] != 1 {
		t.Errorf("plan %v, want one recreate", p.Counts)
	}
}

func TestEmptyDirectoryRemovesNothing(t *testing.T) {
	e := newEnv(t, 10, nil)
	if _, sum := e.sync(true, false); failed(sum) != 0 {
		t.Fatalf("first sync: %+v", sum)
	}
	for _, u := range e.sims.M365.Users() {
		if err := e.sims.M365.HardDeleteUser(u.ID); err != nil {
			t.Fatal(err)
		}
	}
	before := e.sims.PBX.Snapshot()
	p, sum := e.sync(true, true) // even with --allow-removals
	if p.Guard == nil || p.Guard.Kind != "empty_directory" || sum.Guard == nil {
		t.Fatalf("guard %+v, want empty_directory", p.Guard)
	}
	for _, c := range p.Changes {
		if c.Action == plan.ActDisable || c.Action == plan.ActDelete {
			t.Errorf("empty directory planned a removal: %+v", c)
		}
	}
	if !reflect.DeepEqual(before, e.sims.PBX.Snapshot()) {
		t.Fatal("the PBX changed")
	}
}

type killState struct {
	users.State
	k *crashtest.Killer
}

func (s killState) PutIntent(in users.Intent, r *plan.Link) (uint64, error) {
	if err := s.k.Alive(); err != nil {
		return 0, err
	}
	id, err := s.State.PutIntent(in, r)
	if err == nil {
		err = s.k.Step()
	}
	return id, err
}

func (s killState) Settle(st users.Settlement) error {
	if err := s.k.Alive(); err != nil {
		return err
	}
	if err := s.State.Settle(st); err != nil {
		return err
	}
	return s.k.Step()
}

func (s killState) EndRun(id uint64, sum progress.Summary) error {
	if err := s.k.Alive(); err != nil {
		return err
	}
	return s.State.EndRun(id, sum)
}

func (s killState) SaveDeltaLink(name, l string) error {
	if err := s.k.Alive(); err != nil {
		return err
	}
	return s.State.SaveDeltaLink(name, l)
}

type killPBX struct {
	pbxclient.Port
	k *crashtest.Killer
}

func (p killPBX) CreateUser(ctx context.Context, u pbxclient.NewUser) (pbxclient.User, error) {
	// A kill right after the PBX wrote it: the reply is lost.
	return crashtest.After(p.k, func() (pbxclient.User, error) { return p.Port.CreateUser(ctx, u) })
}

func (p killPBX) UpdateUser(ctx context.Context, id int32, patch pbxclient.UserPatch) error {
	_, err := crashtest.After(p.k, func() (int, error) { return 0, p.Port.UpdateUser(ctx, id, patch) })
	return err
}

func (p killPBX) DeleteUser(ctx context.Context, id int32) error {
	_, err := crashtest.After(p.k, func() (int, error) { return 0, p.Port.DeleteUser(ctx, id) })
	return err
}

// TestKilledAtAnyStepThenRerunEqualsACleanRun kills a first sync after
// every kind of step (an intent stored, a PBX write done, a settlement
// stored), then runs again with a fresh engine on the same store file, and
// compares the PBX with one that never crashed.
func TestKilledAtAnyStepThenRerunEqualsACleanRun(t *testing.T) {
	const n = 80
	clean := newEnv(t, n, nil)
	if _, sum := clean.sync(true, false); failed(sum) != 0 {
		t.Fatalf("clean run: %+v", sum)
	}
	want := clean.sims.PBX.Snapshot().WithoutIDs()
	steps := []int{1, 2, 3, 4, 5, 8, 13, 21, 34, 55, 89, 144}
	if testing.Short() {
		steps = steps[:4]
	}
	for _, k := range steps {
		t.Run(fmt.Sprintf("killed after step %d", k), func(t *testing.T) {
			e := newEnv(t, n, nil)
			kl := crashtest.New(k)
			dying := *e.eng
			dying.State = killState{State: e.eng.State, k: kl}
			dying.PBX = killPBX{Port: e.eng.PBX, k: kl}
			ctx := context.Background()
			if _, err := dying.Settle(ctx); err != nil {
				t.Fatal(err)
			}
			p, snap, err := dying.Plan(ctx, users.Options{Full: true})
			if err != nil {
				t.Fatal(err)
			}
			run, err := dying.Apply(ctx, p, snap, users.ApplyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			run.Wait()
			if !kl.Dead() {
				t.Fatalf("the run has fewer than %d steps: the kill never happened", k)
			}
			// A new process: reopen the store file, a new engine.
			dir := e.app.Dir
			e.app.Close()
			e.open(dir)
			e.engine()
			_, sum := e.sync(true, false)
			if failed(sum) != 0 {
				t.Fatalf("rerun failed: %+v", sum)
			}
			got := e.sims.PBX.Snapshot().WithoutIDs()
			if diff := got.Diff(want); len(diff) != 0 {
				t.Fatalf("after the kill and a rerun the PBX differs from a clean run:\n%s", strings.Join(diff, "\n"))
			}
			e.checkPBX()
			if open, _ := e.app.Store.ListOpenIntents(); len(open) != 0 {
				t.Errorf("%d intents still open", len(open))
			}
		})
	}
}

func TestFaultsOnBothSidesEndInTheCleanState(t *testing.T) {
	const n = 80
	clean := newEnv(t, n, nil)
	clean.sync(true, false)
	want := clean.sims.PBX.Snapshot().WithoutIDs()

	e := newEnv(t, n, nil)
	e.sims.M365.ThrottleNext(3, 0)
	e.sims.PBX.Fail5xxRate(0.1)
	e.sims.PBX.LoseResponseNext(4)
	_, sum := e.sync(true, false)
	e.sims.PBX.Fail5xxRate(0)
	t.Logf("first run under faults: done %v failed %v", sum.Done, sum.Failed)
	// Whatever failed or stayed unknown is finished by the next run.
	for i := 0; i < 3; i++ {
		if _, sum = e.sync(true, false); failed(sum) == 0 {
			break
		}
	}
	if failed(sum) != 0 {
		t.Fatalf("still failing: %+v", sum)
	}
	if diff := e.sims.PBX.Snapshot().WithoutIDs().Diff(want); len(diff) != 0 {
		t.Fatalf("PBX differs from a clean run:\n%s", strings.Join(diff, "\n"))
	}
	e.checkPBX()
}

// An extension the admin disabled already: the skip still starts the grace,
// so the delete policy deletes it once the grace has passed.
func TestAlreadyDisabledExtensionIsDeletedAfterTheGrace(t *testing.T) {
	e := newEnv(t, 40, map[string]string{"users.removal": "delete", "users.removal_grace": "7d"})
	now := time.Now().UTC()
	e.eng.Now = func() time.Time { return now }
	if _, sum := e.sync(true, false); failed(sum) != 0 {
		t.Fatalf("first sync: %+v", sum)
	}
	var u m365sim.User
	for _, x := range eligible(e.sims.M365) {
		u = x
		break
	}
	x := e.checkPBX()[strings.ToLower(mailOf(u))]
	if err := e.sims.PBX.EditUser(x.ID, map[string]any{"Enabled": false}); err != nil {
		t.Fatal(err)
	}
	if err := e.sims.M365.DisableUser(u.ID); err != nil {
		t.Fatal(err)
	}
	e.sync(true, false)
	now = now.Add(8 * 24 * time.Hour)
	_, sum := e.sync(true, false)
	if sum.Done[plan.ActDelete] != 1 {
		t.Fatalf("after the grace: %v, want the already-disabled extension deleted", sum.Done)
	}
}

// An extension deleted on the PBX while its user did not change is
// recreated with the same number by an incremental run too.
func TestIncrementalRunRecreatesADeletedExtension(t *testing.T) {
	e := newEnv(t, 40, nil)
	if _, sum := e.sync(true, false); failed(sum) != 0 {
		t.Fatalf("first sync: %+v", sum)
	}
	var u m365sim.User
	for _, x := range eligible(e.sims.M365) {
		u = x
		break
	}
	x := e.checkPBX()[strings.ToLower(mailOf(u))]
	if err := e.sims.PBX.DeleteUser(x.ID); err != nil {
		t.Fatal(err)
	}
	p, sum := e.sync(false, false)
	if p.Full || p.Counts[plan.ActRecreate] != 1 || sum.Done[plan.ActRecreate] != 1 {
		t.Fatalf("delta plan %v (full %v), done %v: want one recreate", p.Counts, p.Full, sum.Done)
	}
	if y := e.checkPBX()[strings.ToLower(mailOf(u))]; y.Number != x.Number {
		t.Fatalf("recreated as %s, want %s", y.Number, x.Number)
	}
}
