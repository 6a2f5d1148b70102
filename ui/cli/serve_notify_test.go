package cli

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/pbx365/pbx365/graphclient/m365sim"
	"github.com/pbx365/pbx365/sync/app/apptest"
)

// With notify.public_url set, a tenant change reaches the PBX through a
// change notification long before the (hour-long) polling interval.
func TestServeFollowsTheTenantThroughChangeNotifications(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	certFile, keyFile, certPEM := apptest.ListenerCert(t, time.Now().Add(24*time.Hour))
	data, sims := simDataDir(t, 40, map[string]string{
		"schedule.delta_interval": "1h",
		"notify.public_url":       fmt.Sprintf("https://127.0.0.1:%d/graph/notify", port),
		"notify.listen":           fmt.Sprintf("127.0.0.1:%d", port),
		"notify.cert_file":        certFile,
		"notify.key_file":         keyFile,
	})
	sims.M365.TrustNotificationCA(certPEM)
	ctx, cancel := context.WithCancel(context.Background())
	var errs apptest.LogBuffer
	done := make(chan int, 1)
	go func() { done <- Serve(ctx, data, IO{Out: &bytes.Buffer{}, Err: &errs}) }()
	defer func() {
		cancel()
		<-done
	}()
	var u m365sim.User
	for _, x := range sims.M365.Users() {
		if x.UserType == "Member" && x.AccountEnabled && x.Mail != "" {
			u = x
			break
		}
	}
	waitFor(t, 30*time.Second, "the first sync", func() bool { return pbxHasFirstName(sims, u.Mail, firstOf(u)) })
	waitFor(t, 30*time.Second, "the users subscription", func() bool {
		for _, s := range sims.M365.Subscriptions() {
			if s.Resource == "users" {
				return true
			}
		}
		return false
	})
	start := time.Now()
	if err := sims.M365.UpdateUser(u.ID, func(x *m365sim.User) { x.GivenName = "Notified" }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the rename to reach the PBX by notification", func() bool { return pbxHasFirstName(sims, u.Mail, "Notified") })
	t.Logf("tenant change reached the PBX through a change notification in %s (polling interval 1h)", time.Since(start).Round(time.Millisecond))
}
