package cli

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/pbx365/pbx365/sync/contacts"
	"github.com/pbx365/pbx365/sync/plan"
	"github.com/pbx365/pbx365/sync/progress"
	"github.com/pbx365/pbx365/ui/common"
)

// ContactSyncer is the contact-sync engine pbx365 sync --contacts drives.
type ContactSyncer interface {
	Settle(ctx context.Context) (int, error)
	Plan(ctx context.Context, opt contacts.Options) (contacts.Plan, *contacts.Snapshot, error)
	Apply(ctx context.Context, p contacts.Plan, snap *contacts.Snapshot, opt contacts.ApplyOptions) (*contacts.Run, error)
}

// SyncContacts runs contact sync headless: settle, plan, print, confirm,
// apply, summarize. It returns the exit code (0 ok, skips included; 1 some
// writes failed or the run could not start).
func SyncContacts(ctx context.Context, eng ContactSyncer, opt SyncOptions, sio IO) int {
	pr := newPrinter(sio, opt.JSON)
	if n, err := eng.Settle(ctx); err != nil {
		pr.fail("contacts: settle the previous run: %v", err)
		return ExitFailed
	} else if n > 0 {
		pr.note("contacts: settled %d write(s) a previous run left open", n)
	}
	p, snap, err := eng.Plan(ctx, contacts.Options{Full: opt.Full})
	if err != nil {
		pr.fail("contacts: plan: %v", err)
		return ExitFailed
	}
	printContactPlan(pr, p, snap)
	if opt.DryRun {
		pr.note("dry run: nothing written")
		return ExitOK
	}
	if w := p.Writes(); w > 0 && !opt.Yes {
		if !confirm(sio, fmt.Sprintf("Apply %d phonebook change(s) to the PBX? [y/N] ", w)) {
			pr.note("not applied")
			return ExitOK
		}
	}
	run, err := eng.Apply(ctx, p, snap, contacts.ApplyOptions{})
	if err != nil {
		pr.fail("contacts: apply: %v", err)
		return ExitFailed
	}
	sum := pr.report(run.Events(), run.Wait)
	if sum.Err != "" || failedCount(sum) > 0 || sum.Canceled {
		return ExitFailed
	}
	return ExitOK
}

// report prints a run's events as they come and then its summary, and
// returns the summary (SyncUsers has the same loop and can call it).
func (p *printer) report(events <-chan progress.Event, wait func() progress.Summary) progress.Summary {
	var sum progress.Summary
	for ev := range events {
		p.progress(ev)
		if ev.Summary != nil {
			sum = *ev.Summary
		}
	}
	wait()
	p.summary(sum)
	return sum
}

// SyncAll is pbx365 sync --all: users, then contacts (which need the users'
// links). A user sync stopped by a guard stops there; otherwise the worse
// of the two exit codes is returned.
func SyncAll(ctx context.Context, users UserSyncer, cs ContactSyncer, opt SyncOptions, sio IO) int {
	code := SyncUsers(ctx, users, opt, sio)
	if code == ExitGuarded {
		return code
	}
	return max(code, SyncContacts(ctx, cs, opt, sio))
}

// jsonContactChange is the JSON line of one planned phonebook change: the
// user-sync keys (object_id is the source mailbox, upn its address, number
// the extension whose phonebook it is, "" for the company phonebook) plus
// the phonebook, the contact and its source id.
type jsonContactChange struct {
	jsonChange
	Phonebook string `json:"phonebook"`
	Name      string `json:"name"`
	SourceID  string `json:"source_id,omitempty"`
}

func printContactPlan(pr *printer, p contacts.Plan, snap *contacts.Snapshot) {
	if pr.json {
		for _, c := range p.Changes {
			pr.enc.Encode(jsonContactChange{jsonChange: jsonChange{Type: "change", Action: c.Action, ObjectID: c.Mailbox,
				UPN: c.Label, Number: c.Number, Rule: c.Rule, Reason: c.Reason, Fields: fieldMap(c.Fields)},
				Phonebook: c.Phonebook, Name: c.Name, SourceID: c.SourceID})
		}
		pr.enc.Encode(map[string]any{"type": "plan", "kind": "contacts", "hash": p.Hash, "full": p.Full, "counts": p.Counts})
		return
	}
	kind := "incremental (contact delta)"
	if p.Full {
		kind = "full compare"
	} else if snap != nil && snap.FellBack > 0 {
		kind += fmt.Sprintf(", %d mailbox(es) compared in full (no usable delta token, or a folder gone)", snap.FellBack)
	}
	fmt.Fprintf(pr.io.Out, "Contacts plan, %s: %s\n\n", kind, common.PlanCounts(p.Counts, "no changes"))
	if len(p.Changes) == 0 {
		fmt.Fprintln(pr.io.Out, "Nothing to do: the phonebooks match the mailboxes.")
		return
	}
	tw := tabwriter.NewWriter(pr.io.Out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACTION\tPHONEBOOK\tCONTACT\tMAILBOX\tRULE\tDETAIL")
	for _, c := range p.Changes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.Action, c.Phonebook, dash(c.Name), dash(c.Label), c.Rule,
			detail(plan.Change{Fields: c.Fields, Reason: c.Reason}))
	}
	tw.Flush()
	fmt.Fprintln(pr.io.Out)
}

func fieldMap(fs []plan.FieldChange) map[string]map[string]string {
	f := make(map[string]map[string]string, len(fs))
	for _, fc := range fs {
		f[fc.Field] = map[string]string{"old": fc.Old, "new": fc.New}
	}
	return f
}
