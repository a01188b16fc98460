package consulfake_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/whiskers-dev/whiskers/syncer/fakes/consulfake"
)

func get(t *testing.T, url, token string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("X-Consul-Token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil
	}
	defer resp.Body.Close()
	var body json.RawMessage
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp, body
}

func index(t *testing.T, resp *http.Response) uint64 {
	t.Helper()
	i, err := strconv.ParseUint(resp.Header.Get("X-Consul-Index"), 10, 64)
	require.NoError(t, err)
	return i
}

func TestKnobs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		knob     func(*consulfake.Server)
		token    string
		wantCode int // 0: the connection fails
	}{
		{"healthy", func(*consulfake.Server) {}, "", http.StatusOK},
		{"token required", func(s *consulfake.Server) { s.SetToken("t") }, "", http.StatusForbidden},
		{"right token", func(s *consulfake.Server) { s.SetToken("t") }, "t", http.StatusOK},
		{"500", func(s *consulfake.Server) { s.SetFailCode(500) }, "", http.StatusInternalServerError},
		{"down", func(s *consulfake.Server) { s.SetDown(true) }, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := consulfake.New()
			t.Cleanup(s.Close)
			tc.knob(s)
			resp, _ := get(t, s.URL()+"/v1/catalog/services", tc.token)
			if tc.wantCode == 0 {
				assert.Nil(t, resp)
			} else {
				require.NotNil(t, resp)
				assert.Equal(t, tc.wantCode, resp.StatusCode)
			}
			assert.Equal(t, 1, s.Requests(consulfake.EndpointCatalogServices))
		})
	}
}

func TestBlockingQueries(t *testing.T) {
	t.Parallel()
	s := consulfake.New()
	t.Cleanup(s.Close)
	s.Register(consulfake.Instance{ID: "w1", Service: "web", Address: "10.0.0.1", Port: 80, Tags: []string{"b", "a"}})
	s.Register(consulfake.Instance{ID: "w2", Service: "web", Address: "10.0.0.2", Port: 80, Tags: []string{"a", "c"}})

	resp, body := get(t, s.URL()+"/v1/catalog/services", "")
	require.NotNil(t, resp)
	assert.JSONEq(t, `{"web":["a","b","c"]}`, string(body))
	idx := index(t, resp)

	// Unchanged: waits for the whole wait, then answers with the same index.
	resp, _ = get(t, s.URL()+"/v1/catalog/services?index="+strconv.FormatUint(idx, 10)+"&wait=20ms", "")
	require.NotNil(t, resp)
	assert.Equal(t, idx, index(t, resp))

	// A check change wakes the health query of that service only.
	resp, body = get(t, s.URL()+"/v1/health/service/web", "")
	require.NotNil(t, resp)
	hidx := index(t, resp)
	var entries []struct{ Checks []struct{ Status string } }
	require.NoError(t, json.Unmarshal(body, &entries))
	require.Len(t, entries, 2)
	done := make(chan uint64, 1)
	go func() {
		r, _ := get(t, s.URL()+"/v1/health/service/web?index="+strconv.FormatUint(hidx, 10)+"&wait=1m", "")
		if r == nil {
			done <- 0
			return
		}
		done <- index(t, r)
	}()
	require.True(t, s.SetCheck("w1", "critical"))
	select {
	case got := <-done:
		assert.Greater(t, got, hidx)
	case <-time.After(20 * time.Second):
		t.Fatal("blocking query not woken by a change")
	}
	resp, _ = get(t, s.URL()+"/v1/catalog/services?index="+strconv.FormatUint(idx, 10)+"&wait=20ms", "")
	require.NotNil(t, resp)
	assert.Equal(t, idx, index(t, resp), "check changes do not move the catalog index")

	resp, body = get(t, s.URL()+"/v1/health/service/web?passing=1", "")
	require.NotNil(t, resp)
	require.NoError(t, json.Unmarshal(body, &entries))
	assert.Len(t, entries, 1)

	s.ResetIndex(2)
	resp, _ = get(t, s.URL()+"/v1/catalog/services", "")
	require.NotNil(t, resp)
	assert.Equal(t, uint64(2), index(t, resp))
	assert.True(t, s.Deregister("w2"))
	assert.False(t, s.Deregister("w2"))
}
