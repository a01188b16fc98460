// Package traefikproc runs a real Traefik proxy as a child process, set up
// as whiskers is deployed: the whiskers middleware loaded as a local plugin
// (experimental.localPlugins, interpreted by Traefik's Yaegi) and the
// dynamic configuration read from a file that Traefik's file provider
// watches. The end-to-end tests and `whiskers demo` use it; the binary comes
// from `make traefik`.
package traefikproc

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/whiskers-dev/whiskers"
	"github.com/whiskers-dev/whiskers/internal/childproc"
	"github.com/whiskers-dev/whiskers/internal/syncbuf"
)

// DefaultThrottle is the providers.providersThrottleDuration the proxy runs
// with. Traefik applies provider changes at most this often (its default is
// 2 s, which would hold a drained server in the pool for up to 2 s); the
// syncer already throttles its writes (50 ms), so 100 ms loses
// nothing.
const DefaultThrottle = 100 * time.Millisecond

// PluginName is the key of the local plugin in Traefik's static
// configuration, so middlewares configure it as plugin.whiskers.<option>.
const PluginName = "whiskers"

// RedirectPlugin and FileserverPlugin are the keys of the in-process wasm
// plugins (http-wasm), so middlewares configure them as
// plugin.whiskers-redirect.<option> and plugin.whiskers-fileserver.<option>.
const (
	RedirectPlugin   = "whiskers-redirect"
	FileserverPlugin = "whiskers-fileserver"
)

// Options configure a Proxy. Bin, Dir and DynamicFile are required.
type Options struct {
	// Bin is the Traefik binary.
	Bin string
	// Dir is Traefik's working directory; it receives traefik.yml and
	// plugins-local/ and is created if missing.
	Dir string
	// DynamicFile is the file the file provider watches (the syncer's
	// output). If it does not exist, Start creates it with no
	// configuration: Traefik's file provider does not pick up a file that
	// was missing when it started.
	DynamicFile string
	// NomadAddr, instead of DynamicFile, makes Traefik read Nomad's
	// catalog itself with its own Nomad provider at its fastest setting
	// (watch, the same throttle): the anchor whiskers is compared with.
	NomadAddr string
	// Web is the address of the "web" entry point; "" picks a free
	// loopback port.
	Web string
	// API is the address of the "traefik" entry point that serves /ping
	// and the read-only API (/api/rawdata, /api/http/routers/…); "" picks
	// a free loopback port. Keep it on loopback: the API is unauthenticated.
	API string
	// Throttle is providers.providersThrottleDuration; 0 means
	// DefaultThrottle.
	Throttle time.Duration
	// Plugin holds the plugin module's files (.traefik.yml, go.mod,
	// plugin/*.go, and the wasm plugins'); nil means whiskers.PluginSource.
	Plugin fs.FS
	// FileserverMounts are the fileserver wasm plugin's mounts,
	// "host:guest:ro" (Traefik's settings.mounts).
	FileserverMounts []string
	// EntryPoints are more entry points, by name, with their addresses as
	// Traefik writes them ("127.0.0.1:0", "127.0.0.1:0/udp"); a port 0 is
	// picked by Traefik itself.
	EntryPoints map[string]string
	// NoPlugins leaves the local plugins out: a Traefik without the
	// whiskers middlewares (Plugin is then unused).
	NoPlugins bool
	// LogLevel is Traefik's log level; "" means ERROR.
	LogLevel string
	// Output also receives Traefik's stdout and stderr; Logs keeps them
	// either way.
	Output io.Writer
}

// Proxy is a running Traefik process. Close stops it.
type Proxy struct {
	// URL is the web entry point, e.g. http://127.0.0.1:40123.
	URL string
	// APIURL is the traefik entry point (ping and API).
	APIURL string

	proc *childproc.Process
	logs *syncbuf.Buffer
}

// startAttempts is how many times Start starts Traefik on ports it picked
// itself before it gives up.
const startAttempts = 4

// errPortTaken is wrapped by start's error when Traefik could not have its
// ports: it failed to bind them, or another process answers on them.
var errPortTaken = errors.New("port taken")

