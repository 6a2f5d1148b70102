package plan

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pbx365/pbx365/graphclient"
	"github.com/pbx365/pbx365/pbxclient"
)

func explainInput() Input {
	in := baseInput()
	guest := member("g-1", "guest@ex.com", "Gus Guest")
	guest.UserType = "Guest"
	off := member("off-1", "off@ex.com", "Olga Off")
	off.AccountEnabled = false
	drift := member("d-1", "dana@ex.com", "Dana Drift")
	drift.Mail = "Dana.Drift@ex.com"
	in.Directory = []graphclient.User{
		member("new-1", "nina@ex.com", "Nina New"),
		guest, off, drift,
		member("adopt-1", "adam@ex.com", "Adam Adopt"),
	}
	in.PBXUsers = []pbxclient.User{
		ext(1, "150", "off@ex.com", "Olga Off"),
		ext(2, "151", "dana@ex.com", "Dana Drift"),
		ext(3, "160", "ADAM@ex.com", "Adam Adopt"),
		ext(4, "170", "hd@ex.com", "Hard Deleted"),
	}
	in.Links = []Link{link("off-1", 1, "150"), link("d-1", 2, "151"), link("hd-1", 4, "170")}
	in.Settings.MaxRemovals = "5"
	return in
}

func TestExplain(t *testing.T) {
	in := explainInput()
	cases := []struct {
		who     string
		id      string
		verdict map[string]VerdictKind // rules whose verdict is checked
		action  Action                 // "" = no change
		text    []string               // substrings of Text()
	}{
		{"NINA@ex.com", "new-1", map[string]VerdictKind{RuleEntry: VerdictPass, RuleUserType: VerdictPass, RuleAccountEnabled: VerdictPass,
			RuleScope: VerdictPass, RuleLink: VerdictNA, RuleAdoption: VerdictNA, RuleEmailUnique: VerdictPass, RuleNumbers: VerdictPass,
			RuleFields: VerdictPass, RuleGuard: VerdictPass},
			ActCreate, []string{"pass eligibility.user_type", "→ create 100 (rule numbers)", `FirstName: "" → "Nina"`}},
		{"g-1", "g-1", map[string]VerdictKind{RuleEntry: VerdictPass, RuleUserType: VerdictFail, RuleAccountEnabled: VerdictNA,
			RuleNumbers: VerdictNA, RuleLink: VerdictNA},
			ActSkip, []string{"fail eligibility.user_type", "users.include_guests is off", "n/a  numbers"}},
		{"off@ex.com", "off-1", map[string]VerdictKind{RuleUserType: VerdictPass, RuleAccountEnabled: VerdictFail, RuleRemoval: VerdictPass},
			ActDisable, []string{"→ disable 150 (rule removal)", `Enabled: "true" → "false"`}},
		{"dana.drift@EX.com", "d-1", map[string]VerdictKind{RuleLink: VerdictPass, RuleFields: VerdictPass, RuleReturn: VerdictNA,
			RuleEmailUnique: VerdictPass, RuleNumbers: VerdictNA, RuleRemoval: VerdictNA},
			ActUpdate, []string{`EmailAddress: "dana@ex.com" → "Dana.Drift@ex.com"`}},
		{"adam@ex.com", "adopt-1", map[string]VerdictKind{RuleAdoption: VerdictPass, RuleNumbers: VerdictNA},
			ActAdopt, []string{"→ adopt 160", `EmailAddress: "ADAM@ex.com" → "adam@ex.com"`}},
		{"hd-1", "hd-1", map[string]VerdictKind{RuleEntry: VerdictFail, RuleRemoval: VerdictPass},
			ActDisable, []string{"not in the directory answer", "no longer in the directory"}},
	}
	for _, tc := range cases {
		t.Run(tc.who, func(t *testing.T) {
			e, err := Explain(in, tc.who)
			if err != nil {
				t.Fatal(err)
			}
			if e.ObjectID != tc.id {
				t.Fatalf("explained %q, want %q", e.ObjectID, tc.id)
			}
			if len(e.Verdicts) != len(Rules) {
				t.Fatalf("%d verdicts, want one per rule (%d)", len(e.Verdicts), len(Rules))
			}
			for i, v := range e.Verdicts {
				if v.Rule != Rules[i] || v.Sentence == "" {
					t.Errorf("verdict %d = %+v, want rule %s with a sentence", i, v, Rules[i])
				}
				if want, ok := tc.verdict[v.Rule]; ok && v.Verdict != want {
					t.Errorf("%s: %s (%s), want %s", v.Rule, v.Verdict, v.Sentence, want)
				}
			}
			if tc.action == "" {
				if e.Change != nil {
					t.Errorf("change %+v, want none", e.Change)
				}
			} else if e.Change == nil || e.Change.Action != tc.action {
				t.Fatalf("change %+v, want %s", e.Change, tc.action)
			}
			// The explained change is the plan's change.
			p := Make(in)
			if cs := changesFor(p, tc.id); len(cs) == 1 && key(cs[0]) != key(*e.Change) {
				t.Errorf("explain's change differs from the plan's")
			}
			txt := e.Text()
			for _, s := range tc.text {
				if !strings.Contains(txt, s) {
					t.Errorf("text lacks %q:\n%s", s, txt)
				}
			}
		})
	}
}

