package plan

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/text/collate"
	"golang.org/x/text/language"

	"github.com/pbx365/pbx365/graphclient"
	"github.com/pbx365/pbx365/pbxclient"
)

// Make computes the plan for in. It is pure: no I/O, no clock (time is
// in.Now), and the same input gives a byte-identical plan, whatever the order
// of the input's slices. It never panics; bad entries become skips or
// conflicts naming what is wrong.
//
// How the rules of PRODUCT.md are read:
//
//   - A directory user leaves scope when it is removed from the directory, its
//     account is disabled, it is no longer eligible, or the scope no longer
//     selects it. A linked user that left scope is handled by the removal
//     policy (keep, disable, delete after the grace); an unlinked one is a
//     skip with the rule that excluded it.
//   - A malformed directory entry (no id, no UPN, a duplicated id, a mail that
//     is no address) is a skip; if it is linked nothing is written for it, not
//     even a removal: bad data never removes anything.
//   - In a delta run (in.Full false) users not in in.Directory or in.Removed are
//     unchanged: their links are only checked for a finished removal grace (a
//     user that left scope is deleted when the grace ends) and for a vanished
//     extension (see MissingUsers).
//   - Guards: a full directory answer without users removes nothing at all
//     (GuardEmptyDirectory); a shrunken directory or scope shows up as
//     removals and is stopped by users.max_removals (GuardRemovalThreshold).
func Make(in Input) Plan {
	p, _ := run(&in, "")
	return p
}

// planner is the state of one Make.
type planner struct {
	in *Input
	s  settings
	// trace is the object id whose rule verdicts are recorded (Explain).
	trace    string
	verdicts map[string]Verdict

	pbx         map[int32]*pbxclient.User
	emailOwners map[string][]int32 // lower-cased EmailAddress → PBX ids, ascending
	links       map[string]*Link   // usable links by object id
	badLink     map[string]string  // object id → why its link cannot be used
	linkedPBX   map[int32]string   // PBX id → object id, every link
	linkedNum   map[string]bool    // canonical numbers of every link
	nums        *numbers
	photos      bool

	changes []Change
	items   []*item // writes still to be checked (adoption, email, number)
}

// item is a directory user with a planned write that still has to pass the
// adoption, email and number rules.
type item struct {
	u       *graphclient.User
	d       *Desired
	ch      Change
	target  int32 // PBX id written (0: a new extension)
	isNew   bool  // unlinked: adopt or create
	emails  []string
	key     []byte // collation key of the display name (new users)
	blocked bool   // became a conflict
}

func run(in *Input, trace string) (Plan, *planner) {
	p := &planner{in: in, trace: trace, verdicts: map[string]Verdict{}}
	s, err := normalize(in.Settings)
	if err != nil {
		g := &Guard{Kind: GuardInvalidSettings, Message: "the planner cannot run: " + err.Error()}
		p.note(trace, RuleGuard, VerdictFail, g.Message)
		return finish(in, nil, g), p
	}
	p.s = s
	p.photos = s.Photos
	pbx := p.indexPBX()
	p.indexLinks()
	p.nums = newNumbers(&p.s, in, pbx)

	seen := p.directory()
	p.orphanLinks(seen)
	p.resolve()

	return p.guard()
}

// traced reports whether id is the user whose verdicts are recorded.
func (p *planner) traced(id string) bool { return p.trace != "" && id == p.trace }

// note records a verdict when id is the traced user.
func (p *planner) note(id, rule string, v VerdictKind, sentence string) {
	if !p.traced(id) {
		return
	}
	p.verdicts[rule] = Verdict{Rule: rule, Verdict: v, Sentence: sentence}
}

// indexPBX sorts a copy of the PBX users (so duplicates resolve the same way
// whatever the input order) and indexes them by id and lower-cased email.
func (p *planner) indexPBX() []pbxclient.User {
	us := slices.Clone(p.in.PBXUsers)
	slices.SortStableFunc(us, comparePBXUser)
	p.pbx = make(map[int32]*pbxclient.User, len(us))
	p.emailOwners = make(map[string][]int32, len(us))
	for i := range us {
		x := &us[i]
		if _, dup := p.pbx[x.ID]; dup {
			continue
		}
		p.pbx[x.ID] = x
		if e := strings.ToLower(strings.TrimSpace(x.EmailAddress)); e != "" {
			p.emailOwners[e] = append(p.emailOwners[e], x.ID)
		}
	}
	return us
}

