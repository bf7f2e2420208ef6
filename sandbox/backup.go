package sandbox

import "net/http"

// domain is one of the WeChat Pay API domains the sandbox plays.
type domain struct {
	name   string // its log prefix
	faults Faults // guarded by Sandbox.faultMu
}

// Backup is the sandbox as WeChat Pay's backup API domain
// (api2.mch.weixin.qq.com): an http.Handler serving the same orders, clock
// and admin API as the Sandbox itself, with faults of its own, so that a
// test can take the main domain down while the backup answers. Serve it on
// a second listener (Server.ListenBackup, or httptest.NewServer(sb.Backup())).
type Backup struct{ s *Sandbox }

// Backup is the sandbox's backup domain; the Sandbox's own ServeHTTP,
// Faults and SetFaults are the main domain's.
func (s *Sandbox) Backup() *Backup { return s.backupH }

// ServeHTTP serves /v3/ and /sandbox/ as Sandbox.ServeHTTP does, but with
// the backup's faults; its /sandbox/faults reads and sets those.
func (b *Backup) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.s.serve(w, r, &b.s.backup)
}

// Faults returns the backup domain's fault settings.
func (b *Backup) Faults() Faults { return b.s.faultsOf(&b.s.backup) }

// SetFaults replaces the backup domain's fault settings, as
// Sandbox.SetFaults does the main domain's.
func (b *Backup) SetFaults(f Faults) error { return b.s.setFaults(&b.s.backup, f) }
