package store

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

const settleHelperEnv = "PBX365_STORE_TEST_SETTLE"

// TestHelperSettleLoop is not a test: run as a child process (settleHelperEnv
// set to "DIR START"), it writes intents and settles them with their link and
// audit item, as apply does, until it is killed.
func TestHelperSettleLoop(t *testing.T) {
	spec := os.Getenv(settleHelperEnv)
	if spec == "" {
		return
	}
	var dir string
	var start int
	if _, err := fmt.Sscan(spec, &dir, &start); err != nil {
		os.Exit(3)
	}
	s, err := Open(dir)
	if err != nil {
		os.Stdout.WriteString("error " + err.Error() + "\n")
		os.Exit(3)
	}
	r, err := s.StartRun("users", "")
	if err != nil {
		os.Exit(3)
	}
	os.Stdout.WriteString("ready\n")
	for i := start; ; i++ {
		oid := fmt.Sprintf("oid-%06d", i)
		num := fmt.Sprint(100000 + i)
		id, err := s.PutIntent(Intent{Run: r.ID, ChangeKey: "create/" + oid, Action: "create", ObjectID: oid, Number: num})
		if err != nil {
			os.Exit(4)
		}
		item := RunItem{Run: r.ID, ObjectID: oid, Number: num, Action: "create", Result: ResultOK}
		if err := s.Settle(id, &Link{ObjectID: oid, PBXUserID: int32(i), Number: num}, &item); err != nil {
			os.Exit(5)
		}
	}
}

// TestKillDuringSettleLeavesNoHalfWrites kills a process that settles
// intents at a random moment, several times, and checks after each crash
// that every link has its settled intent and audit item and the reverse; at
// most the one intent in flight is open.
func TestKillDuringSettleLeavesNoHalfWrites(t *testing.T) {
	dir := t.TempDir()
	start, before := 0, 0
	for round, delay := range []time.Duration{300 * time.Millisecond, 520 * time.Millisecond, 777 * time.Millisecond} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperSettleLoop$")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d", settleHelperEnv, dir, start))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("round %d: helper said %q, %v", round, line, err)
		}
		time.Sleep(delay)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()

		s, err := Open(dir)
		if err != nil {
			t.Fatalf("round %d: reopen after kill: %v", round, err)
		}
		links, err := s.Links()
		if err != nil {
			t.Fatal(err)
		}
		open, _ := s.ListOpenIntents()
		if len(open) > 1 {
			t.Errorf("round %d: %d open intents, want at most the one in flight", round, len(open))
		}
		for _, in := range open {
			if _, ok, _ := s.Link(in.ObjectID); ok {
				t.Errorf("round %d: open intent %s has a link", round, in.ChangeKey)
			}
			// Recovery settles it, as the next run does.
			if err := s.SettleIntent(in.ID, OutcomeNotWritten); err != nil {
				t.Fatal(err)
			}
		}
		items := map[string]bool{}
		for q := (AuditQuery{Limit: 1000}); ; {
			p, err := s.Audit(q)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range p.Items {
				items[it.ObjectID] = true
			}
			if p.Next == 0 {
				break
			}
			q.Before = p.Next
		}
		if len(items) != len(links) {
			t.Errorf("round %d: %d links but %d audited users", round, len(links), len(items))
		}
		settled := 0
		for _, l := range links {
			if !items[l.ObjectID] {
				t.Errorf("round %d: link %s without audit item", round, l.ObjectID)
			}
		}
		s.db.View(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketIntentsSettled).ForEach(func(_, v []byte) error {
				var in Intent
				if err := decode(v, &in); err != nil {
					return err
				}
				linked := tx.Bucket(bucketLinks).Get([]byte(in.ObjectID)) != nil
				if in.Outcome == OutcomeDone {
					settled++
					if !linked {
						t.Errorf("round %d: intent %s settled done without its link", round, in.ChangeKey)
					}
				}
				return nil
			})
		})
		if settled != len(links) || len(links) <= before {
			t.Errorf("round %d: %d intents settled done, %d links (%d before the round)", round, settled, len(links), before)
		}
		t.Logf("round %d: killed after %v with %d links, %d open intent(s)", round, delay, len(links), len(open))
		// The next child numbers on after every index this one used.
		start += len(links) - before + len(open)
		before = len(links)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
