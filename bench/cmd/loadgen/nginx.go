package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// upstream is one nginx listener that spreads its requests round-robin
// over backends.
type upstream struct {
	Name     string
	Port     int
	Backends []string
}

// nginxConf is the configuration the load driver renders into its
// temporary directory: plain round-robin, keep-alive to the client and to
// the backends, no access log, everything on loopback.
//
// It is deliberately not deploy/nginx.conf, which the e2e tests, make
// cluster and make soak all render through internal/topology: the
// benchmark measures the session libraries, so its nginx has no access log,
// no failover bookkeeping (max_fails=0), more workers and connections for
// the C10K run, and one upstream per contender.
var nginxConf = template.Must(template.New("nginx.conf").Parse(`# rendered by stickless bench/cmd/loadgen
daemon off;
master_process on;
worker_processes {{.Workers}};
worker_rlimit_nofile {{.NoFile}};
pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/nginx-error.log warn;
events {
	worker_connections {{.Conns}};
	multi_accept on;
}
http {
	access_log off;
	client_body_temp_path {{.Dir}}/body;
	proxy_temp_path {{.Dir}}/proxy;
	fastcgi_temp_path {{.Dir}}/fastcgi;
	uwsgi_temp_path {{.Dir}}/uwsgi;
	scgi_temp_path {{.Dir}}/scgi;
	keepalive_timeout 120s;
	keepalive_requests 100000000;
{{range .Upstreams}}
	upstream {{.Name}} {
{{- range .Backends}}
		server {{.}} max_fails=0;
{{- end}}
		keepalive 512;
		keepalive_requests 100000000;
	}
	server {
		listen 127.0.0.1:{{.Port}} backlog=16384 reuseport;
		location / {
			proxy_pass http://{{.Name}};
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host $host;
			proxy_buffering off;
		}
	}
{{end}}
}
`))

// startNginx renders the configuration for ups and starts nginx with it,
// returning once every listener accepts connections.
func (p *procs) startNginx(ctx context.Context, ups []upstream, workers int, noFile uint64, conns int) error {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nginx"); serr != nil {
			return fmt.Errorf("nginx not found: install the Debian package nginx")
		}
		bin = "/usr/sbin/nginx"
	}
	dir := filepath.Join(p.dir, "nginx")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var b strings.Builder
	err = nginxConf.Execute(&b, map[string]any{
		"Dir": dir, "Workers": workers, "NoFile": noFile, "Conns": conns, "Upstreams": ups,
	})
	if err != nil {
		return err
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
		return err
	}
	if _, err := p.start("nginx", bin, "-e", filepath.Join(dir, "nginx-error.log"), "-p", dir, "-c", conf); err != nil {
		return err
	}
	for _, u := range ups {
		addr := "127.0.0.1:" + strconv.Itoa(u.Port)
		err := waitFor(ctx, 10*time.Second, func() error {
			c, err := net.Dial("tcp", addr)
			if err == nil {
				c.Close()
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("nginx did not listen on %s: %w (see %s)", addr, err, filepath.Join(dir, "nginx-error.log"))
		}
	}
	return nil
}