func comparePBXUser(a, b pbxclient.User) int {
	if c := cmp.Or(
		cmp.Compare(a.ID, b.ID),
		strings.Compare(a.Number, b.Number),
		strings.Compare(a.EmailAddress, b.EmailAddress),
		strings.Compare(a.FirstName, b.FirstName),
		strings.Compare(a.LastName, b.LastName),
		strings.Compare(a.Mobile, b.Mobile),
		strings.Compare(a.OutboundCallerID, b.OutboundCallerID),
		compareBool(a.Enabled, b.Enabled),
		compareBool(a.MS365SignInEnabled, b.MS365SignInEnabled),
	); c != 0 || a.ID != b.ID {
		return c
	}
	// Only for the same id listed twice (never on a sane PBX).
	return strings.Compare(fmt.Sprint(a.Groups), fmt.Sprint(b.Groups))
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// indexLinks indexes the links. A link table that contradicts itself (one
// object id twice, one PBX user or one number in two links) makes every link
// involved unusable: those users become conflicts until the admin unlinks.
func (p *planner) indexLinks() {
	p.links = make(map[string]*Link, len(p.in.Links))
	p.badLink = map[string]string{}
	p.linkedPBX = make(map[int32]string, len(p.in.Links))
	p.linkedNum = make(map[string]bool, len(p.in.Links))
	byObj := map[string]int{}
	byPBX := map[int32][]string{}
	byNum := map[string][]string{}
	for _, l := range p.in.Links {
		byObj[l.ObjectID]++
		if l.PBXUserID != 0 {
			byPBX[l.PBXUserID] = append(byPBX[l.PBXUserID], l.ObjectID)
		}
		if l.Number != "" {
			c := canonical(l.Number)
			byNum[c] = append(byNum[c], l.ObjectID)
		}
	}
	bad := func(ids []string, why string) {
		ids = slices.Clone(ids)
		slices.Sort(ids)
		ids = slices.Compact(ids)
		for _, id := range ids {
			if id == "" {
				continue // a link nobody can be matched to: its number stays taken
			}
			if old, ok := p.badLink[id]; !ok || why < old {
				p.badLink[id] = why
			}
		}
	}
	for i := range p.in.Links {
		l := &p.in.Links[i]
		switch {
		case l.ObjectID == "":
			continue // an entry nobody can be matched to: number stays taken
		case byObj[l.ObjectID] > 1:
			bad([]string{l.ObjectID}, "the link table holds this object id more than once")
		case l.Number == "":
			bad([]string{l.ObjectID}, "its link has no extension number")
		}
		if ids := byPBX[l.PBXUserID]; len(ids) > 1 {
			bad(ids, fmt.Sprintf("PBX user id %d is linked to several users (%s)", l.PBXUserID, strings.Join(sortedUnique(ids), ", ")))
		}
		if ids := byNum[canonical(l.Number)]; l.Number != "" && len(ids) > 1 {
			bad(ids, fmt.Sprintf("number %s is linked to several users (%s)", l.Number, strings.Join(sortedUnique(ids), ", ")))
		}
		if l.Number != "" {
			p.linkedNum[canonical(l.Number)] = true
		}
		if id, ok := p.linkedPBX[l.PBXUserID]; !ok || l.ObjectID < id {
			p.linkedPBX[l.PBXUserID] = l.ObjectID
		}
	}
	for i := range p.in.Links {
		l := &p.in.Links[i]
		if _, isBad := p.badLink[l.ObjectID]; !isBad && l.ObjectID != "" {
			p.links[l.ObjectID] = l
		}
	}
}

func sortedUnique(xs []string) []string {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	return slices.Compact(xs)
}

// base is a change's identity for a directory user.
func base(u *graphclient.User, l *Link) Change {
	c := Change{ObjectID: u.ID, UPN: u.UserPrincipalName, DisplayName: u.DisplayName}
	if l != nil {
		c.Number, c.PBXUserID = l.Number, l.PBXUserID
	}
	return c
}

// directory walks the directory entries and returns the object ids it has
// dealt with (their links need no further look).
func (p *planner) directory() map[string]bool {
	in := p.in
	removed := map[string]string{}
	if !in.Full {
		for _, r := range in.Removed {
			if r.ID == "" {
				continue
			}
			if old, ok := removed[r.ID]; !ok || r.Reason > old {
				removed[r.ID] = r.Reason
			}
		}
	}
	count := make(map[string]int, len(in.Directory))
	for i := range in.Directory {
		count[in.Directory[i].ID]++
	}
	seen := make(map[string]bool, len(in.Directory))
	for i := range in.Directory {
		u := &in.Directory[i]
		if _, gone := removed[u.ID]; gone && u.ID != "" {
			continue // the delta says removed: handled with the links
		}
		if bad := malformed(u, count[u.ID]); bad != "" {
			seen[u.ID] = true
			p.note(u.ID, RuleEntry, VerdictFail, bad)
			c := base(u, nil)
			c.Action, c.Rule, c.Reason = ActSkip, RuleEntry, bad
			p.changes = append(p.changes, c)
			continue
		}
		seen[u.ID] = true
		p.note(u.ID, RuleEntry, VerdictPass, "the directory entry has an object id and a UPN")
		p.user(u)
	}
	// Removed entries of a delta, as removals of linked users.
	ids := make([]string, 0, len(removed))
	for id := range removed {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		why := "soft-deleted in the directory (restorable for about 30 days)"
		if removed[id] == graphclient.RemovedDeleted {
			why = "permanently deleted from the directory"
		}
		p.note(id, RuleEntry, VerdictFail, "the delta reports the user "+why)
		if reason, isBad := p.badLink[id]; isBad {
			seen[id] = true
			p.linkConflict(Change{ObjectID: id}, reason)
			continue
		}
		l := p.links[id]
		if l == nil {
			p.note(id, RuleLink, VerdictNA, "not linked to any extension: nothing to remove")
			continue
		}
		seen[id] = true
		p.removal(p.orphan(l), l, why, true)
	}
	return seen
}

// malformed says what is wrong with a directory entry, or "".
func malformed(u *graphclient.User, n int) string {
	switch {
	case strings.TrimSpace(u.ID) == "":
		return "the directory entry has no object id"
	case n > 1:
		return fmt.Sprintf("the object id %s appears %d times in the directory answer", u.ID, n)
	case strings.TrimSpace(u.UserPrincipalName) == "":
		return "the directory entry has no userPrincipalName"
	case !isAddress(u.UserPrincipalName):
		return fmt.Sprintf("the userPrincipalName %q is not of the form name@domain", u.UserPrincipalName)
	case strings.TrimSpace(u.Mail) != "" && !isAddress(u.Mail):
		return fmt.Sprintf("the mail %q is not of the form name@domain", u.Mail)
	}
	return ""
}

func isAddress(s string) bool {
	s = strings.TrimSpace(s)
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && domain != "" && !strings.ContainsAny(s, " \t\r\n") && !strings.Contains(domain, "@")
}

// eligible applies the eligibility rules; it returns the failing rule and a
// sentence, or "" when the user is eligible.
func (p *planner) eligible(u *graphclient.User) (string, string) {
	switch u.UserType {
	case "Member":
		p.note(u.ID, RuleUserType, VerdictPass, "userType is Member")
	case "Guest":
		if !p.s.IncludeGuests {
			return RuleUserType, "a guest (userType Guest) and users.include_guests is off"
		}
		p.note(u.ID, RuleUserType, VerdictPass, "a guest, included by users.include_guests")
	case "":
		if !p.s.IncludeUntyped {
			return RuleUserType, "the account has no userType and users.include_untyped is off"
		}
		p.note(u.ID, RuleUserType, VerdictPass, "no userType, included by users.include_untyped")
	default:
		return RuleUserType, fmt.Sprintf("userType %q is neither Member nor Guest", u.UserType)
	}
	if !u.AccountEnabled {
		return RuleAccountEnabled, "the account is disabled in the directory (accountEnabled false)"
	}
	p.note(u.ID, RuleAccountEnabled, VerdictPass, "the account is enabled")
	switch p.s.Scope {
	case "groups":
		if !p.in.GroupMembers[u.ID] {
			return RuleScope, "not a member of the chosen groups (users.scope groups)"
		}
		p.note(u.ID, RuleScope, VerdictPass, "a member of the chosen groups (users.scope groups)")
	case "selected":
		if !p.selected(u) {
			return RuleScope, "not among the chosen users (users.scope selected)"
		}
		p.note(u.ID, RuleScope, VerdictPass, "among the chosen users (users.scope selected)")
	case "all-except":
		if p.selected(u) {
			return RuleScope, "excluded by name in users.selected (users.scope all-except)"
		}
		p.note(u.ID, RuleScope, VerdictPass, "not excluded by users.selected (users.scope all-except)")
	default:
		p.note(u.ID, RuleScope, VerdictPass, "every eligible user is in scope (users.scope all)")
	}
	return "", ""
}

func (p *planner) selected(u *graphclient.User) bool {
	return p.s.selected[strings.ToLower(u.ID)] || p.s.selected[strings.ToLower(strings.TrimSpace(u.UserPrincipalName))]
}

// user plans one well-formed directory user.
func (p *planner) user(u *graphclient.User) {
	if reason, isBad := p.badLink[u.ID]; isBad {
		p.linkConflict(base(u, nil), reason)
		return
	}
	l := p.links[u.ID]
	if rule, why := p.eligible(u); rule != "" {
		p.note(u.ID, rule, VerdictFail, why)
		if l == nil {
			p.note(u.ID, RuleLink, VerdictNA, "not linked: nothing to remove")
			c := base(u, nil)
			c.Action, c.Rule, c.Reason = ActSkip, rule, why
			p.changes = append(p.changes, c)
			return
		}
		p.removal(base(u, l), l, why, true)
		return
	}
	etag, hasPhoto := p.photo(u.ID)
	d := desired(u, &p.s, etag, hasPhoto)
	if l == nil {
		p.note(u.ID, RuleLink, VerdictNA, "not linked to an extension yet")
		p.note(u.ID, RuleRemoval, VerdictNA, "in scope")
		it := &item{u: u, d: d, ch: base(u, nil), isNew: true}
		for _, e := range []string{u.Mail, u.UserPrincipalName} {
			if e = strings.ToLower(strings.TrimSpace(e)); e != "" && !slices.Contains(it.emails, e) {
				it.emails = append(it.emails, e)
			}
		}
		p.items = append(p.items, it)
		return
	}
	p.note(u.ID, RuleRemoval, VerdictNA, "in scope")
	p.note(u.ID, RuleAdoption, VerdictNA, "already linked")
	p.note(u.ID, RuleNumbers, VerdictNA, "keeps its linked number "+l.Number)
	c := base(u, l)
	c.Desired = d
	x := p.pbx[l.PBXUserID]
	if x == nil {
		p.note(u.ID, RuleLink, VerdictFail, fmt.Sprintf("linked to extension %s (PBX id %d), which is gone from the PBX", l.Number, l.PBXUserID))
		if what, used := p.nums.isUsed(l.Number); used {
			why := fmt.Sprintf("extension %s (PBX id %d) was deleted on the PBX and its number is now used by %s; free the number or unlink the user", l.Number, l.PBXUserID, what)
			p.note(u.ID, RuleRecreate, VerdictFail, why)
			c.Action, c.Rule, c.Reason, c.Desired = ActConflict, RuleRecreate, why, nil
			p.changes = append(p.changes, c)
			return
		}
		c.Action, c.Rule = ActRecreate, RuleRecreate
		c.Reason = fmt.Sprintf("extension %s was deleted on the PBX while the user is in scope: recreated with the same number", l.Number)
		c.Fields = diff(nil, d, "", hasPhoto)
		p.note(u.ID, RuleRecreate, VerdictPass, c.Reason)
		p.items = append(p.items, &item{u: u, d: d, ch: c})
		return
	}
	p.note(u.ID, RuleLink, VerdictPass, fmt.Sprintf("linked to extension %s (PBX id %d)", l.Number, l.PBXUserID))
	p.note(u.ID, RuleRecreate, VerdictNA, "the extension exists")
	c.Fields = diff(x, d, l.PhotoETag, hasPhoto)
	switch {
	case !l.LeftAt.IsZero() || l.Disabled:
		c.Action, c.Rule = ActEnable, RuleReturn
		c.Reason = fmt.Sprintf("back in scope: extension %s is enabled again with the same number", l.Number)
		p.note(u.ID, RuleReturn, VerdictPass, c.Reason)
	case len(c.Fields) > 0:
		c.Action, c.Rule = ActUpdate, RuleFields
		c.Reason = "owned fields differ on the PBX: " + fieldNames(c.Fields)
		p.note(u.ID, RuleReturn, VerdictNA, "the user did not leave scope")
	default:
		p.note(u.ID, RuleReturn, VerdictNA, "the user did not leave scope")
		p.note(u.ID, RuleFields, VerdictPass, "every owned field already has its desired value")
		p.note(u.ID, RuleEmailUnique, VerdictNA, "the email does not change")
		return
	}
	if p.traced(u.ID) {
		p.note(u.ID, RuleFields, VerdictPass, fieldSentence(c.Fields))
	}
	p.items = append(p.items, &item{u: u, d: d, ch: c, target: x.ID})
}

func (p *planner) photo(id string) (string, bool) {
	if !p.photos {
		return "", false
	}
	etag, ok := p.in.Photos[id]
	return etag, ok
}

func fieldNames(fs []FieldChange) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.Field
	}
	return strings.Join(names, ", ")
}

