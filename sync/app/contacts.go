package app

import (
	"context"

	"github.com/pbx365/pbx365/sync/contacts"
)

// Contacts builds the contact-sync engine (Outlook contacts → PBX phonebooks).
func (a *App) Contacts(ctx context.Context) (*contacts.Engine, error) {
	g, err := a.Graph(ctx)
	if err != nil {
		return nil, err
	}
	p, err := a.PBX()
	if err != nil {
		return nil, err
	}
	return &contacts.Engine{Dir: g, PBX: p, State: contacts.StoreState{S: a.Store}, Log: a.Log}, nil
}
