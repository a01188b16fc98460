package consulfake_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/consul/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/whiskers-dev/whiskers/syncer/fakes/consulfake"
	"github.com/whiskers-dev/whiskers/syncer/fakes/internal/shape"
)

// recordings is what a real Consul 1.14.8 answered, with Nomad's agents
// registered in it (go test ./e2e/realnomad -run TestRecord -record).
const recordings = "testdata/consul-1.14.8"

// asClient is an answer as the official client decodes it.
func asClient[T any](b []byte) ([]byte, error) {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// TestAnswersShapedLikeConsul: every field of a real Consul 1.14.8 answer
// that the official client reads, the fake's answer has too.
func TestAnswersShapedLikeConsul(t *testing.T) {
	t.Parallel()
	f := consulfake.New()
	t.Cleanup(f.Close)
	f.Register(consulfake.Instance{ID: "nomad-client-1", Service: "nomad-client", Address: "127.0.0.1", Port: 4646,
		Tags: []string{"http"}, Meta: map[string]string{"external-source": "nomad"}})
	for _, tc := range []struct {
		file, path string
		client     func([]byte) ([]byte, error)
		dataMaps   []string
	}{
		{"catalog_services.json", "/v1/catalog/services", asClient[map[string][]string], []string{"$"}},
		{"health_state.json", "/v1/health/state/any", asClient[api.HealthChecks], nil},
		{"health_service.json", "/v1/health/service/nomad-client", asClient[[]*api.ServiceEntry],
			[]string{"$[].Node.TaggedAddresses", "$[].Node.Meta", "$[].Service.Meta", "$[].Service.TaggedAddresses"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			recorded, err := os.ReadFile(filepath.Join(recordings, tc.file))
			require.NoError(t, err)
			want, err := tc.client(recorded)
			require.NoError(t, err)
			resp, err := http.Get(f.URL() + tc.path)
			require.NoError(t, err)
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			missing, err := shape.Missing(want, got, tc.dataMaps...)
			require.NoError(t, err)
			assert.Empty(t, missing, "fields of Consul's answer the fake lacks")
		})
	}
}
