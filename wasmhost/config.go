package wasmhost

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Defaults applied by ParseConfig to a handler that leaves a limit unset.
const (
	DefaultTimeout        = 5 * time.Second
	DefaultMemory         = 16 << 20 // 16 MiB, 256 wasm pages
	DefaultMaxRequestBody = 1 << 20  // 1 MiB
	DefaultMaxResponse    = 32 << 20 // 32 MiB
	DefaultMaxConcurrent  = 64
	DefaultQueueTimeout   = 1 * time.Second
	// DefaultArgv is WAGI's default argv template: the script name, then
	// one argument per query parameter.
	DefaultArgv = "${SCRIPT_NAME} ${ARGS}"
)

// wasmPageSize is the size of one WebAssembly memory page.
const wasmPageSize = 65536

// Config is the set of handlers a Host serves. It is usually read from a
// YAML file with LoadConfig:
//
//	handlers:
//	  - name: redirect
//	    module: handlers/redirect/redirect.wasm
//	    route: /old
//	    env: {DESTINATION: /index.html, STATUS: "301"}
type Config struct {
	Handlers []HandlerConfig `yaml:"handlers"`
}

// YAML is the configuration as a config file holds it (what ParseConfig
// reads back), with zero fields left out.
func (c *Config) YAML() ([]byte, error) {
	b, err := yaml.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("wasmhost: writing config: %w", err)
	}
	return b, nil
}

// HandlerConfig describes one WAGI handler: which module runs, for which
// requests, with which environment, files and limits. Paths in Module and
// in the host side of Volumes are resolved against the config file's
// directory by ParseConfig and LoadConfig. A zero limit means the default.
type HandlerConfig struct {
	// Name identifies the handler in the X-Whiskers-Handler request header,
	// in logs and in metrics. Required, unique.
	Name string `yaml:"name"`
	// Module is the path of the WAGI .wasm file (wasm32-wasi, _start).
	Module string `yaml:"module"`
	// Route is the path prefix the handler serves, matched on path-segment
	// boundaries; the longest matching route wins. It becomes SCRIPT_NAME
	// ("" for "/"). Empty means the handler is reachable only through the
	// X-Whiskers-Handler header.
	Route string `yaml:"route,omitempty"`
	// Env is added to the guest's environment; WAGI's request variables
	// take precedence over it.
	Env map[string]string `yaml:"env,omitempty"`
	// Volumes are "host:guest" directory mounts, always read-only.
	Volumes []string `yaml:"volumes,omitempty"`
	// Argv is WAGI's argv template: space-separated words where
	// ${SCRIPT_NAME} is replaced by SCRIPT_NAME and ${ARGS} expands to one
	// argument per query parameter. Default DefaultArgv.
	Argv string `yaml:"argv,omitempty"`
	// Timeout is the wall-clock limit of one request's instance; the guest
	// is stopped when it passes and the client gets 504.
	Timeout Duration `yaml:"timeout,omitempty"`
	// Memory caps the guest's linear memory, rounded down to 64 KiB pages.
	Memory ByteSize `yaml:"memory,omitempty"`
	// MaxRequestBody is the largest request body given to the guest; a
	// larger one is answered 413.
	MaxRequestBody ByteSize `yaml:"maxRequestBody,omitempty"`
	// MaxResponse is the largest output (headers and body) the guest may
	// write; a guest writing more is stopped and the client gets 502.
	MaxResponse ByteSize `yaml:"maxResponse,omitempty"`
	// MaxConcurrent is the number of instances of this handler that may
	// run at once; further requests wait up to QueueTimeout, then get 503.
	MaxConcurrent int `yaml:"maxConcurrent,omitempty"`
	// QueueTimeout is how long a request waits for a free instance slot.
	QueueTimeout Duration `yaml:"queueTimeout,omitempty"`
}

