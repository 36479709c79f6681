"""`data_plane`, `envoy` and `tracing` in agent.yaml: DESIGN.md section 4a is the contract."""

from pathlib import Path

import pytest

from agent.cli import check_config
from mesh.config import EnvoySettings, HostPort, TracingSettings, parse_config
from mesh.errors import InvalidDocument

MINIMAL = """
node: n1
advertise_address: 10.0.0.5
vault:
  auth: {method: token, token_file: /t}
"""


def problems_of(text: str) -> dict[str, str]:
    with pytest.raises(InvalidDocument) as info:
        parse_config(text)
    return {p.path: p.message for p in info.value.problems}


def test_the_builtin_data_plane_is_the_default_and_nothing_is_traced() -> None:
    cfg = parse_config(MINIMAL)
    assert cfg.data_plane == "builtin"
    assert cfg.envoy == EnvoySettings()
    assert cfg.tracing is None
    assert cfg.unused_sections == ()


def test_envoy_defaults_are_auto_binary_loopback_admin_and_one_worker_per_core() -> None:
    cfg = parse_config(MINIMAL + "data_plane: envoy\n")
    assert cfg.data_plane == "envoy"
    assert cfg.envoy == EnvoySettings(binary="auto", admin_listen=HostPort("127.0.0.1", 19000), concurrency=0)


def test_envoy_settings_are_read_as_written_with_the_envoy_data_plane() -> None:
    cfg = parse_config(
        MINIMAL
        + "data_plane: envoy\nenvoy: {binary: /opt/envoy/bin/envoy, admin_listen: '[::1]:19001', concurrency: 4}\n"
    )
    assert cfg.envoy == EnvoySettings("/opt/envoy/bin/envoy", HostPort("::1", 19001), 4)


def test_an_envoy_section_with_the_builtin_plane_is_accepted_but_named_unused() -> None:
    cfg = parse_config(MINIMAL + "envoy: {concurrency: 4}\n")
    assert cfg.data_plane == "builtin"
    assert cfg.envoy == EnvoySettings()
    assert cfg.unused_sections == ("envoy",)


def test_an_unknown_data_plane_is_refused_with_the_choices() -> None:
    assert problems_of(MINIMAL + "data_plane: nginx\n") == {
        "data_plane": 'must be one of "builtin", "envoy", got "nginx"'
    }


def test_unknown_keys_in_the_envoy_and_tracing_sections_are_errors() -> None:
    problems = problems_of(MINIMAL + "envoy: {workers: 2}\ntracing: {otlp_endpoint: 'http://c:4318', rate: 1}\n")
    assert "unknown key 'workers'" in problems["envoy.workers"]
    assert "unknown key 'rate'" in problems["tracing.rate"]


@pytest.mark.parametrize("address", ["0.0.0.0:19000", "10.0.0.5:19000", "localhost:19000", "[::]:19000"])
def test_envoy_admin_off_a_loopback_ip_is_refused_without_an_opt_in(address: str) -> None:
    problems = problems_of(MINIMAL + f"data_plane: envoy\nenvoy: {{admin_listen: '{address}'}}\n")
    assert "loopback" in problems["envoy.admin_listen"]
    assert "127.0.0.1" in problems["envoy.admin_listen"]


def test_envoy_admin_may_not_share_a_port_with_the_agents_admin() -> None:
    problems = problems_of(MINIMAL + "data_plane: envoy\nenvoy: {admin_listen: '127.0.0.1:19100'}\n")
    assert problems == {"envoy.admin_listen": "port 19100 is already used by admin.listen"}


def test_a_port_clash_in_an_unused_envoy_section_is_not_an_error() -> None:
    assert parse_config(MINIMAL + "envoy: {admin_listen: '127.0.0.1:19100'}\n").unused_sections == ("envoy",)


@pytest.mark.parametrize("value", ["-1", "1025", "2.5", "many"])
def test_envoy_concurrency_must_be_a_small_whole_number(value: str) -> None:
    assert "envoy.concurrency" in problems_of(MINIMAL + f"data_plane: envoy\nenvoy: {{concurrency: {value}}}\n")


def test_a_relative_envoy_binary_path_is_refused() -> None:
    problems = problems_of(MINIMAL + "data_plane: envoy\nenvoy: {binary: bin/envoy}\n")
    assert "absolute path" in problems["envoy.binary"]


def test_a_command_name_is_a_valid_envoy_binary() -> None:
    assert parse_config(MINIMAL + "data_plane: envoy\nenvoy: {binary: envoy-1.40}\n").envoy.binary == "envoy-1.40"


def test_an_empty_envoy_binary_is_refused() -> None:
    assert "envoy.binary" in problems_of(MINIMAL + "data_plane: envoy\nenvoy: {binary: ''}\n")


def test_tracing_defaults_sample_everything_and_propagate_w3c() -> None:
    cfg = parse_config(MINIMAL + "tracing: {otlp_endpoint: 'http://127.0.0.1:4318/'}\n")
    assert cfg.tracing == TracingSettings(otlp_endpoint="http://127.0.0.1:4318", sample_rate=1.0, propagation=("w3c",))


