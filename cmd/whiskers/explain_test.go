package main

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/whiskers-dev/whiskers/syncer/builder"
	"github.com/whiskers-dev/whiskers/syncer/catalog"
	"github.com/whiskers-dev/whiskers/syncer/status"
)

func TestExplainReadsCatalogs(t *testing.T) {
	t.Parallel()
	c, n := fakes(t)
	catalogs := []string{"--consul-addr", c.URL(), "--nomad-addr", n.URL()}
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run(t.Context(), append(append([]string{"explain"}, catalogs...), "hello"), &stdout, &stderr), stderr.String())
	assert.Contains(t, stdout.String(), "hello: 1 of 1 instances routed; routers http:hello\n")
	assert.Regexp(t, `(?m)^  yes +nomad/h1 +10\.0\.1\.1:20001 +\S+ +routed$`, stdout.String())
	assert.Empty(t, stderr.String(), "nothing logged at the default level when all goes well")

	stdout.Reset()
	stderr.Reset()
	assert.Equal(t, 1, run(t.Context(), append(append([]string{"explain"}, catalogs...), "nope"), &stdout, &stderr))
	assert.Contains(t, stderr.String(), `no catalog service "nope"; the catalogs hold: hello, web`)

	assert.Equal(t, 2, run(t.Context(), []string{"explain"}, &stdout, &stderr), "SERVICE is required")
}

func TestExplainAsksSyncer(t *testing.T) {
	t.Parallel()
	board := status.NewBoard(nil)
	board.Update(builder.Result{Services: []builder.ServiceDecisions{{
		Service: "finicky", Routers: []string{"http:finicky"},
		Instances: []builder.Decision{
			{Origin: catalog.OriginNomad, ID: "a", Node: "worker-1", Address: "127.0.0.1", Port: 1, Routed: false, Reason: builder.ReasonDraining},
			{Origin: catalog.OriginNomad, ID: "b", Node: "worker-2", Address: "127.0.0.1", Port: 2, Routed: true, Reason: builder.ReasonRouted},
		},
	}}}, map[string]bool{"nomad": true})
	srv := httptest.NewServer(board.Handler())
	t.Cleanup(srv.Close)
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run(t.Context(), []string{"explain", "--from", srv.URL, "finicky"}, &stdout, &stderr), stderr.String())
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	require.Len(t, lines, 4, stdout.String())
	assert.Equal(t, "finicky: 1 of 2 instances routed; routers http:finicky", lines[0])
	assert.Regexp(t, `^  ROUTED +INSTANCE +ADDRESS +NODE +WHY$`, lines[1])
	assert.Regexp(t, `^  yes +nomad/b +127\.0\.0\.1:2 +worker-2 +routed$`, lines[2], "routed first")
	assert.Regexp(t, `^  no +nomad/a +127\.0\.0\.1:1 +worker-1 +`+builder.ReasonDraining+`$`, lines[3])
	// The columns line up.
	assert.Equal(t, strings.Index(lines[1], "WHY"), strings.Index(lines[2], "routed"))
}
