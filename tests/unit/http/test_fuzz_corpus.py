"""The fuzz target over its seed corpus (no fuzzing): keeps fuzz/http_heads.py runnable and its seeds agreed on."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

FUZZ = Path(__file__).resolve().parents[3] / "fuzz"
SEEDS = sorted((FUZZ / "corpus" / "http_heads").iterdir())


def load_target() -> ModuleType:
    spec = importlib.util.spec_from_file_location("http_heads_fuzz_target", FUZZ / "http_heads.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TARGET = load_target()


def test_the_seed_corpus_holds_requests_responses_and_smuggling_shapes() -> None:
    names = [seed.name for seed in SEEDS]
    assert len(names) >= 12
    assert any(n.startswith("response-") for n in names)
    assert any(n.startswith("smuggle-") for n in names)


@pytest.mark.parametrize("seed", SEEDS, ids=[seed.name for seed in SEEDS])
def test_both_parsers_agree_on_each_seed(seed: Path) -> None:
    TARGET.check(seed.read_bytes())
