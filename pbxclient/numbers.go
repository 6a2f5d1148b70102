package pbxclient

import (
	"context"
	"errors"
	"strconv"
	"sync"
)

// numbered is one collection whose entities take a number from the PBX's
// number plan.
type numbered struct {
	kind, path, sel string
	// optional sets are skipped, with a warning, when the API client's role
	// may not read them (403); the others must be readable.
	optional bool
}

// numberedSets are the collections NumbersInUse reads, specific kinds first.
// $select names only properties the 20.0.10 spec gives each type (Fax,
// Parking, Trunk and ServicePrincipal have no Name): an OData server refuses
// an unknown property.
// All are DN-based entity sets of the V20 spec that list cheaply with
// $select. Peers, the PBX's directory of every numbered object, comes last
// and catches the kinds without their own set (conferences, special menus,
// route points); its rows only add numbers not seen before. Trunks and
// service principals (API clients such as pbx365's own) take numbers too,
// usually from the system range, and are included so a misconfigured
// extension range cannot collide with them.
var numberedSets = []numbered{
	{"user", "Users", "Id,Number,FirstName,LastName", false},
	{"queue", "Queues", "Id,Number,Name", false},
	{"ringgroup", "RingGroups", "Id,Number,Name", false},
	{"ivr", "Receptionists", "Id,Number,Name", false},
	{"parking", "Parkings", "Id,Number", true},
	{"fax", "Fax", "Id,Number", true},
	{"callflow", "CallFlowApps", "Id,Number,Name", true},
	{"trunk", "Trunks", "Id,Number", true},
	{"serviceprincipal", "ServicePrincipals", "Id,Number", true},
	{"", "Peers", "Id,Number,Name,Type", true},
}

// peerKinds maps Pbx.PeerType to NumberInUse.Kind.
var peerKinds = map[string]string{
	"Extension": "user", "Queue": "queue", "RingGroup": "ringgroup", "IVR": "ivr", "Fax": "fax",
	"Conference": "conference", "SpecialMenu": "specialmenu", "Parking": "parking",
	"ExternalLine": "trunk", "Group": "department", "RoutePoint": "routepoint",
}

type wireNumbered struct {
	ID        int32  `json:"Id"`
	Number    string `json:"Number"`
	Name      string `json:"Name"`
	FirstName string `json:"FirstName"`
	LastName  string `json:"LastName"`
	Type      string `json:"Type"`
}

// NumbersInUse lists every number taken on the PBX, each tagged with its
// kind: users, queues, ring groups, IVRs, parkings, fax extensions, call
// flow apps, trunks, API clients and whatever else Peers lists. The
// collections are read in parallel (within the concurrency bound). A
// collection this PBX version does not have (404) is skipped with a debug
// log; an optional one the role may not read (403) with a warning.
func (x *XAPI) NumbersInUse(ctx context.Context) ([]NumberInUse, error) {
	rows := make([][]wireNumbered, len(numberedSets))
	errs := make([]error, len(numberedSets))
	var wg sync.WaitGroup
	for i, s := range numberedSets {
		wg.Go(func() {
			q := query{}.add("$select", s.sel)
			rows[i], errs[i] = listAll(ctx, x, "list "+s.path, s.path, q, "Id", func(w wireNumbered) string {
				return strconv.Itoa(int(w.ID)) + "/" + w.Number
			})
		})
	}
	wg.Wait()
	var out []NumberInUse
	seen := map[string]bool{}
	for i, s := range numberedSets {
		err := errs[i]
		switch {
		case errors.Is(err, ErrNotFound):
			x.log.Debug("xapi collection not on this PBX, skipped", "collection", s.path)
			continue
		case s.optional && errors.Is(err, ErrForbidden):
			x.log.Warn("pbx365's API client may not list this collection; its numbers are not known", "collection", s.path)
			continue
		case err != nil:
			return nil, err
		}
		for _, r := range rows[i] {
			if r.Number == "" || seen[r.Number] {
				continue
			}
			seen[r.Number] = true
			kind := s.kind
			if kind == "" {
				kind = peerKinds[r.Type]
				if kind == "" {
					kind = "other"
				}
			}
			name := r.Name
			if name == "" && (r.FirstName != "" || r.LastName != "") {
				name = joinName(r.FirstName, r.LastName)
			}
			out = append(out, NumberInUse{Number: r.Number, Kind: kind, Name: name})
		}
	}
	return out, nil
}

func joinName(first, last string) string {
	switch {
	case first == "":
		return last
	case last == "":
		return first
	}
	return first + " " + last
}
