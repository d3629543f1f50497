// Package e2e holds the end-to-end tests of stickless: they build
// cmd/whatsup, start a real redis-server (AOF on), three whatsup instances
// and nginx with the shipped deploy/nginx.conf on free 127.0.0.1 ports in a
// temporary directory, and drive them over HTTP and with a headless
// Chromium. The package has no code of its own; see its _test.go files.
//
// A missing redis-server, nginx or chromium skips the tests that need it
// with the Debian package to install, or fails them when
// STICKLESS_REQUIRE_SERVERS=1.
package e2e