func TestExplainNoChangeAndGuard(t *testing.T) {
	in := explainInput()
	in.PBXUsers[1].EmailAddress = "Dana.Drift@ex.com"
	e, err := Explain(in, "d-1")
	if err != nil {
		t.Fatal(err)
	}
	if e.Change != nil || !strings.Contains(e.Text(), "no change") {
		t.Errorf("want no change:\n%s", e.Text())
	}
	in.Settings.MaxRemovals = "1"
	in.Directory[3].AccountEnabled = false // d-1 leaves too: 3 removals > 1
	e, err = Explain(in, "dana@ex.com")
	if err != nil {
		t.Fatal(err)
	}
	if e.Guard == nil || e.Verdicts[len(e.Verdicts)-1].Verdict != VerdictFail || !strings.Contains(e.Text(), "the run stops before writing") {
		t.Errorf("guard not explained:\n%s", e.Text())
	}
	b, err := json.Marshal(e)
	if err != nil || !strings.Contains(string(b), `"verdict":"fail"`) {
		t.Errorf("json %s, %v", b, err)
	}
}

func TestExplainErrors(t *testing.T) {
	in := explainInput()
	_, err := Explain(in, "nobody@ex.com")
	if err == nil || !strings.Contains(err.Error(), `no user "nobody@ex.com"`) || !strings.Contains(err.Error(), "5 directory users, 0 removed entries and 3 links") {
		t.Errorf("unknown user: %v", err)
	}
	if _, err := Explain(in, "  "); err == nil || !strings.Contains(err.Error(), "object id, UPN or mail") {
		t.Errorf("empty query: %v", err)
	}
	// The mail of one user is the UPN of another.
	other := member("x-1", "x@ex.com", "X")
	other.Mail = "nina@ex.com"
	in.Directory = append(in.Directory, other)
	if _, err := Explain(in, "nina@ex.com"); err == nil || !strings.Contains(err.Error(), "new-1, x-1") {
		t.Errorf("ambiguous: %v", err)
	}
	// A delta's removed entry can be explained by its id.
	in = explainInput()
	in.Full = false
	in.Directory = nil
	in.Removed = []graphclient.RemovedUser{{ID: "d-1", Reason: graphclient.RemovedDeleted}}
	e, err := Explain(in, "D-1")
	if err != nil {
		t.Fatal(err)
	}
	if e.Change == nil || e.Change.Action != ActDisable || e.Verdicts[0].Verdict != VerdictFail || !strings.Contains(e.Verdicts[0].Sentence, "permanently deleted") {
		t.Errorf("removed user:\n%s", e.Text())
	}
	// Invalid settings: the guard says which key.
	in = explainInput()
	in.Settings.RemovalGrace = -time.Second
	e, err = Explain(in, "nina@ex.com")
	if err != nil {
		t.Fatal(err)
	}
	if e.Guard == nil || !strings.Contains(e.Text(), "users.removal_grace") {
		t.Errorf("invalid settings:\n%s", e.Text())
	}
}
