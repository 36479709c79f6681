# meshctl's read-only commands (status, explain, topology, intention check, config get/list):
# the catalog, every service's health, the intentions and the configuration documents.
service_prefix "" { policy = "read" }
node_prefix "" { policy = "read" }
key_prefix "mesh/config/" { policy = "read" }
