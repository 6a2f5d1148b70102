package presence

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pbx365/pbx365/ui/common"
	"github.com/pbx365/pbx365/ui/uitest"
)

// BenchmarkLoad10k measures taking in a status of 10,000 calendar users
// (rows built, table filled) and rendering the screen once at 160x50.
func BenchmarkLoad10k(b *testing.B) {
	now := time.Now()
	st := common.PresenceStatus{Live: true, Enabled: true, Users: 10000}
	for i := range 10000 {
		r := common.PresenceRow{ObjectID: fmt.Sprint(i), Number: fmt.Sprint(10000 + i), Address: fmt.Sprintf("user%d@contoso.example", i),
			Current: "Available", State: "idle"}
		if i%7 == 0 {
			r.State, r.Profile, r.Previous, r.Reason = "busy", "Out of office", "Available", `busy: "Standup"`
			r.Since, r.Until, r.Next, r.NextTo = now, now.Add(time.Hour), now.Add(time.Hour), "none"
		}
		st.Rows = append(st.Rows, r)
	}
	s := New(common.NewContext(context.Background(), uitest.NewExtras(1), false)).(*Screen)
	s.SetSize(160, 50)
	b.ReportAllocs()
	for b.Loop() {
		s.stID++
		s.Update(statusMsg{id: s.stID, st: st})
		_ = s.View()
	}
}
