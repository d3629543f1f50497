package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/stickless/stickless/internal/testenv"
)

// TestBrowserLiveLineEndsEverywhere: two browser contexts (two cookie
// jars, as two browsers) log in as the same user through nginx. The home
// page shows the live line (EventSource on /api/events) styled by the
// stylesheet nginx serves; "log out everywhere" in one sends the other to
// the login page by itself, without a reload.
func TestBrowserLiveLineEndsEverywhere(t *testing.T) {
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
	step := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("chromium: %s: %v", what, err)
		}
	}
	step("start", chromedp.Do(browser))
	// Two browser contexts: separate cookie jars.
	first, cancelFirst := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	defer cancelFirst()
	second, cancelSecond := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	defer cancelSecond()

	login := func(tab context.Context, which string) {
		t.Helper()
		step(which+": log in", chromedp.Do(tab,
			chromedp.Navigate(c.URL+"/login"),
			chromedp.WaitVisible(chromedp.CSS("#name")),
			chromedp.SendKeys(chromedp.CSS("#name"), "dana"),
			chromedp.Click(chromedp.CSS("#login")),
			chromedp.WaitVisible(chromedp.CSS("#greeting")),
		))
	}
	login(first, "first")
	login(second, "second")

	// The live line shows an instance, through nginx.
	step("first: live line", chromedp.Do(first, chromedp.WaitVisible(chromedp.CSS("#live"))))
	inst, err := chromedp.Run(first, chromedp.Text(chromedp.CSS("#live-instance")))
	step("live instance", err)
	if !strings.HasPrefix(inst, "i") {
		t.Errorf("live line instance %q, want one of the instances", inst)
	}
	// The stylesheet from nginx's /static/ applies (body max-width: 42rem).
	width, err := chromedp.Run(first, chromedp.Evaluate[string](`getComputedStyle(document.body).maxWidth`))
	step("computed style", err)
	if width != "672px" {
		t.Errorf("body max-width %q, want 672px: is the stylesheet served with the right type?", width)
	}

	step("second: log out everywhere", chromedp.Do(second,
		chromedp.Navigate(c.URL+"/sessions"),
		chromedp.WaitVisible(chromedp.CSS("#logout-everywhere")),
	))
	start := time.Now()
	step("second: click", chromedp.Do(second,
		chromedp.Click(chromedp.CSS("#logout-everywhere")),
		chromedp.WaitVisible(chromedp.CSS("#name")),
	))
	// The first browser, left alone, goes to the login form by itself.
	step("first: sent to the login page", chromedp.Do(first, chromedp.WaitVisible(chromedp.CSS("#name"))))
	took := time.Since(start)
	loc, err := chromedp.Run(first, chromedp.Location())
	step("location", err)
	if !strings.HasSuffix(loc, "/login") {
		t.Errorf("first browser at %q, want /login", loc)
	}
	t.Logf("the other browser reached the login page %v after the click on log out everywhere (target: 3 s)", took.Round(time.Millisecond))
}
