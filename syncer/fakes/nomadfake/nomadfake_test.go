package nomadfake_test

import (
	"bufio"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/whiskers-dev/whiskers/syncer/fakes/nomadfake"
)

func client(t *testing.T, s *nomadfake.Server, token string) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = s.URL()
	cfg.SecretID = token
	c, err := api.NewClient(cfg)
	require.NoError(t, err)
	return c
}

func TestRecordedThroughOfficialClient(t *testing.T) {
	t.Parallel()
	s := nomadfake.New()
	t.Cleanup(s.Close)
	require.NoError(t, s.SeedRecorded())
	c := client(t, s, "")
	stubs, meta, err := c.Services().List(&api.QueryOptions{Namespace: "*"})
	require.NoError(t, err)
	require.Len(t, stubs, 1)
	assert.Equal(t, "default", stubs[0].Namespace)
	require.Len(t, stubs[0].Services, 2)
	assert.Equal(t, "hello-nomad", stubs[0].Services[0].ServiceName)
	assert.Positive(t, meta.LastIndex)
	regs, _, err := c.Services().Get("redis", nil)
	require.NoError(t, err)
	require.Len(t, regs, 1)
	assert.Equal(t, 30826, regs[0].Port)
	assert.Equal(t, "07501480-8175-8071-7da6-133bd1ff890f", regs[0].AllocID)
}

func TestTokenAndFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		knob    func(*nomadfake.Server)
		token   string
		wantErr bool
	}{
		{"healthy", func(*nomadfake.Server) {}, "", false},
		{"token required", func(s *nomadfake.Server) { s.SetToken("t") }, "", true},
		{"right token", func(s *nomadfake.Server) { s.SetToken("t") }, "t", false},
		{"500", func(s *nomadfake.Server) { s.SetFailCode(500) }, "", true},
		{"down", func(s *nomadfake.Server) { s.SetDown(true) }, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := nomadfake.New()
			t.Cleanup(s.Close)
			tc.knob(s)
			_, _, err := client(t, s, tc.token).Services().List(nil)
			assert.Equal(t, tc.wantErr, err != nil, "err: %v", err)
			assert.Equal(t, 1, s.Requests(nomadfake.EndpointServices))
		})
	}
}

func TestBlockingList(t *testing.T) {
	t.Parallel()
	s := nomadfake.New()
	t.Cleanup(s.Close)
	c := client(t, s, "")
	_, meta, err := c.Services().List(nil)
	require.NoError(t, err)
	done := make(chan uint64, 1)
	go func() {
		_, m, err := c.Services().List(&api.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: time.Minute})
		if err != nil {
			done <- 0
			return
		}
		done <- m.LastIndex
	}()
	s.Register(api.ServiceRegistration{ID: "a", ServiceName: "app", Address: "10.0.0.1", Port: 1})
	select {
	case got := <-done:
		assert.Greater(t, got, meta.LastIndex)
	case <-time.After(20 * time.Second):
		t.Fatal("blocking query not woken")
	}
}

func TestEventStream(t *testing.T) {
	t.Parallel()
	s := nomadfake.New()
	t.Cleanup(s.Close)
	s.SetHeartbeat(10 * time.Millisecond)
	s.Register(api.ServiceRegistration{ID: "a1", ServiceName: "app", Address: "10.0.0.1", Port: 1})
	start := s.Index()

	// Raw NDJSON: heartbeats are {} lines.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL()+"/v1/event/stream?topic=Service&index="+strconv.FormatUint(start, 10), nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	require.True(t, sc.Scan())
	assert.Equal(t, "{}", sc.Text())

	// Through the official client: registration and deregistration events.
	events, err := client(t, s, "").EventStream().Stream(t.Context(), map[api.Topic][]string{api.TopicService: {"*"}}, start, nil)
	require.NoError(t, err)
	s.Register(api.ServiceRegistration{ID: "a2", ServiceName: "app", Address: "10.0.0.2", Port: 2})
	s.Deregister("a1")
	var types []string
	for len(types) < 2 {
		select {
		case ev := <-events:
			require.NoError(t, ev.Err)
			for _, e := range ev.Events {
				reg, err := e.Service()
				require.NoError(t, err)
				assert.Equal(t, "app", reg.ServiceName)
				types = append(types, e.Type)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("no events")
		}
	}
	assert.Equal(t, []string{"ServiceRegistration", "ServiceDeregistration"}, types)
}