func fieldSentence(fs []FieldChange) string {
	if len(fs) == 0 {
		return "every owned field already has its desired value"
	}
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = fmt.Sprintf("%s %q → %q", f.Field, f.Old, f.New)
	}
	return "to write: " + strings.Join(parts, "; ")
}

// linkConflict is the change of a user whose link is unusable.
func (p *planner) linkConflict(c Change, reason string) {
	why := "the link table is inconsistent: " + reason + "; unlink the user to fix it"
	p.note(c.ObjectID, RuleLink, VerdictFail, why)
	c.Action, c.Rule, c.Reason = ActConflict, RuleLink, why
	p.changes = append(p.changes, c)
}

// orphan is the change identity of a linked user not in the directory
// answer: the extension's name stands in for the display name.
func (p *planner) orphan(l *Link) Change {
	c := Change{ObjectID: l.ObjectID, Number: l.Number, PBXUserID: l.PBXUserID}
	if x := p.pbx[l.PBXUserID]; x != nil {
		c.DisplayName = strings.TrimSpace(x.FirstName + " " + x.LastName)
		c.UPN = x.EmailAddress
	}
	return c
}

// orphanLinks handles the links whose user the directory answer did not deal
// with.
func (p *planner) orphanLinks(seen map[string]bool) {
	ids := make([]string, 0, len(p.in.Links))
	for _, l := range p.in.Links {
		if l.ObjectID != "" && !seen[l.ObjectID] {
			ids = append(ids, l.ObjectID)
		}
	}
	ids = sortedUnique(ids)
	for _, id := range ids {
		if reason, isBad := p.badLink[id]; isBad {
			if p.in.Full {
				p.linkConflict(Change{ObjectID: id}, reason)
			}
			continue
		}
		l := p.links[id]
		if p.in.Full {
			p.note(id, RuleEntry, VerdictFail, "not in the directory answer: deleted or out of the tenant")
			p.removal(p.orphan(l), l, "no longer in the directory", false)
			continue
		}
		// Delta run: the user did not change.
		p.note(id, RuleEntry, VerdictNA, "not in this delta: the user did not change since the last run")
		if !l.LeftAt.IsZero() {
			p.removal(p.orphan(l), l, "left scope earlier", false)
			continue
		}
		if p.pbx[l.PBXUserID] == nil {
			c := p.orphan(l)
			c.Action, c.Rule = ActSkip, RuleRecreate
			c.Reason = fmt.Sprintf("extension %s was deleted on the PBX; recreating it needs the user's directory entry, which this delta does not carry (the engine reads it, see MissingUsers, or the next full reconcile recreates it)", l.Number)
			p.note(id, RuleRecreate, VerdictFail, c.Reason)
			p.changes = append(p.changes, c)
		}
	}
}