def test_tracing_is_read_as_written_for_either_data_plane() -> None:
    text = "tracing: {otlp_endpoint: 'https://otel.internal/collector', sample_rate: 0.25, propagation: [w3c, b3]}\n"
    for plane in ("builtin", "envoy"):
        cfg = parse_config(MINIMAL + f"data_plane: {plane}\n" + text)
        assert cfg.tracing == TracingSettings("https://otel.internal/collector", 0.25, ("w3c", "b3"))


@pytest.mark.parametrize("rate", ["0", "1"])
def test_the_sample_rate_bounds_are_inclusive(rate: str) -> None:
    cfg = parse_config(MINIMAL + f"tracing: {{otlp_endpoint: 'http://c:4318', sample_rate: {rate}}}\n")
    assert cfg.tracing is not None
    assert cfg.tracing.sample_rate == float(rate)
    assert isinstance(cfg.tracing.sample_rate, float)


@pytest.mark.parametrize("rate", ["1.5", "-0.1", ".nan", ".inf", "50"])
def test_a_sample_rate_outside_zero_to_one_is_refused_with_what_it_means(rate: str) -> None:
    problems = problems_of(MINIMAL + f"tracing: {{otlp_endpoint: 'http://c:4318', sample_rate: {rate}}}\n")
    assert "between 0 and 1 inclusive" in problems["tracing.sample_rate"]


@pytest.mark.parametrize("rate", ["true", "'0.5'"])
def test_a_sample_rate_that_is_not_a_number_is_refused(rate: str) -> None:
    problems = problems_of(MINIMAL + f"tracing: {{otlp_endpoint: 'http://c:4318', sample_rate: {rate}}}\n")
    assert "must be of type number" in problems["tracing.sample_rate"]


def test_a_tracing_section_needs_its_endpoint() -> None:
    assert problems_of(MINIMAL + "tracing: {sample_rate: 0.5}\n") == {"tracing.otlp_endpoint": "is required"}


@pytest.mark.parametrize(
    ("endpoint", "says"),
    [
        ("grpc://c:4317", "http:// or https://"),
        ("c:4318", "http:// or https://"),
        ("http://c:4318/?token=x", "query or fragment"),
        ("http://user:secret@c:4318", "credentials"),
    ],
)
def test_an_otlp_endpoint_that_is_not_a_plain_http_url_is_refused(endpoint: str, says: str) -> None:
    problems = problems_of(MINIMAL + f"tracing: {{otlp_endpoint: '{endpoint}'}}\n")
    assert says in problems["tracing.otlp_endpoint"]


def test_a_credential_in_the_otlp_endpoint_is_not_repeated_in_the_error() -> None:
    problems = problems_of(MINIMAL + "tracing: {otlp_endpoint: 'http://user:secret@c:4318'}\n")
    assert "secret" not in problems["tracing.otlp_endpoint"]


@pytest.mark.parametrize(("value", "says"), [("[jaeger]", "must be one of"), ("[]", ""), ("[b3, b3]", "")])
def test_propagation_takes_distinct_known_formats_only(value: str, says: str) -> None:
    problems = problems_of(MINIMAL + f"tracing: {{otlp_endpoint: 'http://c:4318', propagation: {value}}}\n")
    (path,) = problems
    assert path.startswith("tracing.propagation")
    assert says in problems[path]


def test_b3_alone_is_a_valid_propagation() -> None:
    cfg = parse_config(MINIMAL + "tracing: {otlp_endpoint: 'http://c:4318', propagation: [b3]}\n")
    assert cfg.tracing is not None
    assert cfg.tracing.propagation == ("b3",)


def test_check_config_warns_about_an_envoy_section_the_builtin_plane_does_not_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(MINIMAL + "envoy: {concurrency: 2}\n")
    assert check_config(str(path), check_files=False) == 0
    err = capsys.readouterr().err
    assert "warning: envoy: is not read with data_plane: builtin" in err


def test_check_config_is_quiet_about_the_envoy_section_when_it_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(MINIMAL + "tracing: {otlp_endpoint: 'http://c:4318'}\n")
    assert check_config(str(path), check_files=False) == 0
    assert "warning" not in capsys.readouterr().err


@pytest.mark.parametrize("protocol", ["http2", "grpc"])
def test_a_service_may_speak_http2_or_grpc_on_either_plane(protocol: str) -> None:
    # L7 with data_plane: envoy; the builtin plane relays it as TCP (mesh.traffic.planes).
    services = f"services: [{{name: echo, port: 9000, protocol: {protocol}}}]\n"
    for plane in ("builtin", "envoy"):
        (echo,) = parse_config(MINIMAL + f"data_plane: {plane}\n" + services).services
        assert echo.protocol == protocol
    assert problems_of(MINIMAL + "services: [{name: echo, port: 9000, protocol: h3}]\n") == {
        "services[0].protocol": 'must be one of "tcp", "http", "http2", "grpc", got "h3"'
    }
