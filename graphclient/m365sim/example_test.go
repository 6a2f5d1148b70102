package m365sim_test

import (
	"fmt"
	"log"
	"time"

	"github.com/pbx365/pbx365/graphclient/m365sim"
)

// A test (or `pbx365 sim`) starts a tenant, uploads the app's public
// certificate, consents to the permissions and points graphclient at the
// sim's URLs, trusting its CA.
func Example() {
	sim := m365sim.New(m365sim.Options{Seed: 42, Users: 1000})
	if err := sim.Start(); err != nil {
		log.Fatal(err)
	}
	defer sim.Close()
	var certPEM []byte // public_key.pem written by pbx365 keygen
	if err := sim.RegisterCertificate(certPEM); err != nil {
		log.Print(err) // no CERTIFICATE block in this example
	}
	sim.GrantAll()
	fmt.Println("ms.login_url =", sim.URL())
	fmt.Println("ms.graph_url =", sim.GraphURL())
	fmt.Println("ms.tenant =", sim.TenantID(), "ms.client_id =", sim.ClientID())
	_ = sim.CACertPEM() // write to ms.ca_file

	// Faults and the clock for tests.
	sim.ThrottleNext(3, 2*time.Second)
	sim.Advance(8 * 24 * time.Hour) // delta tokens older than 7 days now answer 410
}
