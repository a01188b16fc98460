package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/whiskers-dev/whiskers/syncer/fakes/consulfake"
	"github.com/whiskers-dev/whiskers/syncer/fakes/nomadfake"
	"github.com/whiskers-dev/whiskers/syncer/status"

	"github.com/whiskers-dev/whiskers/internal/syncbuf"

	"github.com/whiskers-dev/whiskers/internal/testkit"
)

func fakes(t *testing.T) (*consulfake.Server, *nomadfake.Server) {
	t.Helper()
	c, n := consulfake.New(), nomadfake.New()
	t.Cleanup(c.Close)
	t.Cleanup(n.Close)
	c.Register(consulfake.Instance{ID: "web-1", Service: "web", Address: "10.0.2.1", Port: 8080, Tags: []string{"traefik.enable=true"}})
	n.Register(nomadapi.ServiceRegistration{ID: "h1", ServiceName: "hello", Address: "10.0.1.1", Port: 20001, Tags: []string{"traefik.enable=true"}})
	return c, n
}

func TestSyncHelpListsEveryFlag(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"sync", "--help"}, &stdout, &stderr)
	assert.Equal(t, 0, code)
	fs, _ := newSyncFlagSet(&bytes.Buffer{})
	fs.VisitAll(func(f *flag.Flag) {
		assert.Regexp(t, `(?m)^  --`+f.Name+`( |$)`, stderr.String())
		assert.Regexp(t, `(?m)^  --`+f.Name+`( .*)?\n.*\(default `, stderr.String(), "flag %s shows its default", f.Name)
	})
	for _, name := range []string{"output", "format", "listen", "once", "throttle", "startup-timeout", "consul", "nomad",
		"consul-addr", "consul-token", "nomad-addr", "nomad-token", "nomad-namespace", "exposed-by-default",
		"default-rule", "prefix", "route-warning", "log-level"} {
		assert.NotNil(t, fs.Lookup(name), name)
	}
	assert.Contains(t, stderr.String(), "(default 50ms)")
	assert.Contains(t, stderr.String(), "(default false)")
	assert.Contains(t, stderr.String(), "uses $CONSUL_HTTP_TOKEN")
}

func TestSyncUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"nothing to do", []string{"sync"}, "nothing to do"},
		{"bad format", []string{"sync", "--once", "--format", "xml"}, "unknown format"},
		{"bad log level", []string{"sync", "--once", "--log-level", "loud"}, "bad --log-level"},
		{"extra args", []string{"sync", "--once", "extra"}, "unexpected arguments"},
		{"unknown flag", []string{"sync", "--nope"}, "flag provided but not defined"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			assert.Equal(t, 2, run(t.Context(), tc.args, &stdout, &stderr))
			assert.Contains(t, stderr.String(), tc.wantErr)
		})
	}
}

func TestSyncOnce(t *testing.T) {
	t.Parallel()
	c, n := fakes(t)
	tests := []struct {
		name  string
		args  []string
		want  []string
		avoid []string
	}{
		{"both catalogs yaml", nil, []string{"http://10.0.1.1:20001", "http://10.0.2.1:8080", "routers:"}, nil},
		{"json", []string{"--format", "json"}, []string{`"url": "http://10.0.1.1:20001"`}, nil},
		{"toml", []string{"--format", "toml"}, []string{`url = "http://10.0.1.1:20001"`}, nil},
		{"consul off", []string{"--consul=false"}, []string{"http://10.0.1.1:20001"}, []string{"10.0.2.1"}},
		{"nomad off", []string{"--nomad=false"}, []string{"http://10.0.2.1:8080"}, []string{"10.0.1.1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"sync", "--once", "--consul-addr", c.URL(), "--nomad-addr", n.URL(), "--log-level", "error"}, tc.args...)
			var stdout, stderr bytes.Buffer
			require.Equal(t, 0, run(t.Context(), args, &stdout, &stderr), stderr.String())
			for _, w := range tc.want {
				assert.Contains(t, stdout.String(), w)
			}
			for _, a := range tc.avoid {
				assert.NotContains(t, stdout.String(), a)
			}
		})
	}
}

func TestSyncReadsToolEnvironment(t *testing.T) {
	c, n := fakes(t)
	c.SetToken("consul-secret")
	n.SetToken("nomad-secret")
	t.Setenv("CONSUL_HTTP_ADDR", c.URL())
	t.Setenv("CONSUL_HTTP_TOKEN", "consul-secret")
	t.Setenv("NOMAD_ADDR", n.URL())
	t.Setenv("NOMAD_TOKEN", "nomad-secret")
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run(t.Context(), []string{"sync", "--once", "--startup-timeout", "10s"}, &stdout, &stderr), stderr.String())
	assert.Contains(t, stdout.String(), "http://10.0.1.1:20001")
	assert.Contains(t, stdout.String(), "http://10.0.2.1:8080")
	assert.NotContains(t, stderr.String(), "secret", "tokens are never logged")
}

