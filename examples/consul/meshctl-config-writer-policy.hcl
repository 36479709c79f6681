# meshctl config put / delete on top of the read-only policy: write on the configuration documents.
key_prefix "mesh/config/" { policy = "write" }
