"""service-splitter: weights are Consul's (0.01 % steps adding up to exactly 100)."""

from typing import Any

import pytest

from .refusals import problems_of, refused_at

KIND = "service-splitter"


@pytest.mark.parametrize(
    "weights",
    [[100], [90, 10], [33.33, 33.33, 33.34], [0.01, 99.99], [50.5, 49.5]],
)
def test_weights_with_two_decimals_adding_up_to_100_are_accepted(weights: list[float]) -> None:
    splits = [{"Weight": w, "ServiceSubset": f"v{i}"} for i, w in enumerate(weights)]
    assert problems_of(KIND, {"Splits": splits}) == []


@pytest.mark.parametrize(
    ("splits", "path", "message"),
    [
        pytest.param(
            [{"Weight": 90, "ServiceSubset": "v1"}, {"Weight": 5, "ServiceSubset": "v2"}],
            "Splits",
            "weights add up to 95; they must add up to 100",
            id="sum-short",
        ),
        pytest.param(
            [{"Weight": 60.5, "ServiceSubset": "v1"}, {"Weight": 40, "ServiceSubset": "v2"}],
            "Splits",
            "weights add up to 100.5; they must add up to 100",
            id="sum-over",
        ),
        pytest.param(
            [{"Weight": 33.333, "ServiceSubset": "v1"}, {"Weight": 66.667, "ServiceSubset": "v2"}],
            "Splits[0].Weight",
            "has more than two decimal places (33.333); 0.01 is the finest step",
            id="three-decimals",
        ),
        pytest.param(
            [{"Weight": 0, "ServiceSubset": "v1"}, {"Weight": 100, "ServiceSubset": "v2"}],
            "Splits[0].Weight",
            "must be a percentage from 0.01 to 100 (to stop sending requests to a split, remove the split), got 0",
            id="zero-weight",
        ),
        pytest.param(
            [{"Weight": 50, "ServiceSubset": "v1"}, {"Weight": 50, "Service": "api", "ServiceSubset": "v1"}],
            "Splits[1]",
            "sends to the same destination as Splits[0] (service 'api', subset 'v1'); merge their weights",
            id="duplicate-destination",
        ),
        pytest.param(
            [{"Weight": 100, "RequestHeaders": {"Add": {"x:y": "1"}}}],
            'Splits[0].RequestHeaders.Add["x:y"]',
            "is not a valid HTTP header name: 'x:y'",
            id="header-name",
        ),
        pytest.param(
            # `$` would match before a final newline: the name must be a token to its last character.
            [{"Weight": 100, "RequestHeaders": {"Set": {"x-injected\n": "1"}}}],
            'Splits[0].RequestHeaders.Set["x-injected\\n"]',
            "is not a valid HTTP header name: 'x-injected\\n'",
            id="header-name-trailing-newline",
        ),
    ],
)
def test_consul_split_rules(splits: list[dict[str, Any]], path: str, message: str) -> None:
    assert message in refused_at(KIND, {"Splits": splits}, path)


def test_the_sum_is_not_blamed_when_a_weight_is_not_a_number() -> None:
    problems = problems_of(KIND, {"Splits": [{"Weight": "90"}, {"Weight": 10, "Service": "web"}]})
    assert [p.path for p in problems] == ["Splits[0].Weight"]
