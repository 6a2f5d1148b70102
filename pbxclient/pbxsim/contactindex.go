package pbxsim

import (
	"maps"
	"slices"
)

// contactIndex holds the phonebooks: every contact by id, and each owner's
// contacts in id (creation) order, so that reading, counting and deleting
// one phonebook costs its own size, not the whole PBX's.
type contactIndex struct {
	byID    map[int32]*contactRec
	byOwner map[string][]*contactRec // owner ("" = company) → contacts, by id
}

func newContactIndex() contactIndex {
	return contactIndex{byID: map[int32]*contactRec{}, byOwner: map[string][]*contactRec{}}
}

func (x *contactIndex) get(id int32) *contactRec { return x.byID[id] }

// owned returns an owner's contacts in id order (the slice is the index's own).
func (x *contactIndex) owned(owner string) []*contactRec { return x.byOwner[owner] }

// add appends a contact; its id is above every id given before.
func (x *contactIndex) add(ct *contactRec) {
	x.byID[ct.id] = ct
	x.byOwner[ct.owner] = append(x.byOwner[ct.owner], ct)
}

// remove deletes the contacts with these ids (unknown ids are ignored).
func (x *contactIndex) remove(ids ...int32) {
	for _, id := range ids {
		ct := x.byID[id]
		if ct == nil {
			continue
		}
		delete(x.byID, id)
		list := x.byOwner[ct.owner]
		if i, ok := slices.BinarySearchFunc(list, id, func(c *contactRec, id int32) int { return int(c.id - id) }); ok {
			list = slices.Delete(list, i, i+1)
		}
		if len(list) == 0 {
			delete(x.byOwner, ct.owner)
		} else {
			x.byOwner[ct.owner] = list
		}
	}
}

// removeOwner deletes a whole phonebook.
func (x *contactIndex) removeOwner(owner string) {
	for _, ct := range x.byOwner[owner] {
		delete(x.byID, ct.id)
	}
	delete(x.byOwner, owner)
}

// all returns every contact, by owner and then id.
func (x *contactIndex) all() []*contactRec {
	out := make([]*contactRec, 0, len(x.byID))
	for _, owner := range slices.Sorted(maps.Keys(x.byOwner)) {
		out = append(out, x.byOwner[owner]...)
	}
	return out
}
