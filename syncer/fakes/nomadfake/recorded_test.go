package nomadfake_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/whiskers-dev/whiskers/syncer/fakes/internal/shape"
	"github.com/whiskers-dev/whiskers/syncer/fakes/nomadfake"
)

// recordings is what a real Nomad 1.6.1 answered, with the shipped jobs
// running (go test ./e2e/realnomad -run TestRecord -record).
const recordings = "testdata/nomad-1.6.1"

// fakeWithData is a fake holding one of each thing the recordings show.
func fakeWithData(t *testing.T) *nomadfake.Server {
	t.Helper()
	f := nomadfake.New()
	t.Cleanup(f.Close)
	f.SetNode(api.Node{ID: "n1", Name: "worker-1"})
	f.SetJob(api.Job{ID: ptr("finicky-whiskers"), Name: ptr("finicky-whiskers")})
	f.SetDeployment(api.Deployment{ID: "d1", JobID: "finicky-whiskers", Status: "successful"})
	f.SetAllocation(api.Allocation{ID: "a1", NodeID: "n1", JobID: "finicky-whiskers", TaskGroup: "finicky",
		DesiredStatus: "run", ClientStatus: "running", DeploymentID: "d1",
		DeploymentStatus: &api.AllocDeploymentStatus{Healthy: ptr(true)},
		TaskStates:       map[string]*api.TaskState{"spin": {State: "running"}}})
	f.SetAllocChecks("a1", api.AllocCheckStatuses{"c1": {ID: "c1", Check: "c", Mode: "healthiness", Status: "success", Timestamp: 1}})
	f.Register(api.ServiceRegistration{ID: "r1", ServiceName: "finicky", NodeID: "n1", JobID: "finicky-whiskers",
		AllocID: "a1", Address: "127.0.0.1", Port: 20001, Tags: []string{"traefik.enable=true"}})
	return f
}

func ptr[T any](v T) *T { return &v }

// asClient is an answer as the official client decodes it: fields it does
// not know (newer or older than its types) drop out.
func asClient[T any](b []byte) ([]byte, error) {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

func getBody(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return b
}

// TestAnswersShapedLikeNomad: every field a real Nomad 1.6.1 answer has,
// the fake's answer has too, for each endpoint the syncer reads.
func TestAnswersShapedLikeNomad(t *testing.T) {
	t.Parallel()
	f := fakeWithData(t)
	for _, tc := range []struct {
		file, path string
		client     func([]byte) ([]byte, error) // the recording as the official client reads it
		dataMaps   []string
	}{
		{"services.json", "/v1/services?namespace=*", asClient[[]*api.ServiceRegistrationListStub], nil},
		{"service.json", "/v1/service/finicky", asClient[[]*api.ServiceRegistration], nil},
		{"service_empty.json", "/v1/service/nothing-here", asClient[[]*api.ServiceRegistration], nil},
		{"allocations.json", "/v1/allocations?namespace=*", asClient[[]*api.AllocationListStub], []string{"$[].TaskStates"}},
		{"deployments.json", "/v1/deployments?namespace=*", asClient[[]*api.Deployment], []string{"$[].TaskGroups"}},
		{"alloc_checks.json", "/v1/client/allocation/a1/checks", asClient[api.AllocCheckStatuses], []string{"$"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			recorded, err := os.ReadFile(filepath.Join(recordings, tc.file))
			require.NoError(t, err)
			want, err := tc.client(recorded)
			require.NoError(t, err)
			missing, err := shape.Missing(want, getBody(t, f.URL()+tc.path), tc.dataMaps...)
			require.NoError(t, err)
			assert.Empty(t, missing, "fields of Nomad's answer the fake lacks")
		})
	}
}

// eventShape is an event's envelope with its payload decoded as the
// official client's accessor for its topic does.
func eventShape(ev *api.Event) ([]byte, error) {
	var payload any
	var err error
	switch ev.Topic {
	case api.TopicAllocation:
		payload, err = ev.Allocation()
	case api.TopicService:
		payload, err = ev.Service()
	case api.TopicDeployment:
		payload, err = ev.Deployment()
	case api.TopicNode:
		payload, err = ev.Node()
	case api.TopicJob:
		payload, err = ev.Job()
	}
	if err != nil {
		return nil, err
	}
	env := *ev
	env.Payload = nil
	return json.Marshal(struct {
		api.Event
		Payload any
	}{env, payload})
}

// TestEventsShapedLikeNomad: the fake's events carry what Nomad's carry,
// and Allocation events carry no job, as Nomad's do not.
func TestEventsShapedLikeNomad(t *testing.T) {
	t.Parallel()
	f := fakeWithData(t)
	ctx := t.Context()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.URL()+"/v1/event/stream?index=1", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	byTopic := map[string]api.Event{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	deadline := time.Now().Add(5 * time.Second)
	for len(byTopic) < 5 && time.Now().Before(deadline) && sc.Scan() {
		var batch api.Events
		if json.Unmarshal(sc.Bytes(), &batch) != nil {
			continue
		}
		for _, ev := range batch.Events {
			byTopic[string(ev.Topic)] = ev
		}
	}
	for topic, file := range map[string]string{
		"Allocation": "event_allocation_allocationupdatedesiredstatus.json",
		"Service":    "event_service_serviceregistration.json",
		"Deployment": "event_deployment_allocationupdated.json",
		"Node":       "event_node_noderegistration.json",
	} {
		t.Run(topic, func(t *testing.T) {
			recorded, err := os.ReadFile(filepath.Join(recordings, file))
			require.NoError(t, err)
			var batch api.Events
			require.NoError(t, json.Unmarshal(recorded, &batch))
			got, ok := byTopic[topic]
			require.True(t, ok, "no %s event from the fake", topic)
			// The envelope, and the payload as the client's typed accessor
			// decodes it.
			want, err := eventShape(&batch.Events[0])
			require.NoError(t, err)
			have, err := eventShape(&got)
			require.NoError(t, err)
			missing, err := shape.Missing(want, have, "$.Payload.TaskStates", "$.Payload.TaskGroups",
				"$.Payload.Drivers", "$.Payload.Attributes", "$.Payload.Meta", "$.Payload.HostVolumes", "$.Payload.Links")
			require.NoError(t, err)
			assert.Empty(t, missing, "fields of Nomad's event the fake lacks")
			if topic == "Allocation" {
				a, err := got.Allocation()
				require.NoError(t, err)
				assert.Nil(t, a.Job, "Nomad's Allocation events carry no job")
			}
		})
	}
}