// Start writes the static configuration and the plugin into o.Dir, starts
// Traefik and waits until it answers /ping, or until ctx is done.
//
// Traefik binds its entry points itself, so the ports Start picks for Web
// and API (when they are "") are free when picked, not held: another
// process may take one before Traefik binds it. Start then starts Traefik
// again on newly picked ports, up to four times in all: when Traefik exits
// saying "address already in use", or when what answers /ping is not the
// Traefik it started (its API reports another web address). Addresses
// given in o are used as they are: when one of them is taken, Start fails.
func Start(ctx context.Context, o Options) (*Proxy, error) {
	if o.Bin == "" || o.Dir == "" || (o.DynamicFile == "") == (o.NomadAddr == "") {
		return nil, errors.New("traefik: Bin, Dir and one of DynamicFile and NomadAddr are required")
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("traefik: working directory: %w", err)
	}
	if o.DynamicFile != "" {
		if err := createIfMissing(o.DynamicFile); err != nil {
			return nil, err
		}
	}
	if !o.NoPlugins {
		if err := installPlugin(o.Dir, cmp.Or[fs.FS](o.Plugin, whiskers.PluginSource)); err != nil {
			return nil, err
		}
	}
	picks := o.Web == "" || o.API == ""
	for attempt := 1; ; attempt++ {
		try := o
		var err error
		if try.Web == "" {
			if try.Web, err = pickAddr(); err != nil {
				return nil, err
			}
		}
		if try.API == "" {
			if try.API, err = pickAddr(); err != nil {
				return nil, err
			}
		}
		p, err := start(ctx, try)
		if err == nil || !picks || attempt == startAttempts || !errors.Is(err, errPortTaken) || takesGiven(err, o) {
			return p, err
		}
		if o.Output != nil {
			fmt.Fprintf(o.Output, "traefikproc: %v; starting again on other ports\n", err)
		}
	}
}

// takesGiven reports whether err (with Traefik's output) names an address
// given in o: other ports would not help.
func takesGiven(err error, o Options) bool {
	return (o.Web != "" && strings.Contains(err.Error(), o.Web)) || (o.API != "" && strings.Contains(err.Error(), o.API))
}

// start starts Traefik once, on o's addresses (all set), and waits until
// it answers /ping.
func start(ctx context.Context, o Options) (*Proxy, error) {
	static := filepath.Join(o.Dir, "traefik.yml")
	if err := os.WriteFile(static, []byte(StaticConfig(o)), 0o644); err != nil {
		return nil, fmt.Errorf("traefik: writing static configuration: %w", err)
	}

	p := &Proxy{URL: "http://" + o.Web, APIURL: "http://" + o.API, logs: &syncbuf.Buffer{}}
	var out io.Writer = p.logs
	if o.Output != nil {
		out = io.MultiWriter(p.logs, o.Output)
	}
	cmd := exec.Command(o.Bin, "--configFile="+static)
	cmd.Dir = o.Dir // Traefik looks for plugins-local/ in its working directory
	cmd.Stdout = out
	cmd.Stderr = out
	var err error
	if p.proc, err = childproc.Start(cmd); err != nil {
		return nil, fmt.Errorf("traefik: %w", err)
	}
	if err := p.waitPing(ctx); err != nil {
		_ = p.Close()
		if strings.Contains(p.Logs(), "address already in use") {
			err = fmt.Errorf("%w (%w)", err, errPortTaken)
		}
		return nil, err
	}
	if err := p.checkWeb(ctx, o.Web); err != nil {
		_ = p.Close()
		return nil, err
	}
	return p, nil
}

// checkWeb makes sure the API that answered /ping is this Traefik's: its
// web entry point is on web. Another process may have bound the API
// port first, and this Traefik failed (or is about to fail) to bind it.
func (p *Proxy) checkWeb(ctx context.Context, web string) error {
	var ep struct {
		Address string `json:"address"`
	}
	if err := API(p.APIURL).getJSON(ctx, "/api/entrypoints/web", &ep); err != nil {
		return fmt.Errorf("traefik: asking for the web entry point: %w", err)
	}
	if ep.Address != web {
		return fmt.Errorf("traefik: %s is answered by a process whose web entry point is %q, not %q: %w",
			p.APIURL, ep.Address, web, errPortTaken)
	}
	return nil
}

