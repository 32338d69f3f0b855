"""The benchmark command runs end to end (tiny sizes; the real figures are in docs/benchmarks.md)."""

import json
import os
import subprocess
import sys

import pytest

from bench.benchmark import Round, percentile, summarise
from tests.conftest import BASE_DIR


def test_percentiles_and_pairwise_ratios():
    assert percentile([3, 1, 2, 4], 50) == 2.5 and percentile([], 50) is None
    rounds = [
        Round("baseline", 10, 1, 100),
        Round("noop", 10, 1, 150),
        Round("baseline", 10, 1, 200),
        Round("noop", 10, 1, 200),
    ]
    ratio = summarise(rounds)["noop"]["ratio_to_baseline"]
    assert ratio == {"median": 1.25, "min": 1.0, "max": 1.5}


@pytest.mark.integration
@pytest.mark.django_db(transaction=True, databases="__all__")
def test_benchmark_command_measures_all_kinds_and_a_populated_registry(tmp_path, cluster):
    out = tmp_path / "bench.json"
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings")
    result = subprocess.run(
        [
            sys.executable,
            str(BASE_DIR / "manage.py"),
            "benchmark_sessions",
            "--sessions",
            "30",
            "--rounds",
            "1",
            "--populate",
            "500",
            "--json",
            "--out",
            str(out),
        ],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    data = json.loads(result.stdout)
    assert json.loads(out.read_text()) == data
    for kind in ("baseline", "noop", "insert", "latency"):
        assert data["summary"][kind]["per_second"]["median"] > 0
    scheduled = data["summary"]["scheduled"]["queue_to_start_ms_p50"]
    assert 0 <= scheduled["min"] and scheduled["max"] < 5000  # never before not_before, and soon after
    assert data["summary"]["noop"]["start_ms_p50"]["median"] > 0
    assert data["summary"]["noop"]["queue_to_start_ms_p95"]["median"] > 0
    assert "ratio_to_baseline" in data["summary"]["insert"]
    assert data["commit_rate_per_s"] > 0 and data["writes_per_session"]["insert"] == 5
    assert data["scale"]["registry_rows"] >= 1500 and data["scale"]["admin_changelist_ms"] > 0