// Duration is a time.Duration read from YAML as a Go duration string
// ("2s", "150ms").
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("invalid duration %q (want e.g. \"2s\", \"500ms\")", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// String returns the duration in Go syntax.
func (d Duration) String() string { return time.Duration(d).String() }

// ByteSize is a number of bytes read from YAML as a plain integer or with
// a unit: "512KiB", "16MiB", "1GiB", "10MB", "4k".
type ByteSize int64

var byteSizeRE = regexp.MustCompile(`^([0-9]+)\s*([a-zA-Z]*)$`)

var byteUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1 << 10, "kib": 1 << 10, "kb": 1000,
	"m": 1 << 20, "mib": 1 << 20, "mb": 1000 * 1000,
	"g": 1 << 30, "gib": 1 << 30, "gb": 1000 * 1000 * 1000,
}

// ParseByteSize parses a size such as "16MiB" or "4096".
func ParseByteSize(s string) (ByteSize, error) {
	m := byteSizeRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("invalid size %q (want e.g. \"16MiB\", \"512KiB\", \"4096\")", s)
	}
	unit, ok := byteUnits[strings.ToLower(m[2])]
	if !ok {
		return 0, fmt.Errorf("invalid size %q: unknown unit %q", s, m[2])
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || n > (1<<62)/unit {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return ByteSize(n * unit), nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := ParseByteSize(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (b ByteSize) MarshalYAML() (any, error) { return int64(b), nil }

// LoadConfig reads and validates the YAML config file at path. Relative
// module and volume paths are resolved against the file's directory.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("wasmhost: reading config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("wasmhost: resolving config path: %w", err)
	}
	cfg, err := ParseConfig(data, filepath.Dir(abs))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig decodes YAML config data, resolves relative paths against
// baseDir, applies defaults and validates every handler. Errors name the
// offending field, e.g. `handlers[1] "static": timeout: must be positive`.
// Unknown keys are errors. It does not read the modules or volumes.
func ParseConfig(data []byte, baseDir string) (*Config, error) {
	var cfg Config
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) /* empty document */ {
		return nil, fmt.Errorf("wasmhost: parsing config: %w", err)
	}
	if err := cfg.validate(baseDir); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// validate normalizes every handler in place (idempotently) and checks
// names and routes are unique.
func (cfg *Config) validate(baseDir string) error {
	if len(cfg.Handlers) == 0 {
		return errors.New("wasmhost: config: handlers: at least one handler is required")
	}
	names := map[string]int{}
	routes := map[string]int{}
	for i := range cfg.Handlers {
		h := &cfg.Handlers[i]
		where := fmt.Sprintf("handlers[%d]", i)
		if h.Name != "" {
			where = fmt.Sprintf("handlers[%d] %q", i, h.Name)
		}
		if err := h.normalize(baseDir); err != nil {
			return fmt.Errorf("wasmhost: config: %s: %w", where, err)
		}
		if j, dup := names[h.Name]; dup {
			return fmt.Errorf("wasmhost: config: %s: name: duplicate of handlers[%d]", where, j)
		}
		names[h.Name] = i
		if h.Route != "" {
			if j, dup := routes[h.Route]; dup {
				return fmt.Errorf("wasmhost: config: %s: route: %q duplicates handlers[%d]", where, h.Route, j)
			}
			routes[h.Route] = i
		}
	}
	return nil
}

var handlerNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// normalize validates h, fills defaults and resolves paths.
func (h *HandlerConfig) normalize(baseDir string) error {
	switch {
	case h.Name == "":
		return errors.New("name: required")
	case !handlerNameRE.MatchString(h.Name):
		return fmt.Errorf("name: %q must be letters, digits, '.', '_' or '-'", h.Name)
	}
	if h.Module == "" {
		return errors.New("module: required")
	}
	h.Module = resolve(baseDir, h.Module)
	if h.Route != "" {
		r, err := normalizeRoute(h.Route)
		if err != nil {
			return fmt.Errorf("route: %w", err)
		}
		h.Route = r
	}
	for k := range h.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return fmt.Errorf("env: invalid variable name %q", k)
		}
	}
	for i, v := range h.Volumes {
		hostDir, guestDir, ok := strings.Cut(v, ":")
		if !ok || hostDir == "" || guestDir == "" {
			return fmt.Errorf("volumes[%d]: %q must be \"host:guest\"", i, v)
		}
		if !strings.HasPrefix(guestDir, "/") {
			return fmt.Errorf("volumes[%d]: guest path %q must be absolute", i, guestDir)
		}
		h.Volumes[i] = resolve(baseDir, hostDir) + ":" + guestDir
	}
	if strings.TrimSpace(h.Argv) == "" {
		h.Argv = DefaultArgv
	}
	if err := defaultPositive(&h.Timeout, DefaultTimeout, "timeout"); err != nil {
		return err
	}
	if err := defaultPositive(&h.QueueTimeout, DefaultQueueTimeout, "queueTimeout"); err != nil {
		return err
	}
	for _, s := range []struct {
		v    *ByteSize
		def  ByteSize
		name string
	}{
		{&h.Memory, DefaultMemory, "memory"},
		{&h.MaxRequestBody, DefaultMaxRequestBody, "maxRequestBody"},
		{&h.MaxResponse, DefaultMaxResponse, "maxResponse"},
	} {
		switch {
		case *s.v < 0:
			return fmt.Errorf("%s: must not be negative", s.name)
		case *s.v == 0:
			*s.v = s.def
		}
	}
	if h.Memory < wasmPageSize {
		return fmt.Errorf("memory: %d bytes is less than one 64KiB page", h.Memory)
	}
	if h.Memory > 4<<30 {
		return fmt.Errorf("memory: %d bytes is more than wasm32's 4GiB", h.Memory)
	}
	switch {
	case h.MaxConcurrent < 0:
		return errors.New("maxConcurrent: must not be negative")
	case h.MaxConcurrent == 0:
		h.MaxConcurrent = DefaultMaxConcurrent
	}
	return nil
}

