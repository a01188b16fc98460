package wasmhost

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseConfigIssueExample(t *testing.T) {
	t.Parallel()
	// The shape from issue 3, verbatim.
	data := []byte(`handlers:
  - name: redirect
    module: wasmhost/handlers/redirect/redirect.wasm
    route: /old            # longest prefix wins; SCRIPT_NAME=/old, PATH_INFO=rest
    env: {DESTINATION: /index.html, STATUS: "301"}
  - name: static
    module: wasmhost/handlers/fileserver/fileserver.wasm
    route: /
    volumes: ["./site:/"]  # host:guest, read-only
    timeout: 2s
    memory: 16MiB
    argv: "${SCRIPT_NAME} ${ARGS}"   # optional, WAGI's template
`)
	cfg, err := ParseConfig(data, "/etc/whiskers")
	require.NoError(t, err)
	require.Len(t, cfg.Handlers, 2)

	r := cfg.Handlers[0]
	assert.Equal(t, "redirect", r.Name)
	assert.Equal(t, "/etc/whiskers/wasmhost/handlers/redirect/redirect.wasm", r.Module)
	assert.Equal(t, "/old", r.Route)
	assert.Equal(t, map[string]string{"DESTINATION": "/index.html", "STATUS": "301"}, r.Env)
	assert.Equal(t, DefaultArgv, r.Argv)
	assert.Equal(t, Duration(DefaultTimeout), r.Timeout)
	assert.Equal(t, ByteSize(DefaultMemory), r.Memory)
	assert.Equal(t, ByteSize(DefaultMaxRequestBody), r.MaxRequestBody)
	assert.Equal(t, ByteSize(DefaultMaxResponse), r.MaxResponse)
	assert.Equal(t, DefaultMaxConcurrent, r.MaxConcurrent)
	assert.Equal(t, Duration(DefaultQueueTimeout), r.QueueTimeout)

	s := cfg.Handlers[1]
	assert.Equal(t, "/", s.Route)
	assert.Equal(t, []string{"/etc/whiskers/site:/"}, s.Volumes)
	assert.Equal(t, Duration(2*time.Second), s.Timeout)
	assert.Equal(t, ByteSize(16<<20), s.Memory)
}

func TestLoadConfigResolvesAgainstFileDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "handlers.yaml")
	require.NoError(t, os.WriteFile(path, []byte("handlers:\n- {name: a, module: m/a.wasm, route: /a/, volumes: [\"site:/srv\", \"/abs:/x\"]}\n"), 0o644))
	cfg, err := LoadConfig(path)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "m/a.wasm"), cfg.Handlers[0].Module)
	assert.Equal(t, "/a", cfg.Handlers[0].Route, "trailing slash trimmed")
	assert.Equal(t, []string{filepath.Join(dir, "site") + ":/srv", "/abs:/x"}, cfg.Handlers[0].Volumes)

	_, err = LoadConfig(filepath.Join(dir, "missing.yaml"))
	assert.ErrorContains(t, err, "reading config")
}

func TestParseConfigLimits(t *testing.T) {
	t.Parallel()
	cfg, err := ParseConfig([]byte(`handlers:
- name: a
  module: a.wasm
  timeout: 150ms
  memory: 512KiB
  maxRequestBody: 4k
  maxResponse: "10MB"
  maxConcurrent: 3
  queueTimeout: 2s
`), "/base")
	require.NoError(t, err)
	h := cfg.Handlers[0]
	assert.Equal(t, Duration(150*time.Millisecond), h.Timeout)
	assert.Equal(t, ByteSize(512<<10), h.Memory)
	assert.Equal(t, ByteSize(4096), h.MaxRequestBody)
	assert.Equal(t, ByteSize(10_000_000), h.MaxResponse)
	assert.Equal(t, 3, h.MaxConcurrent)
	assert.Equal(t, Duration(2*time.Second), h.QueueTimeout)
	assert.Empty(t, h.Route, "a handler without route is reachable by header only")
}

func TestParseConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		yaml    string
		wantErr string
	}{
		{"empty file", ``, "handlers: at least one handler is required"},
		{"no handlers", `handlers: []`, "handlers: at least one handler is required"},
		{"unknown key", "handlers:\n- {name: a, module: a.wasm, rout: /}", "field rout not found"},
		{"not yaml", "handlers: [", "parsing config"},
		{"missing name", "handlers:\n- {module: a.wasm}", "handlers[0]: name: required"},
		{"bad name", "handlers:\n- {name: 'a b', module: a.wasm}", `name: "a b" must be`},
		{"missing module", "handlers:\n- {name: a}", `handlers[0] "a": module: required`},
		{"duplicate name", "handlers:\n- {name: a, module: a.wasm}\n- {name: a, module: b.wasm}", `handlers[1] "a": name: duplicate of handlers[0]`},
		{"route without slash", "handlers:\n- {name: a, module: a.wasm, route: old}", `route: "old" must start with '/'`},
		{"route with query", "handlers:\n- {name: a, module: a.wasm, route: '/a?b'}", "route: \"/a?b\" must be a plain path"},
		{"route with dotdot", "handlers:\n- {name: a, module: a.wasm, route: /a/../b}", "route: \"/a/../b\" must not contain"},
		{"route with empty segment", "handlers:\n- {name: a, module: a.wasm, route: //a}", "must not contain empty"},
		{"duplicate route", "handlers:\n- {name: a, module: a.wasm, route: /x}\n- {name: b, module: b.wasm, route: /x/}", `handlers[1] "b": route: "/x" duplicates handlers[0]`},
		{"volume without colon", "handlers:\n- {name: a, module: a.wasm, volumes: [site]}", `volumes[0]: "site" must be "host:guest"`},
		{"volume relative guest", "handlers:\n- {name: a, module: a.wasm, volumes: ['site:srv']}", `volumes[0]: guest path "srv" must be absolute`},
		{"bad env name", "handlers:\n- {name: a, module: a.wasm, env: {'A=B': x}}", `env: invalid variable name "A=B"`},
		{"bad timeout", "handlers:\n- {name: a, module: a.wasm, timeout: forever}", `invalid duration "forever"`},
		{"negative timeout", "handlers:\n- {name: a, module: a.wasm, timeout: -1s}", "timeout: must be positive"},
		{"negative queue timeout", "handlers:\n- {name: a, module: a.wasm, queueTimeout: -1s}", "queueTimeout: must be positive"},
		{"bad memory", "handlers:\n- {name: a, module: a.wasm, memory: lots}", `invalid size "lots"`},
		{"bad memory unit", "handlers:\n- {name: a, module: a.wasm, memory: 3XB}", `unknown unit "XB"`},
		{"memory below a page", "handlers:\n- {name: a, module: a.wasm, memory: 1000}", "memory: 1000 bytes is less than one 64KiB page"},
		{"memory above 4GiB", "handlers:\n- {name: a, module: a.wasm, memory: 5GiB}", "more than wasm32's 4GiB"},
		{"negative concurrency", "handlers:\n- {name: a, module: a.wasm, maxConcurrent: -2}", "maxConcurrent: must not be negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseConfig([]byte(tc.yaml), "/base")
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

func TestParseByteSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want ByteSize
	}{
		{"0", 0}, {"4096", 4096}, {"4k", 4096}, {"4KiB", 4096}, {"4kb", 4000},
		{"16MiB", 16 << 20}, {"16 MiB", 16 << 20}, {"1GiB", 1 << 30}, {"2GB", 2e9}, {"7b", 7},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseByteSize(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	for _, bad := range []string{"", "-1", "1.5MiB", "MiB", "99999999999999999999", "9999999999GiB"} {
		_, err := ParseByteSize(bad)
		assert.Error(t, err, bad)
	}
}

// TestConfigYAML: what YAML writes, ParseConfig reads back the same (zero
// fields left out, and read back as their defaults).
func TestConfigYAML(t *testing.T) {
	cfg := &Config{Handlers: []HandlerConfig{
		{Name: "site", Module: "/m/fileserver.wasm", Route: "/", Volumes: []string{"/srv:/site"}, Env: map[string]string{"ROOT": "/site"},
			Timeout: Duration(2 * time.Second), Memory: 16 << 20},
		{Name: "old", Module: "/m/redirect.wasm", Route: "/old"},
	}}
	b, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "argv") || strings.Contains(string(b), "maxConcurrent") {
		t.Errorf("zero fields written:\n%s", b)
	}
	back, err := ParseConfig(b, "/")
	if err != nil {
		t.Fatalf("%v:\n%s", err, b)
	}
	withDefaults, err := ParseConfig([]byte(`handlers:
  - {name: site, module: /m/fileserver.wasm, route: /, volumes: ["/srv:/site"], env: {ROOT: /site}, timeout: 2s, memory: 16777216}
  - {name: old, module: /m/redirect.wasm, route: /old}
`), "/")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, withDefaults) {
		t.Errorf("read back %+v, want %+v:\n%s", back, withDefaults, b)
	}
}
