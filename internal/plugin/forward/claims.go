package forward

import "sync"

// Claims says who sends an order's operations at a time: the forwarder or
// the online path, never both at once. It belongs to the outbox, not to one
// forwarder: a reconfigure that keeps the outbox keeps its claims, so a new
// forwarder never sends what an online call of the old configuration is
// still sending.
type Claims struct {
	mu      sync.Mutex
	forward map[string]chan struct{} // orders a forwarder works on; closed when it lets go
	online  map[string]chan struct{} // orders the online path sends; closed at release
}

// NewClaims returns an empty set of claims, for one outbox.
func NewClaims() *Claims {
	return &Claims{forward: map[string]chan struct{}{}, online: map[string]chan struct{}{}}
}

// hold claims an order for the online path. held is false when it is
// taken: by another online call (wait closes when that call lets go) or by
// the forwarder (wait is nil).
func (c *Claims) hold(no string) (held bool, wait <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch, ok := c.online[no]; ok {
		return false, ch
	}
	if c.forward[no] != nil {
		return false, nil
	}
	c.online[no] = make(chan struct{})
	return true, nil
}

// forwarderHas is closed when the forwarder lets go of the order; nil when
// it does not have it.
func (c *Claims) forwarderHas(no string) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.forward[no]
}

func (c *Claims) release(no string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch, ok := c.online[no]; ok {
		close(ch)
		delete(c.online, no)
	}
}

// take claims an order for the forwarder, if nobody has it.
func (c *Claims) take(no string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.forward[no] != nil || c.online[no] != nil {
		return false
	}
	c.forward[no] = make(chan struct{})
	return true
}

func (c *Claims) drop(no string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch, ok := c.forward[no]; ok {
		close(ch)
		delete(c.forward, no)
	}
}

// taken says whether anybody has the order.
func (c *Claims) taken(no string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.forward[no] != nil || c.online[no] != nil
}

// forwarding counts the orders the forwarder has.
func (c *Claims) forwarding() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.forward)
}