// removal applies the removal policy to a linked user that is out of scope.
// why says why it left. skips says whether a change that writes nothing is
// listed (directory users are always listed; unchanged links are not).
func (p *planner) removal(c Change, l *Link, why string, skips bool) {
	left := l.LeftAt
	if left.IsZero() {
		left = p.in.Now
	}
	left = left.UTC()
	c.LeftAt = left
	x := p.pbx[l.PBXUserID]
	var v VerdictKind
	switch {
	case x == nil:
		c.Action, v = ActSkip, VerdictNA
		c.Reason = fmt.Sprintf("%s; its extension %s is already gone from the PBX", why, l.Number)
	case p.s.Removal == "keep":
		c.Action, v = ActSkip, VerdictPass
		c.Reason = fmt.Sprintf("%s; removal policy keep: extension %s stays as it is", why, l.Number)
	case p.s.Removal == "delete" && !p.in.Now.Before(left.Add(p.s.RemovalGrace)):
		c.Action, v = ActDelete, VerdictPass
		c.Reason = fmt.Sprintf("%s; removal policy delete: the grace of %s since %s is over, extension %s is deleted (the number stays linked)",
			why, p.s.RemovalGrace, left.Format(time.RFC3339), l.Number)
	case x.Enabled:
		c.Action, v = ActDisable, VerdictPass
		c.Fields = []FieldChange{{Field: FieldEnabled, Old: "true", New: "false"}}
		c.Reason = fmt.Sprintf("%s; removal policy %s: extension %s is disabled, its number kept", why, p.s.Removal, l.Number)
		if p.s.Removal == "delete" {
			c.Reason += ", and deleted at " + left.Add(p.s.RemovalGrace).Format(time.RFC3339)
		}
	default:
		c.Action, v = ActSkip, VerdictPass
		c.Reason = fmt.Sprintf("%s; removal policy %s: extension %s is already disabled", why, p.s.Removal, l.Number)
		if p.s.Removal == "delete" {
			c.Reason += ", and deleted at " + left.Add(p.s.RemovalGrace).Format(time.RFC3339)
		}
	}
	c.Rule = RuleRemoval
	p.note(c.ObjectID, RuleRemoval, v, c.Reason)
	if c.Action == ActSkip && !skips {
		return
	}
	p.changes = append(p.changes, c)
}

