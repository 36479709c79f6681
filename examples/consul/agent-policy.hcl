# The least a mesh-agent's Consul token needs, for a host "host-1" serving "web" (docs/consul-acl.md).
# One rule per line: tests/e2e/test_consul_acl.py runs an agent with exactly these rules, then
# with each one removed. Repeat the two service lines for every service the host serves.
# Create it:  consul acl policy create -name mesh-agent-host-1 -rules @agent-policy.hcl
#             consul acl token create -policy-name mesh-agent-host-1 -description "mesh-agent on host-1"

# Register the service and its connect-proxy registration, and keep their checks.
service "web" { policy = "write" }
service "web-sidecar-proxy" { policy = "write" }

# Liveness when the Consul agent's node is this host (one Consul client per VM): a node check.
node "host-1" { policy = "write" }

# Liveness when the Consul agent is shared by several hosts: the host's `mesh-agent` service.
service "mesh-agent" { policy = "write" }

# Discovery: every upstream's instances and every destination's intentions (health reads
# need node read on each instance's node too).
service_prefix "" { policy = "read" }
node_prefix "" { policy = "read" }

# The mesh's configuration documents (consul.config_prefix, default mesh/config).
key_prefix "mesh/config/" { policy = "read" }

# The Consul agent's node name, which picks the liveness shape (without it: the mesh-agent service).
agent "host-1" { policy = "read" }
