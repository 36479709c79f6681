from pathlib import Path

import pytest

from mesh.traffic.__main__ import main


def test_valid_documents_pass_alone_and_together(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "resolver.yaml").write_text("Subsets: {v1: {}, v2: {}}\n")
    (tmp_path / "splitter.json").write_text(
        '{"Splits": [{"Weight": 90, "ServiceSubset": "v1"}, {"Weight": 10, "ServiceSubset": "v2"}]}'
    )
    status = main(
        [f"service-resolver/api={tmp_path / 'resolver.yaml'}", f"service-splitter/api={tmp_path / 'splitter.json'}"]
    )
    assert status == 0
    assert capsys.readouterr().out == "ok service-resolver/api\nok service-splitter/api\n"


def test_problems_alone_and_across_documents_fail_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "router.yaml").write_text("Routes: [{Destination: {ServiceSubset: v3}}]\n")
    (tmp_path / "bad.yaml").write_text("Splits: [{Weight: 50}]\n")
    status = main([f"service-router/api={tmp_path / 'router.yaml'}", f"service-splitter/web={tmp_path / 'bad.yaml'}"])
    assert status == 1
    err = capsys.readouterr().err
    assert "service-splitter/web: 1 problem(s)\n  Splits: weights add up to 50; they must add up to 100" in err
    assert "service-router/api: Routes[0].Destination.ServiceSubset: service 'api' has no subset 'v3'" in err


def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["service-router/api"]) == 2
    assert main([f"service-router/api={tmp_path / 'missing.yaml'}"]) == 1
    assert "cannot read" in capsys.readouterr().err