// resolve runs the adoption, email and number rules over the planned writes.
func (p *planner) resolve() {
	// Adoption: unlinked extensions whose email is the user's mail or UPN. An
	// extension whose number belongs to a link (its extension deleted, the
	// number reused on the PBX) is no candidate either: the number is taken.
	claims := map[int32][]*item{}
	for _, it := range p.items {
		if !it.isNew {
			continue
		}
		var cands []int32
		for _, e := range it.emails {
			for _, id := range p.emailOwners[e] {
				if _, linked := p.linkedPBX[id]; !linked && !p.linkedNum[canonical(p.pbx[id].Number)] && !slices.Contains(cands, id) {
					cands = append(cands, id)
				}
			}
		}
		slices.Sort(cands)
		switch len(cands) {
		case 0:
			p.note(it.u.ID, RuleAdoption, VerdictNA, "no unlinked extension has the user's mail or UPN as its email: a new extension is created")
		case 1:
			claims[cands[0]] = append(claims[cands[0]], it)
			it.target = cands[0]
		default:
			names := make([]string, len(cands))
			for i, id := range cands {
				names[i] = p.extName(id)
			}
			p.block(it, RuleAdoption, fmt.Sprintf("several unlinked extensions match the user's mail or UPN: %s; change or remove all but one on the PBX", strings.Join(names, " and ")))
		}
	}
	ids := make([]int32, 0, len(claims))
	for id := range claims {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		its := claims[id]
		if len(its) > 1 {
			users := make([]string, len(its))
			for i, it := range its {
				users[i] = it.u.UserPrincipalName
			}
			slices.Sort(users)
			for _, it := range its {
				p.block(it, RuleAdoption, fmt.Sprintf("%s matches the mail or UPN of several users (%s); change the extension's email or the users' addresses", p.extName(id), strings.Join(users, ", ")))
			}
			continue
		}
		it, x := its[0], p.pbx[id]
		it.ch.Action, it.ch.Rule = ActAdopt, RuleAdoption
		it.ch.PBXUserID, it.ch.Number = x.ID, x.Number
		it.ch.Fields = diff(x, it.d, "", it.d.PhotoETag != "")
		it.ch.Reason = fmt.Sprintf("the unlinked extension %s has the user's address %s as its email: linked instead of created", x.Number, x.EmailAddress)
		p.note(it.u.ID, RuleAdoption, VerdictPass, it.ch.Reason)
		p.note(it.u.ID, RuleNumbers, VerdictNA, "keeps the adopted extension's number "+x.Number)
		if p.traced(it.u.ID) {
			p.note(it.u.ID, RuleFields, VerdictPass, fieldSentence(it.ch.Fields))
		}
	}

	// Email uniqueness: 3CX refuses an EmailAddress another extension has.
	// Checked for every write that sets the email: creates, recreates,
	// adoptions, and updates that change it.
	var claimants []*item
	byEmail := map[string][]*item{}
	for _, it := range p.items {
		if it.blocked || (!it.isNew && it.ch.Action != ActRecreate && !hasField(it.ch.Fields, FieldEmailAddress)) {
			if !it.blocked {
				p.note(it.u.ID, RuleEmailUnique, VerdictNA, "the email does not change")
			}
			continue
		}
		e := strings.ToLower(it.d.EmailAddress)
		byEmail[e] = append(byEmail[e], it)
		claimants = append(claimants, it)
	}
	var blocks []pendingBlock
	for _, it := range claimants {
		e := strings.ToLower(it.d.EmailAddress)
		var why string
		if others := byEmail[e]; len(others) > 1 {
			users := make([]string, len(others))
			for i, o := range others {
				users[i] = o.u.UserPrincipalName
			}
			slices.Sort(users)
			why = fmt.Sprintf("the email %s would go to several users' extensions (%s); 3CX needs unique emails", it.d.EmailAddress, strings.Join(users, ", "))
		} else {
			for _, id := range p.emailOwners[e] {
				if id != it.target {
					why = fmt.Sprintf("the email %s is already used by %s; 3CX needs unique emails", it.d.EmailAddress, p.extName(id))
					break
				}
			}
		}
		if why != "" {
			blocks = append(blocks, pendingBlock{it, why})
			continue
		}
		p.note(it.u.ID, RuleEmailUnique, VerdictPass, fmt.Sprintf("no other extension has or gets the email %s", it.d.EmailAddress))
	}
	// Blocked only now, so that every claimant of an email is a conflict.
	for _, b := range blocks {
		p.block(b.it, RuleEmailUnique, b.why)
	}

	// Numbers for the new extensions, in the stable order.
	coll := collate.New(language.Und, collate.IgnoreCase)
	var buf collate.Buffer
	var fresh []*item
	for _, it := range p.items {
		if it.isNew && !it.blocked && it.ch.Action == "" {
			it.key = coll.KeyFromString(&buf, strings.TrimSpace(it.u.DisplayName))
			fresh = append(fresh, it)
		}
	}
	slices.SortFunc(fresh, func(a, b *item) int {
		return cmp.Or(bytes.Compare(a.key, b.key), strings.Compare(a.u.ID, b.u.ID))
	})
	rangeText := p.nums.describe()
	for _, it := range fresh {
		n, ok := p.nums.take()
		if !ok {
			why := fmt.Sprintf("no free number left in the range %s; widen users.ext_end or free numbers", rangeText)
			p.note(it.u.ID, RuleNumbers, VerdictFail, why)
			it.ch.Action, it.ch.Rule, it.ch.Reason = ActSkip, RuleNumbers, why
			p.changes = append(p.changes, it.ch)
			it.blocked = true
			continue
		}
		it.ch.Action, it.ch.Rule, it.ch.Number = ActCreate, RuleNumbers, n
		it.ch.Desired = it.d
		it.ch.Fields = diff(nil, it.d, "", it.d.PhotoETag != "")
		it.ch.Reason = fmt.Sprintf("in scope and not linked: a new extension with the next free number %s in %s", n, rangeText)
		p.note(it.u.ID, RuleNumbers, VerdictPass, it.ch.Reason)
		if p.traced(it.u.ID) {
			p.note(it.u.ID, RuleFields, VerdictPass, fieldSentence(it.ch.Fields))
		}
	}
	for _, it := range p.items {
		if !it.blocked {
			it.ch.Desired = it.d
			p.changes = append(p.changes, it.ch)
		}
	}
}

