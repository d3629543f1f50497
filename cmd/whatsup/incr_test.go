package main

import (
	"strings"
	"sync"
	"testing"
)

func TestAPIIncr(t *testing.T) {
	d := newDemo(t)
	anon := d.client()
	if r := d.do(anon, "POST", "/api/incr", "application/json", `{"key":"clicks"}`); r.code != 401 {
		t.Fatalf("incr without login: %d %s, want 401", r.code, r.body)
	}
	c := d.client()
	d.login(c, "ann")
	for _, tc := range []struct {
		name, body string
		code       int
		want       string
	}{
		{"default by 1", `{"key":"clicks"}`, 200, `"value":1`},
		{"by 5", `{"key":"clicks","by":5}`, 200, `"value":6`},
		{"negative", `{"key":"clicks","by":-2}`, 200, `"value":4`},
		{"no key", `{"by":1}`, 400, "error"},
		{"not JSON", `clicks`, 400, "error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := d.do(c, "POST", "/api/incr", "application/json", tc.body)
			if r.code != tc.code || !strings.Contains(r.body, tc.want) {
				t.Errorf("POST /api/incr %s: %d %s, want %d with %s", tc.body, r.code, r.body, tc.code, tc.want)
			}
		})
	}
	d.do(c, "POST", "/api/session", "application/json", `{"word":"\"hi\""}`)
	if r := d.do(c, "POST", "/api/incr", "application/json", `{"key":"word"}`); r.code != 409 {
		t.Errorf("incr of a string: %d %s, want 409", r.code, r.body)
	}
	// Concurrent increments all count.
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() { d.do(c, "POST", "/api/incr", "application/json", `{"key":"n"}`) })
	}
	wg.Wait()
	if r := d.do(c, "POST", "/api/incr", "application/json", `{"key":"n","by":0}`); !strings.Contains(r.body, `"value":20`) {
		t.Errorf("after 20 concurrent increments: %s, want value 20", r.body)
	}
}
