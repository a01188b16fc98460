# Nomad ACL policy of the whiskers `sync` task: read the service
# registrations (GET /v1/services, /v1/service/:name) and the Service topic
# of the event stream, in every namespace. Nothing else.
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
