package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Rules, in the order Explain lists them. Change.Rule is one of these.
const (
	RuleEntry          = "directory.entry"             // the directory entry is well formed
	RuleUserType       = "eligibility.user_type"       // Member; Guest / no userType when included
	RuleAccountEnabled = "eligibility.account_enabled" // accountEnabled true
	RuleScope          = "scope"                       // users.scope selects the user
	RuleLink           = "link"                        // the user's link and its extension
	RuleRemoval        = "removal"                     // the removal policy for a linked user out of scope
	RuleRecreate       = "recreate"                    // a linked extension deleted on the PBX
	RuleReturn         = "return"                      // a user back in scope is enabled again
	RuleAdoption       = "adoption"                    // an unlinked extension with the user's mail or UPN
	RuleEmailUnique    = "email.unique"                // no two extensions share an email
	RuleNumbers        = "numbers"                     // the next free number in range
	RuleFields         = "fields"                      // the owned fields
	RuleGuard          = "guard"                       // removal threshold, empty directory, empty PBX
)

// Rules lists every rule in Explain order.
var Rules = []string{RuleEntry, RuleUserType, RuleAccountEnabled, RuleScope, RuleLink, RuleRemoval,
	RuleRecreate, RuleReturn, RuleAdoption, RuleEmailUnique, RuleNumbers, RuleFields, RuleGuard}

// VerdictKind is a rule's verdict for one user.
type VerdictKind string

// Verdicts.
const (
	VerdictPass VerdictKind = "pass"
	VerdictFail VerdictKind = "fail"
	VerdictNA   VerdictKind = "n/a"
)

// Verdict is one rule's verdict for one user.
type Verdict struct {
	Rule     string      `json:"rule"`
	Verdict  VerdictKind `json:"verdict"`
	Sentence string      `json:"sentence"`
}

// Explanation is every rule's verdict for one user, and the change it leads to.
type Explanation struct {
	ObjectID    string    `json:"object_id"`
	UPN         string    `json:"upn"`
	DisplayName string    `json:"display_name"`
	Verdicts    []Verdict `json:"verdicts"` // one per rule, in Rules order
	Change      *Change   `json:"change"`   // nil: nothing changes for this user
	Guard       *Guard    `json:"guard,omitempty"`
}

// Explain shows every rule's verdict for one user and the change the plan
// holds for it. who is an object id, a UPN or a mail (case-insensitive). It
// looks in the directory entries, the delta's removed entries and the links; a
// user found nowhere, or an address that several users share, is an error
// naming what was searched. Explain is meant for a full input (in.Full).
func Explain(in Input, who string) (Explanation, error) {
	q := strings.ToLower(strings.TrimSpace(who))
	if q == "" {
		return Explanation{}, fmt.Errorf("explain: give a user's object id, UPN or mail")
	}
	var ids []string
	var e Explanation
	for i := range in.Directory {
		u := &in.Directory[i]
		if strings.ToLower(u.ID) == q || strings.ToLower(strings.TrimSpace(u.UserPrincipalName)) == q || strings.ToLower(strings.TrimSpace(u.Mail)) == q {
			if !slices.Contains(ids, u.ID) {
				ids = append(ids, u.ID)
			}
			e.ObjectID, e.UPN, e.DisplayName = u.ID, u.UserPrincipalName, u.DisplayName
		}
	}
	if len(ids) == 0 {
		for _, r := range in.Removed {
			if strings.ToLower(r.ID) == q {
				ids, e.ObjectID = []string{r.ID}, r.ID
				break
			}
		}
	}
	if len(ids) == 0 {
		for _, l := range in.Links {
			if strings.ToLower(l.ObjectID) == q {
				ids, e.ObjectID = []string{l.ObjectID}, l.ObjectID
				break
			}
		}
	}
	switch {
	case len(ids) == 0:
		return Explanation{}, fmt.Errorf("explain: no user %q: searched the object id, UPN and mail of %d directory users, %d removed entries and %d links",
			who, len(in.Directory), len(in.Removed), len(in.Links))
	case len(ids) > 1:
		slices.Sort(ids)
		return Explanation{}, fmt.Errorf("explain: %q matches several users (object ids %s); give an object id", who, strings.Join(ids, ", "))
	}
	if e.ObjectID == "" {
		return Explanation{}, fmt.Errorf("explain: %q matches a directory entry without an object id; fix the entry in the directory", who)
	}
	pl, p := run(&in, e.ObjectID)
	for _, rule := range Rules {
		v, ok := p.verdicts[rule]
		if !ok {
			v = Verdict{Rule: rule, Verdict: VerdictNA, Sentence: "not reached: an earlier rule decided"}
		}
		e.Verdicts = append(e.Verdicts, v)
	}
	for i := range pl.Changes {
		if pl.Changes[i].ObjectID == e.ObjectID {
			c := pl.Changes[i]
			e.Change = &c
			if e.UPN == "" {
				e.UPN, e.DisplayName = c.UPN, c.DisplayName
			}
			break
		}
	}
	e.Guard = pl.Guard
	return e, nil
}

// Text renders the explanation for a terminal, one rule a line.
func (e Explanation) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %s  (%s)\n", e.UPN, e.DisplayName, e.ObjectID)
	for _, v := range e.Verdicts {
		fmt.Fprintf(&b, "  %-4s %-28s %s\n", v.Verdict, v.Rule, v.Sentence)
	}
	if e.Guard != nil {
		fmt.Fprintf(&b, "! the plan is stopped by the %s guard: %s\n", e.Guard.Kind, e.Guard.Message)
	}
	if e.Change == nil {
		b.WriteString("→ no change for this user\n")
		return b.String()
	}
	c := e.Change
	fmt.Fprintf(&b, "→ %s", c.Action)
	if c.Number != "" {
		fmt.Fprintf(&b, " %s", c.Number)
	}
	fmt.Fprintf(&b, " (rule %s): %s\n", c.Rule, c.Reason)
	for _, f := range c.Fields {
		fmt.Fprintf(&b, "    %s: %q → %q\n", f.Field, f.Old, f.New)
	}
	return b.String()
}

// hash is the sha256 of the canonical JSON of the plan's changes and guard,
// streamed into the digest (a 100,000-change plan is tens of megabytes of JSON).
func hash(p Plan) string {
	h := sha256.New()
	err := json.NewEncoder(h).Encode(struct {
		Changes []Change `json:"changes"`
		Guard   *Guard   `json:"guard"`
	}{p.Changes, p.Guard})
	if err != nil {
		// Only plain strings, numbers and times: encoding cannot fail. Should
		// it ever, the error text is hashed too, so the hash still differs.
		h.Write([]byte(err.Error()))
	}
	return hex.EncodeToString(h.Sum(nil))
}