// pendingBlock is an email conflict found while other claimants are still
// being checked.
type pendingBlock struct {
	it  *item
	why string
}

// block turns an item into a conflict: nothing is written for that user.
func (p *planner) block(it *item, rule, why string) {
	it.blocked = true
	p.note(it.u.ID, rule, VerdictFail, why)
	c := it.ch
	c.Action, c.Rule, c.Reason = ActConflict, rule, why
	c.Fields, c.Desired = nil, nil
	if it.isNew {
		c.Number, c.PBXUserID = "", 0
	}
	p.changes = append(p.changes, c)
}

func (p *planner) extName(id int32) string {
	x := p.pbx[id]
	s := fmt.Sprintf("extension %s (PBX id %d)", x.Number, id)
	if obj, ok := p.linkedPBX[id]; ok {
		s += ", linked to " + obj
	}
	return s
}

// guard applies the guards and finishes the plan.
func (p *planner) guard() (Plan, *planner) {
	in := p.in
	var g *Guard
	removals, recreates := 0, 0
	for _, c := range p.changes {
		switch c.Action {
		case ActDisable, ActDelete:
			removals++
		case ActRecreate:
			recreates++
		}
	}
	linked := 0
	for _, l := range in.Links {
		if l.ObjectID != "" && p.pbx[l.PBXUserID] != nil {
			linked++
		}
	}
	switch {
	case in.Full && len(in.Directory) == 0:
		g = &Guard{Kind: GuardEmptyDirectory, Count: removals,
			Message: "the directory answered with no users at all: nothing is removed whatever the flags; check the Graph permissions (User.Read.All) and the tenant"}
		p.changes = slices.DeleteFunc(p.changes, func(c Change) bool { return c.Rule == RuleRemoval })
	case len(in.PBXUsers) == 0 && recreates > p.s.limit(len(p.links)):
		g = &Guard{Kind: GuardEmptyPBX, Count: recreates,
			Message: fmt.Sprintf("the PBX listed no users although %d linked extensions would be recreated; check the PBX API client's rights (it must see all users)", recreates)}
	default:
		if limit := p.s.limit(linked); removals > limit {
			g = &Guard{Kind: GuardRemovalThreshold, Count: removals, Limit: limit,
				Message: fmt.Sprintf("the plan disables or deletes %d extensions, more than users.max_removals (%s = %d of %d linked); confirm in the TUI or run with --allow-removals", removals, p.s.MaxRemovals, limit, linked)}
		}
	}
	if g != nil {
		p.note(p.trace, RuleGuard, VerdictFail, "the run stops before writing anything: "+g.Message)
	} else {
		p.note(p.trace, RuleGuard, VerdictPass, "the plan passes every guard")
	}
	return finish(in, p.changes, g), p
}

