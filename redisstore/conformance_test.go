package redisstore

import (
	"testing"

	"github.com/stickless/stickless/internal/redistest"
	"github.com/stickless/stickless/session"
	"github.com/stickless/stickless/sessiontest"
)

// harness runs the conformance suite on stores connected by url; Break
// pauses (SIGSTOPs) every server in pause.
func harness(url string, brk func(t *testing.T)) sessiontest.Harness {
	return harnessWith(url, Options{}, brk)
}

// harnessWith is harness with stores configured by opts.
func harnessWith(url string, opts Options, brk func(t *testing.T)) sessiontest.Harness {
	return sessiontest.Harness{
		New:   func(t *testing.T) session.Store { return newStore(t, url, opts) },
		Peer:  func(t *testing.T, _ session.Store) session.Store { return newStore(t, url, opts) },
		Break: func(t *testing.T, _ session.Store) { brk(t) },
	}
}

func TestConformanceStandalone(t *testing.T) {
	srv := redistest.Standalone(t, redistest.Options{})
	sessiontest.Run(t, harness(srv.URL(), func(t *testing.T) { srv.Pause(t) }))
}

func TestConformanceCluster(t *testing.T) {
	cs := redistest.Cluster(t, 3)
	url := cs.URL()
	sessiontest.Run(t, harness(url, func(t *testing.T) {
		for _, n := range cs.Nodes {
			n.Pause(t)
		}
	}))
}

func TestConformanceSentinel(t *testing.T) {
	ss := redistest.Sentinel(t)
	url := ss.URL()
	sessiontest.Run(t, harness(url, func(t *testing.T) { ss.Master.Pause(t) }))
}

func TestConformanceStandaloneClientCache(t *testing.T) {
	srv := redistest.Standalone(t, redistest.Options{})
	sessiontest.Run(t, harnessWith(srv.URL(), cached("conformance"), func(t *testing.T) { srv.Pause(t) }))
}

func TestConformanceClusterClientCache(t *testing.T) {
	cs := redistest.Cluster(t, 3)
	url := cs.URL()
	sessiontest.Run(t, harnessWith(url, cached("conformance"), func(t *testing.T) {
		for _, n := range cs.Nodes {
			n.Pause(t)
		}
	}))
}

func TestConformanceSentinelClientCache(t *testing.T) {
	ss := redistest.Sentinel(t)
	url := ss.URL()
	sessiontest.Run(t, harnessWith(url, cached("conformance"), func(t *testing.T) { ss.Master.Pause(t) }))
}
