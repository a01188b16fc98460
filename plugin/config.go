package plugin

import (
	"fmt"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults used by CreateConfig.
const (
	// DefaultSocket is where `whiskers wasm serve` listens by default.
	DefaultSocket = "unix:///run/whiskers/wasm.sock"
	// DefaultTimeout bounds the wait for the host's answer.
	DefaultTimeout = "2s"
	// DefaultDialTimeout bounds connecting to the host.
	DefaultDialTimeout = "250ms"
	// DefaultHostDownCooldown is how long requests skip the host after a failed dial.
	DefaultHostDownCooldown = "1s"
	// DefaultOnHostDown answers 502 Bad Gateway while the host is unreachable.
	DefaultOnHostDown = "502"
	// DefaultMaxBufferedBody is the largest request body kept in memory so
	// that next can still read it after a fallthrough or a host-down.
	DefaultMaxBufferedBody = 64 << 10
	// DefaultMaxIdleConns is the size of the keep-alive pool to the host.
	DefaultMaxIdleConns = 64
)

// OnHostDownNext is the OnHostDown value that passes requests to the next
// handler while the host is unreachable.
const OnHostDownNext = "next"

// Config is the plugin's dynamic configuration, the keys under
// `plugin.<name>` of a Traefik middleware. Traefik fills it from its dynamic
// configuration with weakly typed decoding, so lists may be written as
// comma-separated strings ("404,405") and numbers as strings.
type Config struct {
	// Handler is the name of the handler on the host; it is sent as the
	// X-Whiskers-Handler request header. Required.
	Handler string `json:"handler,omitempty" yaml:"handler,omitempty"`
	// Socket is the host's address: "unix:///path/to/socket" or
	// "http://host:port".
	Socket string `json:"socket,omitempty" yaml:"socket,omitempty"`
	// Timeout bounds the wait for the host's response headers once the
	// request is sent (Go duration); the client of a host that does not
	// answer in time gets 504 Gateway Timeout. The body that follows is not
	// bounded by it (the wasm host sends a handler's output at once).
	Timeout string `json:"timeout,omitempty" yaml:"timeout,omitempty"`
	// DialTimeout bounds connecting to the host (Go duration).
	DialTimeout string `json:"dialTimeout,omitempty" yaml:"dialTimeout,omitempty"`
	// HostDownCooldown is how long, after a failed connection, requests are
	// treated as host-down without trying to connect (Go duration, "0s"
	// disables it).
	HostDownCooldown string `json:"hostDownCooldown,omitempty" yaml:"hostDownCooldown,omitempty"`
	// FallthroughStatus lists host answers that are not sent to the client:
	// the request goes to the next handler instead (e.g. [404] for "static
	// files first, then the app").
	FallthroughStatus []int `json:"fallthroughStatus,omitempty" yaml:"fallthroughStatus,omitempty"`
	// OnHostDown is what happens while the host is unreachable: "next" calls
	// the next handler, an HTTP status ("502", "503") answers with that status
	// and a plain-text body.
	OnHostDown string `json:"onHostDown,omitempty" yaml:"onHostDown,omitempty"`
	// ForwardHeaders, when not empty, is the allow-list of request headers
	// sent to the host; the X-Forwarded-* headers and X-Whiskers-Handler are
	// always sent. Empty forwards every end-to-end header.
	ForwardHeaders []string `json:"forwardHeaders,omitempty" yaml:"forwardHeaders,omitempty"`
	// MaxBufferedBody is the largest request body, in bytes, held in memory
	// when the request may still go to next (FallthroughStatus set or
	// OnHostDown "next"). See the package documentation for larger bodies.
	MaxBufferedBody int64 `json:"maxBufferedBody,omitempty" yaml:"maxBufferedBody,omitempty"`
	// MaxIdleConns is the number of idle keep-alive connections kept to the host.
	MaxIdleConns int `json:"maxIdleConns,omitempty" yaml:"maxIdleConns,omitempty"`
}

// CreateConfig returns the default configuration. Traefik calls it before
// decoding the middleware's options into the result.
func CreateConfig() *Config {
	return &Config{
		Socket:           DefaultSocket,
		Timeout:          DefaultTimeout,
		DialTimeout:      DefaultDialTimeout,
		HostDownCooldown: DefaultHostDownCooldown,
		OnHostDown:       DefaultOnHostDown,
		MaxBufferedBody:  DefaultMaxBufferedBody,
		MaxIdleConns:     DefaultMaxIdleConns,
	}
}

// settings is a validated Config in the form ServeHTTP uses.
type settings struct {
	handler         string
	network         string // "unix" or "tcp"
	address         string // socket path or host:port
	urlHost         string // host part of the URL sent to the transport
	timeout         time.Duration
	dialTimeout     time.Duration
	cooldown        time.Duration
	fallthroughs    []int
	downNext        bool
	downStatus      int
	forwardHeaders  []string // canonical names; nil forwards all
	maxBufferedBody int64
	maxIdleConns    int
}

// parse validates cfg. Every error names the field that is wrong.
func parse(cfg *Config) (*settings, error) {
	if cfg == nil {
		return nil, fmt.Errorf("config: missing")
	}
	s := &settings{}

	s.handler = strings.TrimSpace(cfg.Handler)
	if s.handler == "" {
		return nil, fmt.Errorf("handler: required (the handler name on the wasm host)")
	}
	if strings.ContainsAny(s.handler, "\r\n\x00") {
		return nil, fmt.Errorf("handler %q: must not contain control characters", cfg.Handler)
	}

	if err := parseSocket(cfg.Socket, s); err != nil {
		return nil, err
	}

	var err error
	if s.timeout, err = parseDuration("timeout", cfg.Timeout, false); err != nil {
		return nil, err
	}
	if s.dialTimeout, err = parseDuration("dialTimeout", cfg.DialTimeout, false); err != nil {
		return nil, err
	}
	if s.cooldown, err = parseDuration("hostDownCooldown", cfg.HostDownCooldown, true); err != nil {
		return nil, err
	}

	for _, code := range cfg.FallthroughStatus {
		if code < 100 || code > 599 {
			return nil, fmt.Errorf("fallthroughStatus: %d is not an HTTP status (100-599)", code)
		}
		s.fallthroughs = append(s.fallthroughs, code)
	}

	switch down := strings.ToLower(strings.TrimSpace(cfg.OnHostDown)); down {
	case OnHostDownNext:
		s.downNext = true
	case "":
		return nil, fmt.Errorf("onHostDown: required: %q or an HTTP status such as \"502\"", OnHostDownNext)
	default:
		code, err := strconv.Atoi(down)
		if err != nil || code < 200 || code > 599 {
			return nil, fmt.Errorf("onHostDown %q: must be %q or an HTTP status 200-599", cfg.OnHostDown, OnHostDownNext)
		}
		s.downStatus = code
	}

	for _, name := range cfg.ForwardHeaders {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !validHeaderName(name) {
			return nil, fmt.Errorf("forwardHeaders: %q is not a valid header name", name)
		}
		s.forwardHeaders = append(s.forwardHeaders, textproto.CanonicalMIMEHeaderKey(name))
	}

	if cfg.MaxBufferedBody < 0 {
		return nil, fmt.Errorf("maxBufferedBody %d: must not be negative", cfg.MaxBufferedBody)
	}
	s.maxBufferedBody = cfg.MaxBufferedBody

	if cfg.MaxIdleConns < 0 {
		return nil, fmt.Errorf("maxIdleConns %d: must not be negative", cfg.MaxIdleConns)
	}
	s.maxIdleConns = cfg.MaxIdleConns
	return s, nil
}

// parseSocket fills the network and address of s from a socket URL.
func parseSocket(raw string, s *settings) error {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return fmt.Errorf("socket: required: unix:///path/to/socket or http://host:port")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("socket %q: %w", raw, err)
	}
	switch u.Scheme {
	case "unix":
		if u.Host != "" || u.Path == "" || !strings.HasPrefix(u.Path, "/") {
			return fmt.Errorf("socket %q: want an absolute path, unix:///path/to/socket", raw)
		}
		s.network, s.address, s.urlHost = "unix", u.Path, "whiskers-wasm-host"
	case "http":
		if u.Host == "" || u.Port() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return fmt.Errorf("socket %q: want http://host:port", raw)
		}
		s.network, s.address, s.urlHost = "tcp", u.Host, u.Host
	default:
		return fmt.Errorf("socket %q: scheme must be unix or http", raw)
	}
	return nil
}

// parseDuration parses a positive Go duration; zero is accepted when zeroOK.
func parseDuration(field, raw string, zeroOK bool) (time.Duration, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return 0, fmt.Errorf("%s: required (a Go duration such as \"2s\")", field)
	}
	d, err := time.ParseDuration(raw)
	if err != nil {
		return 0, fmt.Errorf("%s %q: not a Go duration such as \"2s\"", field, raw)
	}
	if d < 0 || (d == 0 && !zeroOK) {
		return 0, fmt.Errorf("%s %q: must be positive", field, raw)
	}
	return d, nil
}

// validHeaderName reports whether name is an HTTP token.
func validHeaderName(name string) bool {
	// Plain ifs: Yaegi v0.16.1 evaluates only the first expression of a
	// multi-expression case in a tagless switch.
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
		if !alnum && strings.IndexByte("!#$%&'*+-.^_`|~", c) < 0 {
			return false
		}
	}
	return name != ""
}