// finish sorts, counts and hashes.
func finish(in *Input, changes []Change, g *Guard) Plan {
	changes = sortChanges(changes)
	if changes == nil {
		changes = []Change{}
	}
	counts := make(map[Action]int, len(Actions))
	for _, a := range Actions {
		counts[a] = 0
	}
	for _, c := range changes {
		counts[c.Action]++
	}
	pl := Plan{Changes: changes, Counts: counts, Guard: g, Full: in.Full, Created: in.Now.UTC()}
	pl.Hash = hash(pl)
	return pl
}

// MissingUsers lists, for a delta run, the object ids whose directory entry the
// planner needs but in.Directory lacks: linked users still in scope whose
// extension is gone from the PBX (recreating it needs their names). The
// engine reads these users (GET /users/{id}) and appends them to in.Directory
// before Make; a user it cannot read stays a skip until the next full
// reconcile. For a full run the list is empty.
func MissingUsers(in Input) []string {
	if in.Full {
		return nil
	}
	have := make(map[string]bool, len(in.Directory)+len(in.Removed))
	for _, u := range in.Directory {
		have[u.ID] = true
	}
	for _, r := range in.Removed {
		have[r.ID] = true
	}
	pbx := make(map[int32]bool, len(in.PBXUsers))
	for _, x := range in.PBXUsers {
		pbx[x.ID] = true
	}
	var ids []string
	for _, l := range in.Links {
		if l.ObjectID != "" && l.LeftAt.IsZero() && !pbx[l.PBXUserID] && !have[l.ObjectID] {
			ids = append(ids, l.ObjectID)
		}
	}
	return sortedUnique(ids)
}

