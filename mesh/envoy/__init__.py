"""The Envoy data plane (`data_plane: envoy`): the agent is the control plane of one Envoy per host.

    compiled snapshot --translate--> xDS resources --ADS (mesh/envoy/xds)--> Envoy (mesh/envoy/supervisor)

`translate` is pure (compiled snapshot in, protobuf resources out); `xds` serves them over ADS and
tracks ACK/NACK per type; `supervisor` writes the bootstrap, starts Envoy, watches its readiness and
restarts it with backoff.
"""
