package pbxclient

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
)

const groupSelect = "Id,Name,Number,IsDefault,Props"

// wireGroup is Pbx.Group as read.
type wireGroup struct {
	ID        int32  `json:"Id"`
	Name      string `json:"Name"`
	Number    string `json:"Number"`
	IsDefault *bool  `json:"IsDefault"`
	Props     *struct {
		PersonalContactsMaxCount   *int `json:"PersonalContactsMaxCount"`
		DepartmentContactsMaxCount *int `json:"DepartmentContactsMaxCount"`
	} `json:"Props"`
}

func (w wireGroup) department() Department {
	d := Department{ID: w.ID, Name: w.Name, Number: w.Number, IsDefault: w.IsDefault != nil && *w.IsDefault}
	if w.Props != nil {
		if w.Props.PersonalContactsMaxCount != nil {
			d.PersonalContactsMaxCount = *w.Props.PersonalContactsMaxCount
		}
		if w.Props.DepartmentContactsMaxCount != nil {
			d.DepartmentContactsMaxCount = *w.Props.DepartmentContactsMaxCount
		}
	}
	return d
}

func groupID(w wireGroup) string { return strconv.Itoa(int(w.ID)) }

func (x *XAPI) listGroups(ctx context.Context, op string, filter string) ([]Department, error) {
	q := query{}.add("$select", groupSelect).add("$filter", filter)
	ws, err := listAll(ctx, x, op, "Groups", q, "Id", groupID)
	if err != nil {
		return nil, err
	}
	out := make([]Department, len(ws))
	for i, w := range ws {
		out[i] = w.department()
	}
	return out, nil
}

// Departments lists the PBX's departments.
func (x *XAPI) Departments(ctx context.Context) ([]Department, error) {
	return x.listGroups(ctx, "list departments", "")
}

// findDepartment looks a department up by exact name (Name eq), or, when
// fold is set and none matches exactly, by name in any letter case among all
// departments (in case the PBX's uniqueness ignores case).
func (x *XAPI) findDepartment(ctx context.Context, name string, fold bool) (Department, bool, error) {
	ds, err := x.listGroups(ctx, "find department "+quote(name), "Name eq "+quote(name))
	if err != nil {
		return Department{}, false, err
	}
	for _, d := range ds {
		if d.Name == name {
			return d, true, nil
		}
	}
	if !fold {
		return Department{}, false, nil
	}
	if ds, err = x.Departments(ctx); err != nil {
		return Department{}, false, err
	}
	for _, d := range ds {
		if strings.EqualFold(d.Name, name) {
			return d, true, nil
		}
	}
	return Department{}, false, nil
}

// EnsureDepartment returns the department called name, creating it
// (POST /Groups {"Name"}) when missing. Calls in this process for one name
// are serialised; a create that loses a race with another program (the name
// is taken) or whose reply was lost is settled by reading again.
func (x *XAPI) EnsureDepartment(ctx context.Context, name string) (Department, error) {
	op := "ensure department " + quote(name)
	if strings.TrimSpace(name) == "" {
		return Department{}, &Error{Op: op, Kind: ErrValidation, Field: "Name",
			Message: "a department name is required (users.department)"}
	}
	unlock, err := x.lockName(ctx, "dept\x00"+name)
	if err != nil {
		return Department{}, &Error{Op: op, Kind: ErrUnavailable, Err: err}
	}
	defer unlock()
	if d, ok, err := x.findDepartment(ctx, name, false); err != nil || ok {
		return d, err
	}
	for try := 0; ; try++ {
		rep, err := x.do(ctx, request{op: "create department " + quote(name), method: http.MethodPost,
			path: "Groups", body: map[string]string{"Name": name}, policy: retryUnsentOnly})
		if err == nil {
			var w wireGroup
			if err := decode(op, rep, &w); err == nil && w.ID != 0 {
				return w.department(), nil
			}
			// Created, but the reply says too little: read it back.
		} else if !errors.Is(err, ErrAlreadyInUse) && !errors.Is(err, ErrOutcomeUnknown) {
			return Department{}, err
		}
		d, ok, ferr := x.findDepartment(ctx, name, errors.Is(err, ErrAlreadyInUse))
		if ferr != nil {
			return Department{}, ferr
		}
		if ok {
			return d, nil
		}
		if err != nil && errors.Is(err, ErrOutcomeUnknown) && try == 0 {
			continue // the lost create did not happen: try once more
		}
		if err == nil {
			err = &Error{Op: op, Kind: ErrNotFound, Message: "created, but not found when read back"}
		}
		return Department{}, err
	}
}

// lockName serialises work on one key within this XAPI value.
func (x *XAPI) lockName(ctx context.Context, key string) (func(), error) {
	x.namesMu.Lock()
	if x.names == nil {
		x.names = map[string]chan struct{}{}
	}
	ch := x.names[key]
	if ch == nil {
		ch = make(chan struct{}, 1)
		x.names[key] = ch
	}
	x.namesMu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
