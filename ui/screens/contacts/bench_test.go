package contacts

import (
	"context"
	"fmt"
	"testing"

	sc "github.com/pbx365/pbx365/sync/contacts"
	"github.com/pbx365/pbx365/sync/plan"
	"github.com/pbx365/pbx365/ui/common"
	"github.com/pbx365/pbx365/ui/uitest"
)

// BenchmarkStatus1000x200 measures taking in the status of 1,000 personal
// phonebooks with a first-sync plan of 200 contacts each (200,000 changes):
// the rows for both tables (built in the Cmd), then Update and one render
// at 160x50.
func BenchmarkStatus1000x200(b *testing.B) {
	st := common.ContactsStatus{Personal: true, Folders: "default", Plan: sc.Plan{Counts: map[plan.Action]int{}}}
	for i := range 1000 {
		n := fmt.Sprint(1000 + i)
		st.Books = append(st.Books, common.ContactsBook{Phonebook: sc.PersonalBook(n), Number: n, Mailboxes: []string{"u" + n + "@contoso.example"},
			Source: 200, Pending: 199, Skipped: map[string]int{"phone.none": 1}})
		for j := range 200 {
			a := plan.ActCreate
			if j == 0 {
				a = plan.ActSkip
			}
			st.Plan.Changes = append(st.Plan.Changes, sc.Change{Action: a, Phonebook: sc.PersonalBook(n), Number: n,
				Label: "u" + n + "@contoso.example", Name: fmt.Sprintf("Contact %d", j), Rule: "contact.new"})
			st.Plan.Counts[a]++
		}
	}
	s := New(common.NewContext(context.Background(), uitest.NewExtras(1), false)).(*Screen)
	s.SetSize(160, 50)
	s.showPlan = true
	b.Run("rows in the Cmd", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = bookRows(st.Books), changeRows(&st)
		}
	})
	books, chg := bookRows(st.Books), changeRows(&st)
	b.Run("Update and View", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.stID++
			s.Update(statusMsg{id: s.stID, st: st, books: books, chg: chg})
			_ = s.View()
		}
	})
}
