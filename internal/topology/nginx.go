package topology

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/stickless/stickless/internal/testenv"
)

// FindNginx returns the nginx binary: Debian installs it in /usr/sbin,
// which is not on a user's PATH.
func FindNginx() (string, error) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx", nil
	}
	return "", fmt.Errorf("nginx not found; install it: apt-get install -y nginx")
}

// RenderNginx renders deploy/nginx.conf (the site) and deploy/nginx-dev.conf
// (the main context that includes it) into prefix, with nginx listening on
// listen, one `server` line per upstream address and /static/ served from
// staticRoot, and returns the main configuration's path.
func RenderNginx(deployDir, prefix, logDir, listen, staticRoot string, upstreams []string) (string, error) {
	var servers []string
	for _, u := range upstreams {
		servers = append(servers, "server "+u+" max_fails=1 fail_timeout=10s;")
	}
	markers := map[string]string{
		"@LISTEN@":           listen,
		"@UPSTREAM_SERVERS@": strings.Join(servers, "\n    "),
		"@PREFIX@":           prefix,
		"@LOGS@":             logDir,
		"@SITE_CONF@":        filepath.Join(prefix, "site.conf"),
		"@STATIC_ROOT@":      staticRoot,
	}
	if err := Render(filepath.Join(deployDir, "nginx.conf"), filepath.Join(prefix, "site.conf"), markers); err != nil {
		return "", err
	}
	main := filepath.Join(prefix, "nginx.conf")
	return main, Render(filepath.Join(deployDir, "nginx-dev.conf"), main, markers)
}

// startNginx renders the shipped configuration and starts nginx in the
// foreground, trying another free port when the one picked was taken.
func (t *Topology) startNginx() error {
	cfg := &t.cfg
	bin, err := FindNginx()
	if err != nil {
		return err
	}
	prefix := filepath.Join(cfg.Dir, "nginx")
	if err := os.MkdirAll(prefix, 0o711); err != nil {
		return err
	}
	// nginx started as root runs its workers as nobody: let them reach the
	// temporary files under the prefix.
	if os.Geteuid() == 0 {
		for d := prefix; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
			if st, err := os.Stat(d); err == nil && st.Mode().Perm()&0o011 != 0o011 {
				os.Chmod(d, st.Mode().Perm()|0o011)
			}
		}
	}
	var ups []string
	for _, in := range t.Instances {
		ups = append(ups, in.Addr)
	}
	// The static files of the release, under their hashed names, where
	// nginx's /static/ location reads them: the instances never see those
	// requests.
	staticRoot := filepath.Join(prefix, "static")
	if out, err := exec.Command(cfg.AppBin, "-write-static", staticRoot).CombinedOutput(); err != nil {
		return fmt.Errorf("%s -write-static: %v\n%s", cfg.AppBin, err, out)
	}
	errorLog := filepath.Join(cfg.LogDir, "nginx-error.log")
	t.Nginx = &testenv.Proc{Name: "nginx", Path: bin, Dir: prefix, LogFile: filepath.Join(cfg.LogDir, "nginx.log")}
	for attempt := 1; ; attempt++ {
		port := cfg.HTTPPort
		if port == 0 {
			if port, err = testenv.FreePortErr(); err != nil {
				return err
			}
		}
		listen := addr(port)
		conf, err := RenderNginx(cfg.DeployDir, prefix, cfg.LogDir, listen, staticRoot, ups)
		if err != nil {
			return err
		}
		t.Nginx.Args = []string{"-p", prefix + "/", "-e", errorLog, "-c", conf}
		t.URL = "http://" + listen
		if err := t.Nginx.Start(); err != nil {
			return err
		}
		err = t.Nginx.WaitReady(StartTimeout, httpOK(t.URL+"/healthz"))
		if err == nil {
			cfg.logf("%-10s %s (pid %d, config %s)", "nginx", t.URL, t.Nginx.Pid(), conf)
			return nil
		}
		t.Nginx.Kill()
		if testenv.FileHas(errorLog, "Address already in use") && attempt < 5 && cfg.HTTPPort == 0 {
			continue
		}
		return fmt.Errorf("%w\n%s%s", err, testenv.Tail(errorLog, 30), t.Nginx.Tail(10))
	}
}