// defaultPositive sets *d to def when it is zero and refuses a negative
// one, naming the field name.
func defaultPositive(d *Duration, def time.Duration, name string) error {
	switch {
	case *d < 0:
		return fmt.Errorf("%s: must be positive", name)
	case *d == 0:
		*d = Duration(def)
	}
	return nil
}

// normalizeRoute checks a route and returns it without a trailing slash
// ("/" stays "/").
func normalizeRoute(r string) (string, error) {
	if !strings.HasPrefix(r, "/") {
		return "", fmt.Errorf("%q must start with '/'", r)
	}
	if strings.ContainsAny(r, "?#%* \t\r\n") {
		return "", fmt.Errorf("%q must be a plain path (no '?', '#', '%%', '*' or spaces)", r)
	}
	if r == "/" {
		return r, nil
	}
	for _, seg := range strings.Split(strings.TrimSuffix(r[1:], "/"), "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", fmt.Errorf("%q must not contain empty, '.' or '..' segments", r)
		}
	}
	return strings.TrimSuffix(r, "/"), nil
}

// resolve makes p absolute against baseDir unless it is absolute already
// or baseDir is "", and cleans it.
func resolve(baseDir, p string) string {
	if filepath.IsAbs(p) || baseDir == "" {
		return filepath.Clean(p)
	}
	return filepath.Join(baseDir, p)
}

// clone returns a deep copy of cfg.
func (cfg *Config) clone() *Config {
	out := &Config{Handlers: make([]HandlerConfig, len(cfg.Handlers))}
	for i, h := range cfg.Handlers {
		if h.Env != nil {
			env := make(map[string]string, len(h.Env))
			for k, v := range h.Env {
				env[k] = v
			}
			h.Env = env
		}
		h.Volumes = append([]string(nil), h.Volumes...)
		out.Handlers[i] = h
	}
	return out
}
