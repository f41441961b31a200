package testutil

import (
	"io"
	"net"
	"sync"
	"testing"
)

// ProxyMode is what a Proxy does with connections.
type ProxyMode int

const (
	// ProxyUp forwards every connection to the target.
	ProxyUp ProxyMode = iota
	// ProxyDown closes every connection as soon as it is accepted: a server that is down.
	ProxyDown
	// ProxyHung accepts connections and never answers: a server that hangs.
	ProxyHung
)

// Proxy is a TCP proxy in front of a real server (an API server): the test takes the server
// down or hangs it, for the processes that reach it through the proxy, and brings it back.
// Switching the mode closes every connection open, as a server that dies does.
type Proxy struct {
	// Addr is the proxy's host:port.
	Addr   string
	target string
	l      net.Listener
	mu     sync.Mutex
	mode   ProxyMode
	conns  map[net.Conn]bool
}

// NewProxy starts a proxy to target (host:port), up; it stops when the test ends.
func NewProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &Proxy{Addr: l.Addr().String(), target: target, l: l, conns: map[net.Conn]bool{}}
	go p.serve()
	tb.Cleanup(func() {
		_ = l.Close()
		p.closeAll()
	})
	return p
}

// Set switches the mode and closes every connection open.
func (p *Proxy) Set(mode ProxyMode) {
	p.mu.Lock()
	p.mode = mode
	p.mu.Unlock()
	p.closeAll()
}

func (p *Proxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
		delete(p.conns, c)
	}
}

// track keeps c to be closed at the next switch; false when the mode changed meanwhile.
func (p *Proxy) track(mode ProxyMode, conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode != mode {
		return false
	}
	for _, c := range conns {
		p.conns[c] = true
	}
	return true
}

func (p *Proxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		mode := p.mode
		p.mu.Unlock()
		switch mode {
		case ProxyDown:
			_ = c.Close()
		case ProxyHung:
			if !p.track(mode, c) {
				_ = c.Close()
			}
		default:
			go p.forward(c)
		}
	}
}

func (p *Proxy) forward(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = c.Close()
		return
	}
	if !p.track(ProxyUp, c, up) {
		_ = c.Close()
		_ = up.Close()
		return
	}
	go func() {
		_, _ = io.Copy(up, c)
		_ = up.Close()
	}()
	_, _ = io.Copy(c, up)
	_ = c.Close()
}
