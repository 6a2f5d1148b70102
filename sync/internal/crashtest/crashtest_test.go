package crashtest

import (
	"errors"
	"testing"
)

func TestKilledAfterStepK(t *testing.T) {
	k := New(2)
	calls := 0
	call := func() (int, error) { calls++; return calls, nil }
	if v, err := After(k, call); v != 1 || err != nil {
		t.Fatalf("step 1: %d %v", v, err)
	}
	// Step 2 completes; the process dies right after it.
	if v, err := After(k, call); v != 2 || err != nil || !k.Dead() {
		t.Fatalf("step 2: %d %v (dead %v)", v, err, k.Dead())
	}
	// Afterwards nothing happens at all.
	if _, err := After(k, call); !errors.Is(err, ErrDead) || calls != 2 {
		t.Fatalf("after death: %v (calls %d)", err, calls)
	}
	if !k.Dead() || k.Steps() != 2 || !errors.Is(k.Alive(), ErrDead) || !errors.Is(k.Step(), ErrDead) {
		t.Errorf("dead %v, steps %d", k.Dead(), k.Steps())
	}
	// K = 0 never kills; f's own error passes through.
	never := New(0)
	boom := errors.New("boom")
	for range 5 {
		if _, err := After(never, func() (int, error) { return 0, boom }); err != boom {
			t.Fatalf("error %v, want boom", err)
		}
	}
	if never.Dead() || never.Steps() != 5 {
		t.Errorf("K=0: dead %v, steps %d", never.Dead(), never.Steps())
	}
}