// sortChanges orders changes by action (Actions order), number (numeric),
// object id, then the remaining text fields, so that the order never depends
// on the input's. Keys are computed once: plans reach 100,000 changes.
func sortChanges(changes []Change) []Change {
	order := make(map[Action]int, len(Actions))
	for i, a := range Actions {
		order[a] = i
	}
	type sortKey struct {
		action int
		num    uint64
		isNum  bool
		i      int
	}
	keys := make([]sortKey, len(changes))
	for i := range changes {
		v, ok := parseNumber(changes[i].Number)
		keys[i] = sortKey{order[changes[i].Action], v, ok, i}
	}
	slices.SortFunc(keys, func(x, y sortKey) int {
		if c := cmp.Compare(x.action, y.action); c != 0 {
			return c
		}
		if x.isNum != y.isNum {
			if x.isNum {
				return -1 // numbered changes first
			}
			return 1
		}
		if c := cmp.Compare(x.num, y.num); c != 0 {
			return c
		}
		a, b := &changes[x.i], &changes[y.i]
		return cmp.Or(
			strings.Compare(a.Number, b.Number),
			strings.Compare(a.ObjectID, b.ObjectID),
			strings.Compare(a.UPN, b.UPN),
			strings.Compare(a.DisplayName, b.DisplayName),
			strings.Compare(a.Rule, b.Rule),
			strings.Compare(a.Reason, b.Reason),
		)
	})
	out := make([]Change, len(changes))
	for i, k := range keys {
		out[i] = changes[k.i]
	}
	return out
}
