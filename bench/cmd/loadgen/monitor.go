package main

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync"
	"time"
)

// sent is what MONITOR saw while a few requests ran: the commands clients
// sent (each a round trip, unless pipelined) and the commands Lua scripts
// ran inside them, by name.
type sent struct {
	requests int
	top      map[string]int
	lua      map[string]int
}

// monitor watches redisAddr with MONITOR while fn runs and counts the
// commands. MONITOR is far too slow for the measured runs; it serves on a
// few sequential requests to tell the commands a client sends (the round
// trips) from those a script runs, which INFO commandstats adds together.
func monitor(ctx context.Context, redisAddr string, fn func() (requests int, err error)) (sent, error) {
	s := sent{top: map[string]int{}, lua: map[string]int{}}
	conn, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", redisAddr)
	if err != nil {
		return s, err
	}
	if _, err := conn.Write([]byte("MONITOR\r\n")); err != nil {
		conn.Close()
		return s, err
	}
	r := bufio.NewReader(conn)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "+OK") {
		conn.Close()
		return s, err
	}
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			src, cmd, ok := parseMonitorLine(line)
			if !ok {
				continue
			}
			if housekeeping[cmd] && src != "lua" {
				continue
			}
			mu.Lock()
			if src == "lua" {
				s.lua[cmd]++
			} else {
				s.top[cmd]++
			}
			mu.Unlock()
		}
	}()
	n, err := fn()
	time.Sleep(100 * time.Millisecond) // let the last lines arrive
	conn.Close()
	<-done
	s.requests = n
	return s, err
}

// housekeeping names the commands clients send for their connections, not
// for a request: the idle clients of the other contenders (rueidis pings
// idle connections) and new connections send them at any time, so they are
// left out of the counts.
var housekeeping = map[string]bool{"ping": true, "hello": true, "client": true, "auth": true, "select": true, "readonly": true}

// parseMonitorLine reads `+1700000000.123456 [0 127.0.0.1:5555] "get" "k"`
// and returns the source ("lua" for a script) and the command, lower case.
func parseMonitorLine(line string) (src, cmd string, ok bool) {
	_, rest, ok := strings.Cut(line, "[")
	if !ok {
		return "", "", false
	}
	inside, rest, ok := strings.Cut(rest, "]")
	if !ok {
		return "", "", false
	}
	if f := strings.Fields(inside); len(f) == 2 {
		src = f[1]
	}
	_, rest, ok = strings.Cut(rest, "\"")
	if !ok {
		return "", "", false
	}
	cmd, _, ok = strings.Cut(rest, "\"")
	return src, strings.ToLower(cmd), ok
}

// describe formats what one request sends: "1.00 (evalsha; in Lua: time
// 1.00, hgetall 1.00)".
func (s sent) describe() (perReq float64, detail string) {
	if s.requests == 0 {
		return 0, ""
	}
	total := 0
	for _, v := range s.top {
		total += v
	}
	top := formatCounts(s.top, s.requests)
	lua := formatCounts(s.lua, s.requests)
	detail = top
	if lua != "" {
		detail += "; in Lua: " + lua
	}
	return float64(total) / float64(s.requests), detail
}

func formatCounts(m map[string]int, requests int) string {
	calls := map[string]int64{}
	for k, v := range m {
		calls[k] = int64(v)
	}
	_, d := perRequest(calls, int64(requests))
	return d
}
