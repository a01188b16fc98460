package yaegitest

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// TestManifest checks .traefik.yml as Traefik's checkLocalPluginManifest
// does, and that New accepts its testData in both runtimes.
func TestManifest(t *testing.T) {
	m := readManifest(t)
	if m.Type != "middleware" {
		t.Errorf("type = %q, want middleware", m.Type)
	}
	if m.Runtime != "" && m.Runtime != "yaegi" {
		t.Errorf("runtime = %q, want yaegi or empty", m.Runtime)
	}
	if m.Import != moduleName+"/plugin" {
		t.Errorf("import = %q, want %s/plugin", m.Import, moduleName)
	}
	if m.DisplayName == "" || m.Summary == "" {
		t.Errorf("displayName %q and summary %q must be set", m.DisplayName, m.Summary)
	}
	if m.TestData == nil {
		t.Fatal("testData missing")
	}
	for _, rt := range runtimes(t) {
		t.Run(rt.name, func(t *testing.T) {
			if _, err := rt.new(t.Context(), http.NotFoundHandler(), m.TestData, "testdata"); err != nil {
				t.Errorf("New rejected testData: %v", err)
			}
			// Serve through it, with the socket moved somewhere certainly
			// empty: testData says onHostDown next, so next answers.
			options := map[string]any{}
			for k, v := range m.TestData {
				options[k] = v
			}
			options["socket"] = "unix://" + filepath.Join(socketDir(t), "absent.sock")
			h, err := rt.new(t.Context(), nextHandler, options, "testdata")
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/index.html", nil))
			if rec.Code != 200 || rec.Header().Get("X-Next") != "yes" {
				t.Errorf("host down with testData: status %d, X-Next %q; want next to answer", rec.Code, rec.Header().Get("X-Next"))
			}
		})
	}
}

// TestBadConfigs feeds bad dynamic options through Traefik's decoding and
// New, natively and under Yaegi: each is rejected with an error naming the
// field.
func TestBadConfigs(t *testing.T) {
	tests := []struct {
		name    string
		options map[string]any
		wantErr string
	}{
		{"missing handler", map[string]any{"socket": "unix:///run/w.sock"}, "handler: required"},
		{"bad socket scheme", map[string]any{"handler": "h", "socket": "ftp://x"}, "socket \"ftp://x\": scheme must be unix or http"},
		{"timeout without unit", map[string]any{"handler": "h", "timeout": 2}, "timeout \"2\": not a Go duration"},
		{"dialTimeout negative", map[string]any{"handler": "h", "dialTimeout": "-5ms"}, "dialTimeout \"-5ms\": must be positive"},
		{"fallthroughStatus not a number", map[string]any{"handler": "h", "fallthroughStatus": "404,nope"}, "FallthroughStatus[1]"},
		{"fallthroughStatus out of range", map[string]any{"handler": "h", "fallthroughStatus": []any{404, 999}}, "fallthroughStatus: 999 is not an HTTP status"},
		{"onHostDown unknown", map[string]any{"handler": "h", "onHostDown": "retry"}, "onHostDown \"retry\": must be \"next\" or an HTTP status"},
		{"forwardHeaders invalid", map[string]any{"handler": "h", "forwardHeaders": "X-Ok,Not Ok"}, "forwardHeaders: \"Not Ok\" is not a valid header name"},
	}
	for _, rt := range runtimes(t) {
		t.Run(rt.name, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					_, err := rt.new(t.Context(), http.NotFoundHandler(), tc.options, "bad")
					if err == nil {
						t.Fatal("config accepted")
					}
					if !strings.Contains(err.Error(), tc.wantErr) {
						t.Errorf("error = %q, want it to contain %q", err, tc.wantErr)
					}
				})
			}
		})
	}
}
