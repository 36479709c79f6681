import pytest

from mesh.durations import format_duration, format_go_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0.0), ("500ms", 0.5), ("5s", 5.0), ("1m30s", 90.0), ("24h", 86400.0), ("1.5s", 1.5), ("250us", 250e-6)],
)
def test_go_durations_parse_to_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "s", "5x", "1h 30m", "ms5", "--1s"])
def test_malformed_durations_are_refused_with_the_input_in_the_message(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize("seconds", [0.0, 0.25, 5.0, 90.0, 86400.0, 3725.0])
def test_format_round_trips(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.5, "500ms"), (1.5, "1.5s"), (10, "10s"), (60, "1m0s"), (5400, "1h30m0s"), (768 * 3600, "768h0m0s")],
)
def test_go_spelling_is_what_time_duration_string_prints(seconds: float, text: str) -> None:
    assert format_go_duration(seconds) == text
