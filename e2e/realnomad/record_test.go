package realnomad

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var record = flag.Bool("record", false, "record the real agents' answers into the fakes' testdata (TestRecord)")

// Where the recordings go: the fakes' tests compare their answers' shape
// with these.
const (
	nomadRecordings  = "../../syncer/fakes/nomadfake/testdata/nomad-1.6.1"
	consulRecordings = "../../syncer/fakes/consulfake/testdata/consul-1.14.8"
)

// TestRecord records what the real Nomad 1.6.1 and Consul 1.14.8 answer to
// the calls the syncer makes, with the shipped jobs running, into the
// fakes' testdata:
//
//	go test ./e2e/realnomad -run TestRecord -record
func TestRecord(t *testing.T) {
	if !*record {
		t.Skip("run with -record to record the real agents' answers")
	}
	e := startEnv(t)
	alloc := e.allocOn(t, appJob, appService, "worker-1")
	nomad := map[string]string{
		"services.json":      "/v1/services?namespace=*",
		"service.json":       "/v1/service/" + appService,
		"allocations.json":   "/v1/allocations?namespace=*",
		"nodes.json":         "/v1/nodes",
		"deployments.json":   "/v1/deployments?namespace=*",
		"job.json":           "/v1/job/" + appJob,
		"alloc_checks.json":  "/v1/client/allocation/" + alloc.ID + "/checks",
		"service_empty.json": "/v1/service/nothing-here",
	}
	for file, path := range nomad {
		writeRecording(t, nomadRecordings, file, get(t, e.c.Server.Addr+path))
	}
	// One event of each topic the syncer follows: a stop makes Allocation,
	// Service and (with the replacement) Deployment-free events; the job
	// run before made Job and Deployment events.
	e.nomad(t, "alloc", "stop", "-detach", alloc.ID)
	events := streamEvents(t, e.c.Server.Addr+"/v1/event/stream?topic=Allocation:*&topic=Service:*&topic=Job:*&topic=Deployment:*&topic=Node:*&index=1")
	for kind, ev := range events {
		writeRecording(t, nomadRecordings, "event_"+strings.ToLower(kind)+".json", ev)
	}

	consul := map[string]string{
		"catalog_services.json": "/v1/catalog/services",
		"health_state.json":     "/v1/health/state/any",
		"health_service.json":   "/v1/health/service/nomad-client",
	}
	for file, path := range consul {
		writeRecording(t, consulRecordings, file, get(t, "http://"+e.c.ConsulAddr+path))
	}
}

// get returns a GET's body, with the X-*-Index header recorded beside it.
func get(t testing.TB, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode >= 500 {
		t.Fatalf("GET %s: %d %v %s", url, resp.StatusCode, err, b)
	}
	return b
}

// streamEvents reads the event stream for 10 s from its start and returns
// the first event of each topic and type ("Allocation_PlanResult"), each
// as a one-event batch as Nomad sends it.
func streamEvents(t testing.TB, url string) map[string][]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string][]byte{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for sc.Scan() {
		var batch struct {
			Index  uint64
			Events []json.RawMessage
		}
		if json.Unmarshal(sc.Bytes(), &batch) != nil || len(batch.Events) == 0 {
			continue // a heartbeat
		}
		for _, raw := range batch.Events {
			var ev struct{ Topic, Type string }
			_ = json.Unmarshal(raw, &ev)
			kind := ev.Topic + "_" + ev.Type
			if _, done := out[kind]; !done {
				b, _ := json.Marshal(map[string]any{"Index": batch.Index, "Events": []json.RawMessage{raw}})
				out[kind] = b
			}
		}
	}
	return out
}

// writeRecording writes an answer, indented, to dir/file.
func writeRecording(t testing.TB, dir, file string, body []byte) {
	t.Helper()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, body, "", "  "); err != nil {
		t.Fatalf("%s: %v: %s", file, err, body)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	if err := os.WriteFile(filepath.Join(dir, file), pretty.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "recorded %s\n", filepath.Join(dir, file))
}
