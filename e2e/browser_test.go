package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/stickless/stickless/internal/testenv"
)

// screenshotDir keeps the browser test's screenshots where a human can look
// at them after the run; it is git-ignored.
const screenshotDir = "testdata/out"

// TestBrowser drives Debian's Chromium, headless, through nginx: the login
// form, the greeting, the sessions page, and the logout back to the login
// form. It saves a screenshot of the logged-in page in testdata/out.
func TestBrowser(t *testing.T) {
	chromium := testenv.Require(t, "chromium", "chromium")
	c := startCluster(t, clusterConfig{})

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.WindowSize(1000, 700),
	)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()

	// The name has markup in it: the page must show it as text.
	const name = "Zoë <b>Ada</b>"
	step := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("chromium: %s: %v", what, err)
		}
	}
	// Anonymous: / sends the browser to the login form.
	step("open /", chromedp.Do(browser,
		chromedp.Navigate(c.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#name")),
	))
	loginURL, err := chromedp.Run(browser, chromedp.Location())
	step("location", err)
	step("log in", chromedp.Do(browser,
		chromedp.SendKeys(chromedp.CSS("#name"), name),
		chromedp.Click(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS("#greeting")),
	))
	greetingText, err := chromedp.Run(browser, chromedp.Text(chromedp.CSS("#greeting")))
	step("greeting", err)
	instance, err := chromedp.Run(browser, chromedp.Text(chromedp.CSS("#instance")))
	step("instance", err)
	png, err := chromedp.Run(browser, chromedp.CaptureScreenshot())
	step("screenshot", err)
	step("sessions page", chromedp.Do(browser,
		chromedp.Click(chromedp.CSS("#sessions-link")),
		chromedp.WaitVisible(chromedp.CSS("table#sessions")),
	))
	rows, err := chromedp.Run(browser, chromedp.Evaluate[int](`document.querySelectorAll("table#sessions tr.session").length`))
	step("count sessions", err)
	current, err := chromedp.Run(browser, chromedp.Evaluate[int](`document.querySelectorAll("table#sessions tr.session.current").length`))
	step("count current", err)
	step("log out", chromedp.Do(browser,
		chromedp.Click(chromedp.CSS("#logout")),
		chromedp.WaitVisible(chromedp.CSS("#name")),
	))
	afterLogout, err := chromedp.Run(browser, chromedp.Location())
	step("location", err)

	if !strings.Contains(loginURL, "/login") {
		t.Errorf("anonymous GET / ended at %q, want the login form", loginURL)
	}
	if want := greeting(name); greetingText != want {
		t.Errorf("greeting: got %q, want %q", greetingText, want)
	}
	t.Logf("logged-in page served by %s", instance)
	if rows != 1 || current != 1 {
		t.Errorf("sessions page: %d sessions, %d marked current; want 1 and 1", rows, current)
	}
	if !strings.HasSuffix(afterLogout, "/login") {
		t.Errorf("after logout the browser is at %q, want /login", afterLogout)
	}

	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	shot, _ := filepath.Abs(filepath.Join(screenshotDir, "browser-logged-in.png"))
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the logged-in page: %s", shot)

	// Logged out for good: / sends the browser to the login form again.
	step("open / again", chromedp.Do(browser,
		chromedp.Navigate(c.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#name")),
	))
	again, err := chromedp.Run(browser, chromedp.Location())
	step("location", err)
	if !strings.Contains(again, "/login") {
		t.Errorf("after logout, GET / ended at %q, want the login form", again)
	}
}