// StaticConfig is the static configuration Start writes for o (whose Web
// and API addresses must be set): entry points web and traefik, ping and
// the API on traefik, o.EntryPoints, the file provider watching
// o.DynamicFile (or the Nomad provider), the local plugins unless
// o.NoPlugins.
func StaticConfig(o Options) string {
	throttle := cmp.Or(o.Throttle, DefaultThrottle)
	mounts := "[]"
	if len(o.FileserverMounts) > 0 {
		b, _ := json.Marshal(o.FileserverMounts) // a list of strings: cannot fail
		mounts = string(b)
	}
	var more strings.Builder
	for _, name := range slices.Sorted(maps.Keys(o.EntryPoints)) {
		fmt.Fprintf(&more, "  %s:\n    address: %q\n", name, o.EntryPoints[name])
	}
	plugins := fmt.Sprintf(`experimental:
  localPlugins:
    %s:
      moduleName: %s
    %s:
      moduleName: %s
    %s:
      moduleName: %s
      settings:
        mounts: %s
`, PluginName, whiskers.ModuleName, RedirectPlugin, whiskers.RedirectModule, FileserverPlugin, whiskers.FileserverModule, mounts)
	if o.NoPlugins {
		plugins = ""
	}
	provider := fmt.Sprintf("  file:\n    filename: %q\n    watch: true\n", o.DynamicFile)
	if o.NomadAddr != "" {
		provider = fmt.Sprintf("  nomad:\n    watch: true\n    exposedByDefault: false\n    endpoint:\n      address: %q\n", o.NomadAddr)
	}
	return fmt.Sprintf(`# Written by whiskers (internal/traefikproc) for a local Traefik.
entryPoints:
  web:
    address: %q
  traefik:
    address: %q
%sping:
  entryPoint: traefik
api:
  insecure: true
  dashboard: false
providers:
  # Traefik applies provider changes at most this often (default 2s); the
  # syncer already throttles its writes, so a drained server leaves within ~%s.
  providersThrottleDuration: %s
%slog:
  level: %s
global:
  checkNewVersion: false
  sendAnonymousUsage: false
%s`, o.Web, o.API, more.String(), throttle, throttle, provider, cmp.Or(o.LogLevel, "ERROR"), plugins)
}

// createIfMissing creates an empty dynamic configuration file at path
// unless one is there; a file written since is left alone.
func createIfMissing(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("traefik: dynamic configuration file: %w", err)
	}
	_, err = f.WriteString("# no configuration yet: whiskers sync replaces this file\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("traefik: dynamic configuration file: %w", err)
	}
	return nil
}

// installPlugin copies the plugin module into dir/plugins-local/src/<module>.
// Its _test.go files go along; Traefik's Yaegi does not load them.
func installPlugin(dir string, src fs.FS) error {
	dst := filepath.Join(dir, "plugins-local", "src", filepath.FromSlash(whiskers.ModuleName))
	if err := os.RemoveAll(dst); err != nil {
		return fmt.Errorf("traefik: plugin directory: %w", err)
	}
	if err := os.CopyFS(dst, src); err != nil {
		return fmt.Errorf("traefik: installing the plugin: %w", err)
	}
	return nil
}

// waitPing polls /ping until Traefik answers 200, the process exits, or ctx
// is done.
func (p *Proxy) waitPing(ctx context.Context) error {
	client := &http.Client{Timeout: time.Second}
	t := time.NewTicker(50 * time.Millisecond) // an external process: polling is all there is
	defer t.Stop()
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.APIURL+"/ping", nil)
		if err != nil {
			return fmt.Errorf("traefik: ping: %w", err)
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("traefik: not answering /ping (last: %v): %w; output:\n%s", last, ctx.Err(), p.Logs())
		case <-p.proc.Done():
			return fmt.Errorf("traefik: exited before answering /ping: %v; output:\n%s", p.proc.Err(), p.Logs())
		case <-t.C:
		}
	}
}

