package nomad

import (
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/nomad/api"
)

// streamActivity records when bytes (events or {} heartbeats) last arrived
// on the event stream. The official client swallows heartbeats, so the
// source watches the response body underneath it.
type streamActivity struct{ last atomic.Int64 }

func (a *streamActivity) touch()               { a.last.Store(time.Now().UnixNano()) }
func (a *streamActivity) since() time.Duration { return time.Since(time.Unix(0, a.last.Load())) }
func (a *streamActivity) wrap(rt http.RoundTripper) http.RoundTripper {
	return &activityTransport{base: rt, act: a}
}

type activityTransport struct {
	base http.RoundTripper
	act  *streamActivity
}

func (t *activityTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err == nil && strings.HasSuffix(req.URL.Path, "/v1/event/stream") {
		t.act.touch()
		resp.Body = &activityBody{ReadCloser: resp.Body, act: t.act}
	}
	return resp, err
}

type activityBody struct {
	io.ReadCloser
	act *streamActivity
}

func (b *activityBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.act.touch()
	}
	return n, err
}

// watchedConfig returns a copy of cfg whose HTTP client reports event-stream
// activity to act, built as the official client builds its default one (TLS
// from cfg.TLSConfig, HTTP/1). A caller-provided HttpClient or a unix socket
// address is left alone, without stream watchdog.
func watchedConfig(cfg *api.Config, act *streamActivity) (*api.Config, bool, error) {
	if cfg.HttpClient != nil || strings.HasPrefix(cfg.Address, "unix://") {
		return cfg, false, nil
	}
	c := *cfg
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSHandshakeTimeout = 10 * time.Second
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	tr.ForceAttemptHTTP2 = false
	hc := &http.Client{Transport: tr}
	if err := api.ConfigureTLS(hc, c.TLSConfig); err != nil {
		return nil, false, err
	}
	hc.Transport = act.wrap(hc.Transport)
	c.HttpClient = hc
	return &c, true, nil
}
