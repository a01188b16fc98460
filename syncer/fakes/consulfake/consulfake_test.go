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

// TestEnterpriseNamespaces: after SetEnterprise the fake answers namespaces
// as Consul Enterprise documents them; each row names the page.
func TestEnterpriseNamespaces(t *testing.T) {
	t.Parallel()
	s := consulfake.New()
	t.Cleanup(s.Close)
	s.SetEnterprise()
	s.Register(consulfake.Instance{ID: "w1", Service: "web", Address: "10.0.0.1", Port: 80})
	s.Register(consulfake.Instance{ID: "wa", Service: "web", Namespace: "team-a", Address: "10.0.1.1", Port: 80})
	s.Register(consulfake.Instance{ID: "aa", Service: "api", Namespace: "team-a", Address: "10.0.1.2", Port: 90})
	rows := []struct {
		name, source, path, want string
	}{
		{"no ns is the default namespace", "api-docs/catalog#ns: defaults to the token's namespace or default",
			"/v1/catalog/services", `{"web":[]}`},
		{"ns selects one", "api-docs/catalog#ns", "/v1/catalog/services?ns=team-a", `{"web":[],"api":[]}`},
		{"the namespace list", "api-docs/namespaces#list-all-namespaces",
			"/v1/namespaces", `[{"Name":"default","CreateIndex":13,"ModifyIndex":13},{"Name":"team-a","CreateIndex":13,"ModifyIndex":13}]`},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			resp, body := get(t, s.URL()+row.path, "")
			require.NotNil(t, resp)
			assert.Equal(t, http.StatusOK, resp.StatusCode, row.source)
			assert.JSONEq(t, row.want, string(body), row.source)
		})
	}
	t.Run("* reads every namespace's checks", func(t *testing.T) { // api-docs/health#ns: the * wildcard
		_, body := get(t, s.URL()+"/v1/health/state/any?ns=*", "")
		var checks []struct{ ServiceID, Namespace string }
		require.NoError(t, json.Unmarshal(body, &checks))
		got := map[string]string{}
		for _, c := range checks {
			if c.ServiceID != "" {
				got[c.ServiceID] = c.Namespace
			}
		}
		assert.Equal(t, map[string]string{"w1": "default", "wa": "team-a", "aa": "team-a"}, got)
	})
	t.Run("a namespace change wakes the list", func(t *testing.T) { // api-docs/namespaces: blocking queries YES
		resp, _ := get(t, s.URL()+"/v1/namespaces", "")
		idx := index(t, resp)
		done := make(chan uint64, 1)
		go func() {
			r, _ := get(t, s.URL()+"/v1/namespaces?index="+strconv.FormatUint(idx, 10)+"&wait=1m", "")
			if r == nil {
				done <- 0
				return
			}
			done <- index(t, r)
		}()
		s.AddNamespace("team-b")
		select {
		case got := <-done:
			assert.Greater(t, got, idx)
		case <-time.After(20 * time.Second):
			t.Fatal("blocking query not woken by a new namespace")
		}
		s.DeleteNamespace("team-a")
		_, body := get(t, s.URL()+"/v1/catalog/services?ns=team-a", "")
		assert.JSONEq(t, `{}`, string(body), "a deleted namespace's services are gone")
	})
}
