package catalog_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/whiskers-dev/whiskers/syncer/catalog"
)

func TestNomadAllocID(t *testing.T) {
	t.Parallel()
	tests := []struct{ id, want string }{
		// As Nomad 1.6 names group and task services, in Consul and in its own catalog.
		{"_nomad-task-71a63a80-a98a-93ee-4fd7-73b808577c20-group-hello-nomad-hello-nomad-http", "71a63a80-a98a-93ee-4fd7-73b808577c20"},
		{"_nomad-task-07501480-8175-8071-7da6-133bd1ff890f-redis-redis-db", "07501480-8175-8071-7da6-133bd1ff890f"},
		{"web-1", ""},
		{"_nomad-task-short", ""},
		{"_nomad-task-71a63a80xa98a-93ee-4fd7-73b808577c20-group-x", ""},
		{"_nomad-task-71A63A80-a98a-93ee-4fd7-73b808577c20-group-x", ""},
		{"_nomad-server-abc", ""},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			assert.Equal(t, tc.want, catalog.NomadAllocID(tc.id))
		})
	}
}
