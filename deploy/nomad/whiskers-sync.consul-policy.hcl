# Consul ACL policy of the token `whiskers sync` uses (CONSUL_HTTP_TOKEN):
# list the catalog's services and read their instances and health. Nothing
# else.
#
#   consul acl policy create -name whiskers-sync -rules @deploy/nomad/whiskers-sync.consul-policy.hcl
#   consul acl token create -description "whiskers sync" -policy-name whiskers-sync
#   nomad var put nomad/jobs/whiskers consul_token=<the token's SecretID>
service_prefix "" {
  policy = "read"
}

node_prefix "" {
  policy = "read"
}
