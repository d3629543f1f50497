package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/stickless/stickless/internal/topology"
)

// settings are what the environment asks for; see deploy/cluster.sh.
type settings struct {
	root           string // the repository
	mode           topology.Mode
	httpPort       int
	instances      int
	appPortBase    int
	redisPort      int
	redisURL       string
	state          string
	appFlags       []string
	appBin         string // a prebuilt instance binary, or ""
	appPkg         string // else the package to build, relative to root
	metricsFlag    string
	metricsBase    int
	prometheus     bool
	prometheusPort int
	goCmd          string
}

// settingsFromEnv reads the settings, with their defaults, and checks them.
func settingsFromEnv(root string) (settings, error) {
	s := settings{root: root}
	env := func(name, def string) string {
		if v, ok := os.LookupEnv(name); ok && v != "" {
			return v
		}
		return def
	}
	var err error
	if s.mode, err = topology.ParseMode(env("STICKLESS_REDIS_MODE", "standalone")); err != nil {
		return s, fmt.Errorf("STICKLESS_REDIS_MODE: %v", err)
	}
	ports := []struct {
		name string
		def  string
		dst  *int
		max  int
	}{
		{"STICKLESS_HTTP_PORT", "8080", &s.httpPort, 65535},
		{"STICKLESS_INSTANCES", "3", &s.instances, 50},
		{"STICKLESS_APP_PORT_BASE", "8001", &s.appPortBase, 65535},
		{"STICKLESS_REDIS_PORT", "6390", &s.redisPort, 65535 - 20005},
		{"STICKLESS_METRICS_PORT_BASE", "9101", &s.metricsBase, 65535},
		{"STICKLESS_PROMETHEUS_PORT", "9090", &s.prometheusPort, 65535},
	}
	for _, p := range ports {
		v := env(p.name, p.def)
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > p.max {
			return s, fmt.Errorf("%s must be a number from 1 to %d, got %q", p.name, p.max, v)
		}
		*p.dst = n
	}
	if s.appPortBase+s.instances-1 > 65535 {
		return s, fmt.Errorf("STICKLESS_APP_PORT_BASE + STICKLESS_INSTANCES passes port 65535")
	}
	s.redisURL = os.Getenv("STICKLESS_REDIS_URL")
	if s.redisURL != "" && s.mode != topology.Standalone {
		return s, fmt.Errorf("STICKLESS_REDIS_URL and STICKLESS_REDIS_MODE=%s: give one (the URL says its own mode)", s.mode)
	}
	s.state, err = filepath.Abs(env("STICKLESS_STATE_DIR", filepath.Join(root, "deploy", ".state")))
	if err != nil {
		return s, err
	}
	s.appFlags = strings.Fields(os.Getenv("STICKLESS_APP_FLAGS"))
	s.appBin = os.Getenv("STICKLESS_APP_BIN")
	s.appPkg = env("STICKLESS_APP_PKG", "./cmd/whatsup")
	s.metricsFlag = env("STICKLESS_METRICS_FLAG", "-metrics-addr")
	if s.metricsFlag == "none" {
		s.metricsFlag = ""
	}
	s.prometheus = env("STICKLESS_PROMETHEUS", "1") != "0"
	s.goCmd = env("GO", "go")
	return s, nil
}
