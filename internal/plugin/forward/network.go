package forward

import (
	"sync"
	"time"
)

// Network is what the plugin knows of its way to WeChat Pay.
type Network string

// Network states.
const (
	Unknown Network = "UNKNOWN" // nothing sent yet
	Online  Network = "ONLINE"  // the last call got an answer
	Offline Network = "OFFLINE" // the last call got none
)

// networkState tracks reachability from every call's outcome, the
// forwarder's and the online path's alike.
type networkState struct {
	mu        sync.Mutex
	state     Network
	since     time.Time
	lastErr   string
	lastErrAt time.Time
}

// set records a state; it reports whether the state changed.
func (n *networkState) set(s Network, now time.Time, errText string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if errText != "" {
		n.lastErr, n.lastErrAt = errText, now
	}
	if n.state == s {
		return false
	}
	n.state, n.since = s, now
	return true
}

func (n *networkState) get() (Network, time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.state, n.since
}
