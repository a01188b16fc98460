package output_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/whiskers-dev/whiskers/syncer/output"
	"github.com/whiskers-dev/whiskers/syncer/render"
)

func TestFileWritesOnlyChanges(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "dynamic.yaml")
	f, err := output.NewFile(path, render.YAML)
	require.NoError(t, err)

	steps := []struct {
		data      string
		wantWrote bool
	}{
		{"a: 1\n", true},
		{"a: 1\n", false},
		{"a: 2\n", true},
		{"", true},
		{"", false},
	}
	for i, s := range steps {
		wrote, err := f.Write([]byte(s.data))
		require.NoError(t, err, "step %d", i)
		assert.Equal(t, s.wantWrote, wrote, "step %d", i)
		got, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, s.data, string(got), "step %d", i)
	}
	// Beside the file only the directory of temporary files, empty: a
	// watcher of dir sees nothing but the renames.
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.ElementsMatch(t, []string{"dynamic.yaml", output.TempDir}, names)
	tmps, err := os.ReadDir(filepath.Join(dir, output.TempDir))
	require.NoError(t, err)
	assert.Empty(t, tmps, "no temporary files left")
	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), info.Mode().Perm())
}

func TestFileSkipsIdenticalFileAfterRestart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "dynamic.yaml")
	require.NoError(t, os.WriteFile(path, []byte("same\n"), 0o600))
	old, err := os.Stat(path)
	require.NoError(t, err)
	f, err := output.NewFile(path, render.YAML)
	require.NoError(t, err)
	wrote, err := f.Write([]byte("same\n"))
	require.NoError(t, err)
	assert.False(t, wrote)
	now, err := os.Stat(path)
	require.NoError(t, err)
	assert.True(t, os.SameFile(old, now), "file not replaced")
}

func TestFileErrors(t *testing.T) {
	t.Parallel()
	_, err := output.NewFile("", render.YAML)
	assert.Error(t, err)
	f, err := output.NewFile(filepath.Join(t.TempDir(), "missing-dir", "x.yaml"), render.YAML)
	require.NoError(t, err)
	_, err = f.Write([]byte("x"))
	assert.ErrorContains(t, err, "missing-dir")
}

func get(t *testing.T, h http.Handler, path string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestServer(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := output.NewMetrics(reg)
	require.NoError(t, err)
	s := output.NewServer(reg)
	h := s.Handler()

	assert.Equal(t, http.StatusServiceUnavailable, get(t, h, "/config", nil).Code)
	assert.Equal(t, http.StatusServiceUnavailable, get(t, h, "/healthz", nil).Code)

	assert.True(t, s.Set([]byte(`{"http":{}}`)))
	assert.False(t, s.Set([]byte(`{"http":{}}`)))
	rec := get(t, h, "/config", nil)
	require.Equal(t, http.StatusOK, rec.Code)
	assert.JSONEq(t, `{"http":{}}`, rec.Body.String())
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	etag := rec.Header().Get("ETag")
	require.NotEmpty(t, etag)

	tests := []struct {
		name     string
		ifNone   string
		wantCode int
	}{
		{"same etag", etag, http.StatusNotModified},
		{"weak same etag", "W/" + etag, http.StatusNotModified},
		{"list with etag", `"x", ` + etag, http.StatusNotModified},
		{"other etag", `"other"`, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := get(t, h, "/config", map[string]string{"If-None-Match": tc.ifNone})
			assert.Equal(t, tc.wantCode, rec.Code)
		})
	}

	assert.True(t, s.Set([]byte(`{"tcp":{}}`)))
	rec = get(t, h, "/config", map[string]string{"If-None-Match": etag})
	assert.Equal(t, http.StatusOK, rec.Code, "a new config has a new etag")
	assert.NotEqual(t, etag, rec.Header().Get("ETag"))
	assert.Equal(t, http.StatusOK, get(t, h, "/healthz", nil).Code)

	m.Synced(time.Unix(1700000000, 0), 3, 7, true)
	m.WatchError("consul")(io.EOF)
	body := get(t, h, "/metrics", nil).Body.String()
	for _, want := range []string{
		"whiskers_sync_total 1", "whiskers_sync_writes_total 1", "whiskers_services 3", "whiskers_servers 7",
		`whiskers_watch_errors_total{source="consul"} 1`, "whiskers_sync_last_success_timestamp_seconds 1.7e+09",
	} {
		assert.True(t, strings.Contains(body, want), "metrics lack %q", want)
	}
}

func TestNilMetrics(t *testing.T) {
	t.Parallel()
	var m *output.Metrics
	m.Synced(time.Now(), 1, 1, true)
	m.WatchError("nomad")(io.EOF)
}

// TestOutputsPublishOnlyChanges: every Output says whether the bytes
// changed, in its own format, and publishes only then.
func TestOutputsPublishOnlyChanges(t *testing.T) {
	t.Parallel()
	var recorded []string
	file, err := output.NewFile(filepath.Join(t.TempDir(), "dynamic.json"), render.JSON)
	require.NoError(t, err)
	outputs := []struct {
		name   string
		out    output.Output
		format render.Format
	}{
		{"file", file, render.JSON},
		{"http provider", output.NewServer(nil), render.JSON},
		{"recorder", output.NewRecorder("", func(b []byte) { recorded = append(recorded, string(b)) }), render.YAML},
	}
	for _, tc := range outputs {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.format, tc.out.Format())
			for i, step := range []struct {
				data        string
				wantChanged bool
			}{{"{}", true}, {"{}", false}, {`{"a":1}`, true}} {
				changed, err := tc.out.Publish([]byte(step.data))
				require.NoError(t, err)
				assert.Equal(t, step.wantChanged, changed, "step %d", i)
			}
		})
	}
	assert.Equal(t, []string{"{}", `{"a":1}`}, recorded, "the recorder's function sees each change once")
	got, err := os.ReadFile(file.Path())
	require.NoError(t, err)
	assert.JSONEq(t, `{"a":1}`, string(got))
	_, err = output.NewFile("x.conf", "xml")
	assert.ErrorContains(t, err, "xml")
}
