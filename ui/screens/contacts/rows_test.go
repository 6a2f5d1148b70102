package contacts

import (
	"testing"

	"github.com/pbx365/pbx365/ui/common"
)

func TestCompanyBookNamesEachMailboxWithItsCount(t *testing.T) {
	rows := bookRows([]common.ContactsBook{
		{Phonebook: "company", Mailboxes: []string{"sales@contoso.example", "support@contoso.example"}, PerSource: []int{120, 80}, Source: 200},
		{Phonebook: "user/101", Number: "101", Mailboxes: []string{"ada@contoso.example"}, PerSource: []int{7}, Source: 7},
	})
	if got := rows[0].Cells[1]; got != "sales@contoso.example (120), support@contoso.example (80)" {
		t.Errorf("company book mailboxes %q", got)
	}
	if got := rows[1].Cells[1]; got != "ada@contoso.example" {
		t.Errorf("personal book mailboxes %q (one mailbox: its count is the Source column)", got)
	}
}