// RouterStatus is what Traefik's API says of a router.
type RouterStatus struct {
	Name        string   `json:"name"`
	Rule        string   `json:"rule"`
	Service     string   `json:"service"`
	Middlewares []string `json:"middlewares"`
	Status      string   `json:"status"` // "enabled", "disabled", "warning"
	Errors      []string `json:"error"`
}

// Router asks the API for one HTTP router, e.g. "finicky@file". It returns
// an error wrapping ErrNoRouter when Traefik does not have it (yet).
func (p *Proxy) Router(ctx context.Context, name string) (RouterStatus, error) {
	return API(p.APIURL).Router(ctx, name)
}

// API is the read-only API of a Traefik, wherever it runs: the URL of its
// traefik entry point with api.insecure.
type API string

// Router asks the API for one HTTP router, e.g. "finicky@file". It returns
// an error wrapping ErrNoRouter when Traefik does not have it (yet).
func (a API) Router(ctx context.Context, name string) (RouterStatus, error) {
	var rs RouterStatus
	err := a.getJSON(ctx, "/api/http/routers/"+name, &rs)
	if errors.Is(err, errNotFound) {
		err = fmt.Errorf("traefik: router %s: %w", name, ErrNoRouter)
	}
	return rs, err
}

// ErrNoRouter is wrapped by Router when Traefik has no such router.
var ErrNoRouter = errors.New("no such router")

// Servers asks the API for the servers of an HTTP load balancer, e.g.
// "finicky@file", and returns their status by URL: "UP", or "DOWN" when
// its health check failed. A service Traefik does not have has none.
func (a API) Servers(ctx context.Context, service string) (map[string]string, error) {
	var svc struct {
		LoadBalancer *struct {
			Servers []struct {
				URL string `json:"url"`
			} `json:"servers"`
		} `json:"loadBalancer"`
		ServerStatus map[string]string `json:"serverStatus"`
	}
	err := a.getJSON(ctx, "/api/http/services/"+service, &svc)
	if errors.Is(err, errNotFound) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	if svc.LoadBalancer != nil {
		for _, s := range svc.LoadBalancer.Servers {
			out[s.URL] = cmp.Or(svc.ServerStatus[s.URL], "UP")
		}
	}
	return out, nil
}

var errNotFound = errors.New("not found")

// getJSON decodes the API's answer at path into v.
func (a API) getJSON(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, string(a)+path, nil)
	if err != nil {
		return fmt.Errorf("traefik: %s: %w", path, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("traefik: %s: %w", path, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("traefik: %s: %w", path, errNotFound)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("traefik: %s: status %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("traefik: %s: %w", path, err)
	}
	return nil
}

// WaitRouters waits until Traefik has loaded every named router (e.g.
// "finicky@file") and reports it enabled. A router in error, for example
// because the plugin failed to load, ends the wait with that error.
func (p *Proxy) WaitRouters(ctx context.Context, names ...string) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for _, name := range names {
		for {
			rs, err := p.Router(ctx, name)
			if err == nil {
				if rs.Status == "enabled" {
					break
				}
				if len(rs.Errors) > 0 {
					return fmt.Errorf("traefik: router %s is %s: %s", name, rs.Status, strings.Join(rs.Errors, "; "))
				}
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("traefik: waiting for router %s (last: %v): %w; output:\n%s", name, err, ctx.Err(), p.Logs())
			case <-p.proc.Done():
				return fmt.Errorf("traefik: exited: %v; output:\n%s", p.proc.Err(), p.Logs())
			case <-t.C:
			}
		}
	}
	return nil
}

// Logs returns what Traefik has printed so far.
func (p *Proxy) Logs() string { return p.logs.String() }

// Close stops Traefik (SIGTERM, then SIGKILL after 5 s) and waits for it.
func (p *Proxy) Close() error {
	p.proc.Stop(syscall.SIGTERM, 5*time.Second)
	return nil
}

// pickAddr is freeAddr, but for the test that makes a pick collide.
var pickAddr = freeAddr

// freeAddr returns a loopback address whose port was free a moment ago:
// Traefik must bind it itself, so it cannot be held (Start starts again
// when it was taken meanwhile).
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("traefik: finding a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
