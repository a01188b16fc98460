# Nomad ACL policy of the whiskers `sync` task, read-only: the service
# registrations (GET /v1/services, /v1/service/:name), allocations and
# deployments (their health, canaries, desired status) and the event stream's
# Service, Allocation and Deployment topics, in every namespace (read-job);
# and the nodes, to see drains and ineligible nodes (node read). Without
# node read, the syncer logs a warning and routes without allocation facts.
#
# Bind it to the task's workload identity once:
#
#   nomad acl policy apply -namespace default -job whiskers -group whiskers \
#     -task sync whiskers-sync deploy/nomad/whiskers-sync.nomad-policy.hcl
#
# To watch fewer namespaces, name them instead of "*" and pass the same list
# to `whiskers sync --nomad-namespace`.
namespace "*" {
  capabilities = ["read-job"]
}

node {
  policy = "read"
}
