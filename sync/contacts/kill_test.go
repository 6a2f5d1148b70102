package contacts_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/pbx365/pbx365/pbxclient"
	"github.com/pbx365/pbx365/sync/contacts"
	"github.com/pbx365/pbx365/sync/internal/crashtest"
	"github.com/pbx365/pbx365/sync/progress"
)

type killState struct {
	contacts.State
	k *crashtest.Killer
}

func (s killState) PutIntents(ins []contacts.Intent) ([]uint64, error) {
	return crashtest.After(s.k, func() ([]uint64, error) { return s.State.PutIntents(ins) })
}

func (s killState) Settle(ss []contacts.Settlement) error {
	_, err := crashtest.After(s.k, func() (int, error) { return 0, s.State.Settle(ss) })
	return err
}

func (s killState) EndRun(id uint64, sum progress.Summary) error {
	if err := s.k.Alive(); err != nil {
		return err
	}
	return s.State.EndRun(id, sum)
}

func (s killState) SaveDeltaLinks(l map[string]map[string]string) error {
	if err := s.k.Alive(); err != nil {
		return err
	}
	return s.State.SaveDeltaLinks(l)
}

type killPBX struct {
	pbxclient.Port
	k *crashtest.Killer
}

func (p killPBX) CreatePersonalContact(ctx context.Context, n string, c pbxclient.Contact) (pbxclient.Contact, error) {
	return crashtest.After(p.k, func() (pbxclient.Contact, error) { return p.Port.CreatePersonalContact(ctx, n, c) })
}

func (p killPBX) CreateCompanyContact(ctx context.Context, c pbxclient.Contact) (pbxclient.Contact, error) {
	return crashtest.After(p.k, func() (pbxclient.Contact, error) { return p.Port.CreateCompanyContact(ctx, c) })
}

func (p killPBX) UpdateContact(ctx context.Context, id int32, c pbxclient.Contact) error {
	_, err := crashtest.After(p.k, func() (int, error) { return 0, p.Port.UpdateContact(ctx, id, c) })
	return err
}

func (p killPBX) DeleteContacts(ctx context.Context, ids []int32) error {
	_, err := crashtest.After(p.k, func() (int, error) { return 0, p.Port.DeleteContacts(ctx, ids) })
	return err
}

// TestKilledAtAnyStepThenRerunEqualsACleanRun kills a first contact sync
// after every kind of step (intents stored, a PBX write done, settlements
// stored), then runs again with a fresh engine on the same store file, and
// compares the PBX with one that never crashed.
func TestKilledAtAnyStepThenRerunEqualsACleanRun(t *testing.T) {
	clean := newEnv(t, envOpt{users: 30})
	if _, _, sum := clean.sync(true); failed(sum) != 0 {
		t.Fatalf("clean run: %+v", sum)
	}
	want := clean.sims.PBX.Snapshot().WithoutIDs()
	steps := []int{1, 2, 3, 5, 8, 13, 21, 34, 55, 66, 67, 68, 89}
	if testing.Short() {
		steps = steps[:4]
	}
	for _, k := range steps {
		t.Run(fmt.Sprintf("killed after step %d", k), func(t *testing.T) {
			e := newEnv(t, envOpt{users: 30})
			kl := crashtest.New(k)
			dying := *e.eng
			dying.State = killState{State: e.eng.State, k: kl}
			dying.PBX = killPBX{Port: e.eng.PBX, k: kl}
			dying.Concurrency = 1 // a deterministic order of steps
			ctx := context.Background()
			p, snap, err := dying.Plan(ctx, contacts.Options{Full: true})
			if err != nil {
				t.Fatal(err)
			}
			run, err := dying.Apply(ctx, p, snap, contacts.ApplyOptions{})
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
			_, _, sum := e.sync(true)
			if failed(sum) != 0 {
				t.Fatalf("rerun failed: %+v", sum)
			}
			got := e.sims.PBX.Snapshot().WithoutIDs()
			if diff := got.Diff(want); len(diff) != 0 {
				t.Fatalf("after the kill and a rerun the PBX differs from a clean run:\n%s", strings.Join(diff, "\n"))
			}
			e.check("")
			if open, _ := e.app.Store.ListOpenIntents(); len(open) != 0 {
				t.Errorf("%d intents still open", len(open))
			}
			// And the store agrees: the next run has nothing to do.
			if p, _, _ := e.sync(false); p.Writes() != 0 {
				t.Errorf("after the rerun an incremental run plans %v", p.Counts)
			}
		})
	}
}

// A create whose reply is lost is looked up by its marker, not sent twice.
func TestLostCreateReplyIsLookedUpNotDuplicated(t *testing.T) {
	e := newEnv(t, envOpt{users: 20})
	e.sims.PBX.LoseResponseNext(3)
	_, _, sum := e.sync(true)
	if failed(sum) != 0 {
		t.Fatalf("summary %+v", sum)
	}
	if e.sims.PBX.PendingFaults() != 0 {
		t.Fatal("the lost replies were not exercised")
	}
	e.check("")
}