func TestSyncWritesFileAndStops(t *testing.T) {
	t.Parallel()
	c, n := fakes(t)
	path := filepath.Join(t.TempDir(), "dynamic.yaml")
	ctx, cancel := context.WithCancel(t.Context())
	var stdout, stderr syncbuf.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"sync", "--output", path, "--listen", "127.0.0.1:0", "--throttle", "0",
			"--consul-addr", c.URL(), "--nomad-addr", n.URL()}, &stdout, &stderr)
	}()
	testkit.WaitFor(t, "the file written", func() bool {
		b, _ := os.ReadFile(path)
		return strings.Contains(string(b), "http://10.0.1.1:20001") && strings.Contains(string(b), "http://10.0.2.1:8080")
	})
	// The same configuration is served for Traefik's HTTP provider.
	m := regexp.MustCompile(`"serving configuration" addr=(\S+)`).FindStringSubmatch(stderr.String())
	require.Len(t, m, 2, stderr.String())
	base := "http://" + m[1]
	var etag string
	testkit.WaitFor(t, "the configuration served", func() bool {
		resp, err := http.Get(base + "/config")
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		etag = resp.Header.Get("ETag")
		return resp.StatusCode == http.StatusOK && strings.Contains(string(body), `"url": "http://10.0.1.1:20001"`)
	})
	req, err := http.NewRequest(http.MethodGet, base+"/config", nil)
	require.NoError(t, err)
	req.Header.Set("If-None-Match", etag)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotModified, resp.StatusCode)
	for _, path := range []string{"/healthz", "/metrics"} {
		resp, err := http.Get(base + path)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, path)
	}
	// The status page and its JSON say what became of each instance, and
	// how each catalog's watch is.
	for path, want := range map[string][]string{
		"/":            {"<title>whiskers", `data-instance="consul/web-1" data-routed="true"`, `data-catalog="nomad"`},
		"/status.json": {`"service": "hello"`, `"reason": "routed"`, `"catalog": "consul"`, `"ready": true`},
	} {
		resp, err := http.Get(base + path)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, path)
		for _, w := range want {
			assert.Contains(t, string(body), w, path)
		}
	}

	cancel() // what SIGTERM does through main's context
	select {
	case code := <-done:
		assert.Equal(t, 0, code, stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatal("sync did not stop")
	}
	assert.Contains(t, stderr.String(), "serving configuration")
	assert.Contains(t, stderr.String(), "stopped")
}

func TestSyncSources(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		want    []string
		wantErr string
	}{
		{"defaults", nil, []string{"consul", "nomad"}, ""},
		{"consul namespaces", []string{"--consul-namespace", "team-a, team-b"}, []string{"consul/team-a", "consul/team-b", "nomad"}, ""},
		{"every consul namespace", []string{"--consul-namespace", "*"}, []string{"consul/*", "nomad"}, ""},
		{"* with others", []string{"--consul-namespace", "*,team-a"}, nil, "* is every namespace"},
		{"nomad only", []string{"--consul=false"}, []string{"nomad"}, ""},
		{"none", []string{"--consul=false", "--nomad=false"}, nil, "both catalogs are switched off"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fs, f := newSyncFlagSet(&bytes.Buffer{})
			require.NoError(t, fs.Parse(tc.args))
			board := status.NewBoard(nil)
			srcs, err := f.sources(slog.New(slog.DiscardHandler), nil, board)
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			var names []string
			for _, s := range srcs {
				names = append(names, s.Name())
			}
			assert.Equal(t, tc.want, names)
			var tracked []string // one tracker per source, under its name
			for _, c := range board.Status().Catalogs {
				tracked = append(tracked, c.Catalog)
			}
			assert.Equal(t, tc.want, tracked)
		})
	}
}

// TestSyncNomadNamespaceFromEnvironment: --nomad-namespace defaults to
// $NOMAD_NAMESPACE, as Nomad's own tools do, and to every namespace without
// it; an empty variable counts as unset.
func TestSyncNomadNamespaceFromEnvironment(t *testing.T) {
	for env, want := range map[string]string{"prod,staging": "prod,staging", "": "*"} {
		t.Setenv("NOMAD_NAMESPACE", env)
		_, f := newSyncFlagSet(&bytes.Buffer{})
		assert.Equal(t, want, f.nomadNS, "NOMAD_NAMESPACE=%q", env)
	}
}
