package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pbx365/pbx365/graphclient"
	"github.com/pbx365/pbx365/graphclient/m365sim"
	"github.com/pbx365/pbx365/pbxclient/pbxsim"
	"github.com/pbx365/pbx365/store"
)

// SimOptions shape a simulated environment.
type SimOptions struct {
	Seed      int64
	Users     int    // directory size (default 300)
	Adoptable int    // PBX extensions pre-seeded to match directory users by email in another case (default 3)
	GraphAddr string // listen address of the simulated tenant ("" = 127.0.0.1:0)
	PBXAddr   string // listen address of the simulated PBX ("" = 127.0.0.1:0)
	Dir       string // where the key pair and CA files are written (required)
	Now       func() time.Time
}

// Sims is a running simulated tenant and PBX with a key pair registered and
// every permission consented.
type Sims struct {
	M365      *m365sim.Sim
	PBX       *pbxsim.Sim
	KeyFile   string // private key + certificate (0600)
	CertFile  string // public_key.pem, as uploaded
	GraphCA   string // CA file of the simulated tenant
	PBXCA     string // CA file of the simulated PBX
	KeyInfo   graphclient.KeyInfo
	closeOnce bool
}

// StartSims starts both simulators on loopback, makes a key pair in
// opt.Dir/keys, uploads its certificate to the simulated app and grants
// every permission.
func StartSims(opt SimOptions) (_ *Sims, err error) {
	if opt.Dir == "" {
		return nil, errors.New("start simulators: no directory for keys and CA files")
	}
	if opt.Users == 0 {
		opt.Users = 300
	}
	if opt.Adoptable == 0 {
		opt.Adoptable = 3
	}
	s := &Sims{}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	s.M365 = m365sim.New(m365sim.Options{Seed: opt.Seed, Users: opt.Users, Now: opt.Now})
	if err := s.M365.StartOn(orLoopback(opt.GraphAddr)); err != nil {
		return nil, fmt.Errorf("start the simulated tenant: %w", err)
	}
	s.PBX = pbxsim.New(pbxsim.Options{})
	if err := s.PBX.SeedDemo(adoptable(s.M365.Users(), opt.Adoptable)...); err != nil {
		return nil, fmt.Errorf("seed the simulated PBX: %w", err)
	}
	if err := s.PBX.StartOn(orLoopback(opt.PBXAddr)); err != nil {
		return nil, fmt.Errorf("start the simulated PBX: %w", err)
	}
	keys := filepath.Join(opt.Dir, "keys")
	if err := os.MkdirAll(keys, 0o700); err != nil {
		return nil, err
	}
	s.KeyFile = filepath.Join(keys, "pbx365.pem")
	if s.KeyInfo, err = graphclient.Keygen(s.KeyFile, 0, true); err != nil {
		return nil, fmt.Errorf("make the demo key pair: %w", err)
	}
	s.CertFile = s.KeyInfo.PublicFile
	cert, err := os.ReadFile(s.CertFile)
	if err != nil {
		return nil, err
	}
	if err := s.M365.RegisterCertificate(cert); err != nil {
		return nil, fmt.Errorf("upload the demo certificate: %w", err)
	}
	s.M365.GrantAll()
	s.GraphCA = filepath.Join(opt.Dir, "m365sim-ca.pem")
	if err := os.WriteFile(s.GraphCA, s.M365.CACertPEM(), 0o644); err != nil {
		return nil, err
	}
	s.PBXCA = filepath.Join(opt.Dir, "pbxsim-ca.pem")
	if err := s.PBX.WriteCAFile(s.PBXCA); err != nil {
		return nil, err
	}
	return s, nil
}

func orLoopback(addr string) string {
	if addr == "" {
		return "127.0.0.1:0"
	}
	return addr
}

// adoptable picks n enabled members with a mail address, spread over the
// directory, whose extensions pre-exist on the PBX in another letter case.
func adoptable(us []m365sim.User, n int) []string {
	var out []string
	for i := 0; i < len(us) && len(out) < n; i += 7 {
		u := us[i]
		if u.Mail != "" && u.AccountEnabled && u.UserType == "Member" && u.DeletedDateTime.IsZero() {
			out = append(out, strings.ToUpper(u.Mail[:1])+u.Mail[1:])
		}
	}
	return out
}

// Settings are the settings that point pbx365 at the simulators.
func (s *Sims) Settings() map[string]string {
	return map[string]string{
		"ms.tenant":     s.M365.TenantID(),
		"ms.client_id":  s.M365.ClientID(),
		"ms.graph_url":  s.M365.GraphURL(),
		"ms.login_url":  s.M365.URL(),
		"ms.key_file":   s.KeyFile,
		"ms.ca_file":    s.GraphCA,
		"pbx.url":       s.PBX.URL(),
		"pbx.client_id": s.PBX.ClientID(),
		"pbx.secret":    s.PBX.Secret(),
		"pbx.ca_file":   s.PBXCA,
	}
}

// Configure writes Settings into a store.
func (s *Sims) Configure(st *store.Store) error {
	if err := st.SetMany(s.Settings()); err != nil {
		return fmt.Errorf("configure for the simulators: %w", err)
	}
	return nil
}

// Close stops both simulators.
func (s *Sims) Close() {
	if s.closeOnce {
		return
	}
	s.closeOnce = true
	if s.M365 != nil {
		s.M365.Close()
	}
	if s.PBX != nil {
		s.PBX.Close()
	}
}
