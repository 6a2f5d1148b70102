package notify

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/pbx365/pbx365/store"
)

// TargetStore is what StoreTargets reads (*store.Store).
type TargetStore interface {
	Settings() (store.Settings, error)
	Links() ([]store.Link, error)
}

// StoreTargets returns a Deps.Targets reading the settings and links: the
// calendar users (calendar.enabled; all synced users or calendar.selected)
// and the contact mailboxes (each synced user's when contacts.personal, and
// contacts.shared_mailboxes). Synced users are the linked users still in
// scope and enabled. resolve turns a UPN of calendar.selected into an object
// id (graphclient.Client.GetUser); nil leaves UPNs unresolved, and their
// users unsubscribed.
func StoreTargets(st TargetStore, resolve func(ctx context.Context, upn string) (string, error)) func(ctx context.Context) (Targets, error) {
	return func(ctx context.Context) (Targets, error) {
		var t Targets
		s, err := st.Settings()
		if err != nil {
			return t, fmt.Errorf("read settings: %w", err)
		}
		if !s.Calendar.Enabled && !s.Contacts.Personal && len(s.Contacts.SharedMailboxes) == 0 {
			return t, nil
		}
		links, err := st.Links()
		if err != nil {
			return t, fmt.Errorf("read links: %w", err)
		}
		var synced []string
		for _, l := range links {
			if l.PBXUserID != 0 && !l.Disabled && l.LeftAt.IsZero() {
				synced = append(synced, l.ObjectID)
			}
		}
		if s.Calendar.Enabled {
			if s.Calendar.Users == "selected" {
				chosen := map[string]bool{}
				for _, ref := range s.Calendar.Selected {
					ref = strings.TrimSpace(ref)
					if strings.Contains(ref, "@") {
						if resolve == nil {
							continue
						}
						if ref, err = resolve(ctx, ref); err != nil {
							return Targets{}, fmt.Errorf("calendar.selected: look up %s: %w", ref, err)
						}
					}
					chosen[ref] = true
				}
				for _, id := range synced {
					if chosen[id] {
						t.Calendar = append(t.Calendar, id)
					}
				}
			} else {
				t.Calendar = slices.Clone(synced)
			}
		}
		if s.Contacts.Personal {
			t.Contacts = append(t.Contacts, synced...)
		}
		for _, mb := range s.Contacts.SharedMailboxes {
			if mb = strings.ToLower(strings.TrimSpace(mb)); mb != "" && !slices.Contains(t.Contacts, mb) {
				t.Contacts = append(t.Contacts, mb)
			}
		}
		return t, nil
	}
}
