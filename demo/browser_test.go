package demo

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/whiskers-dev/whiskers/syncer/builder"
)

// chromium returns the headless browser for the browser tests:
// $WHISKERS_CHROMIUM, else chromium on $PATH (Debian's package, which
// .ci/run installs). Without one it skips, or fails under CI=true.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("WHISKERS_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no chromium: install Debian's chromium package or set $WHISKERS_CHROMIUM"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true: the browser test must run)")
	}
	t.Skip(msg)
	return ""
}

// TestStatusPageInBrowser opens the demo's status page in a real headless
// browser at a phone's width: it shows the demo's services and, when the
// demo drains a worker's node, the drained instance turns to "not routed:
// … node draining" without a reload; nothing is wider than the screen.
// With $WHISKERS_SCREENSHOT=PATH it also writes a PNG of the page there.
func TestStatusPageInBrowser(t *testing.T) {
	bin := chromium(t)
	d, _ := startDemo(t, Options{Dir: t.TempDir(), DrainEvery: time.Second})
	select {
	case <-d.Ready():
	case <-time.After(time.Minute):
		t.Fatal("the demo did not start within a minute")
	}
	page := d.Addrs().Status

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox, // root in CI containers
		chromedp.Flag("headless", true),
		chromedp.Flag("disable-gpu", true),
		// Nothing but the page on loopback may be reached.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelTimeout()

	const finicky = `section[data-service="` + AppService + `"]`
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844), // a phone
		chromedp.Navigate(page),
		chromedp.WaitVisible(finicky),
		chromedp.WaitVisible(`section[data-service="`+ScoreboardService+`"]`),
		chromedp.Steps(func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Evaluate[bool](`window.sameLoad = true`)(ctx, t)
			return chromedp.Void{}, err
		}),
		chromedp.WaitReady(`main[data-live="1"]`), // following the event stream
	); err != nil {
		t.Fatalf("loading %s: %v", page, err)
	}

	// The demo drains a worker's node every other second.
	drained := `(() => {
		const r = document.querySelector('` + finicky + ` tr[data-routed="false"] td.reason');
		return r ? r.textContent : "";
	})()`
	deadline := time.Now().Add(time.Minute)
	for {
		reason, err := chromedp.Run(ctx, chromedp.Evaluate[string](drained))
		if err != nil {
			t.Fatal(err)
		}
		if reason == builder.ReasonDraining {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s instance turned to %q within a minute (last: %q)", AppService, builder.ReasonDraining, reason)
		}
		time.Sleep(20 * time.Millisecond) // polling the page, not waiting for a result
	}
	sameLoad, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.sameLoad === true`))
	if err != nil {
		t.Fatal(err)
	}
	fits, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`))
	if err != nil {
		t.Fatal(err)
	}
	if !sameLoad {
		t.Error("the page was reloaded: it must update in place")
	}
	if !fits {
		t.Error("the page is wider than a phone's screen")
	}
	if path := os.Getenv("WHISKERS_SCREENSHOT"); path != "" {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}
}
