"""The benchmark command runs end to end (tiny sizes; the real figures are in docs/benchmarks.md)."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from bench import peers
from bench.benchmark import PEERS, Round, percentile, summarise
from bench.report import render
from tests.conftest import BASE_DIR, manage_py

SET_UP_KINDS = ("baseline", "noop", "insert", "tasks_db", "tasks_backend")


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


def test_peer_ratios_pair_each_round_with_the_noop_round_of_the_same_index():
    rounds = [
        Round("noop", 10, 1, 100),
        Round("tasks_db", 10, 1, 50),
        Round("tasks_backend", 10, 1, 40),
        Round("noop", 10, 1, 300),
        Round("tasks_db", 10, 1, 100),
        Round("tasks_backend", 10, 1, 80),
    ]
    summary = summarise(rounds)
    assert summary["noop"]["ratio_to_tasks_db"] == {"median": 2.5, "min": 2.0, "max": 3.0}
    assert summary["noop"]["ratio_to_tasks_backend"] == {"median": 3.12, "min": 2.5, "max": 3.75}
    assert summary["tasks_backend"]["ratio_to_tasks_db"] == {"median": 0.8, "min": 0.8, "max": 0.8}
    assert "ratio_to_celery_none" not in summary["noop"]


def _bench(*args, timeout=600):
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings")
    return subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), "benchmark_sessions", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        timeout=timeout,
    )


@pytest.mark.integration
@pytest.mark.django_db(transaction=True, databases="__all__")
def test_benchmark_command_measures_all_kinds_peers_and_a_populated_registry(tmp_path, cluster):
    out = tmp_path / "bench.json"
    result = _bench(
        *("--sessions", "20", "--rounds", "1", "--peers", "tasks_db", "tasks_backend"),
        *("--populate", "500", "--sweep", "30,40", "--json", "--out", str(out)),
    )
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    data = json.loads(result.stdout)
    assert json.loads(out.read_text()) == data
    summary = data["summary"]
    for kind in (*SET_UP_KINDS, "latency"):
        assert summary[kind]["per_second"]["median"] > 0, kind
        assert summary[kind]["start_ms_p50"]["median"] > 0, kind
    for kind in ("tasks_db", "tasks_backend"):
        assert summary[kind]["queue_to_start_ms_p50"]["median"] >= 0
    assert [r["kind"] for r in data["rounds"]] == [*SET_UP_KINDS, "latency", "scheduled", "group"]
    group = data["rounds"][-1]
    assert group["n"] == 1000 and group["per_second"] > 0 and 0 < group["queue_to_start_ms_p50"] < 10_000
    assert all(r["n"] == 20 for r in data["rounds"] if r["kind"] in SET_UP_KINDS)
    assert [(r["kind"], r["n"]) for r in data["sweep"]] == [
        ("noop", 30),
        ("tasks_db", 30),
        ("noop", 40),
        ("tasks_db", 40),
    ]
    assert all(r["per_second"] > 0 for r in data["sweep"])
    scheduled = summary["scheduled"]["queue_to_start_ms_p50"]
    assert 0 <= scheduled["min"] and scheduled["max"] < 5000  # never before not_before, and soon after
    assert summary["noop"]["queue_to_start_ms_p95"]["median"] > 0
    for ratio in ("ratio_to_baseline", "ratio_to_tasks_db", "ratio_to_tasks_backend"):
        assert summary["noop"][ratio]["median"] > 0, ratio
    assert "ratio_to_baseline" in summary["insert"] and "ratio_to_tasks_db" in summary["tasks_backend"]
    if data["databases"] == "postgresql":
        assert summary["tasks_db"]["commits_per_task"]["median"] > 0
        assert summary["tasks_backend"]["commits_per_task"]["median"] > 0
    assert data["commit_rate_per_s"] > 0 and data["writes_per_session"]["insert"] == 4
    assert set(data["peers"]) == {"tasks_db", "tasks_backend"}
    assert "db_worker" in data["peers"]["tasks_db"]["command"]
    assert data["command"]["argv"][:2] == ["manage.py", "benchmark_sessions"]
    assert "benchmark_sessions --sessions 20" in data["command"]["line"]
    assert data["versions"]["Django"] and data["versions"]["django-tasks-db"]
    scale = data["scale"]
    assert scale["registry_rows"] >= 1500
    for key in ("admin_changelist_ms", "admin_filtered_ms", "admin_search_ms", "admin_page_ms", "dashboard_ms"):
        assert scale[key] > 0, key
    assert scale["pages"]["dashboard_filtered_ms"].endswith("?status=failed")


def _celery_unavailable() -> str | None:
    if not importlib.util.find_spec("celery"):
        return "celery is not installed (pip install -e '.[bench]')"
    return peers.check_redis()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True, databases="__all__")
def test_benchmark_command_measures_celery_with_and_without_a_result_backend(tmp_path, cluster):
    reason = _celery_unavailable()
    if reason:
        pytest.skip(reason)
    result = _bench(
        *("--sessions", "20", "--rounds", "1", "--kinds", "noop", "--peers", "celery", "--no-commit-counts", "--json")
    )
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    data = json.loads(result.stdout)
    for kind in ("celery_none", "celery_redis"):
        assert data["summary"][kind]["per_second"]["median"] > 0
        assert data["summary"]["noop"][f"ratio_to_{kind}"]["median"] > 0
    assert data["versions"]["celery"]
    assert "--pool=prefork" in data["peers"]["celery_redis"]["command"]


def test_peers_celery_without_celery_is_bad_input(monkeypatch):
    monkeypatch.setattr(peers, "_installed", lambda module: module != "celery")
    with pytest.raises(CommandError) as raised:
        call_command("benchmark_sessions", "--peers", "celery")
    assert raised.value.returncode == 2
    assert str(raised.value) == "--peers celery needs celery: pip install -e '.[bench]'" == peers.celery_missing()
    assert "celery" not in peers.default_peers()


def test_peers_that_are_not_installed_are_left_out_by_default_and_refused_when_asked_for(monkeypatch):
    monkeypatch.setattr(peers, "_installed", lambda module: module != "django_tasks_db")
    assert peers.default_peers() == ["tasks_backend"]
    with pytest.raises(CommandError, match="needs django-tasks-db") as raised:
        call_command("benchmark_sessions", "--peers", "tasks_db")
    assert raised.value.returncode == 2


def _summary(rate, **extra):
    return {"per_second": {"median": rate, "min": rate - 1, "max": rate + 1}, **extra}


def test_report_renders_every_kind_and_peer_with_its_command():
    ratio = {"median": 1.5, "min": 1.4, "max": 1.6}
    setup = {
        "when": "2026-12-01 10:00:00 UTC",
        "machine": "x86_64, 2 cores, 24 GiB, Python 3.11.7",
        "command": {"line": "SESSIONS_DATA_DIR=var/bench python manage.py benchmark_sessions --sessions 2000"},
        "versions": {"Django": "5.2.19", "django-q2": "1.11.1", "django-tasks-db": "0.13.0"},
        "databases": "postgresql",
        "broker": "redis",
        "workers": 2,
        "n": 2000,
        "rounds_per_kind": 3,
        "commit_rate_per_s": 1500.0,
        "writes_per_session": {"noop": 5, "insert": 5},
        "allowed_sessions_per_s": {"noop": 300.0, "insert": 300.0},
        "peers": {"tasks_db": {"workers": "2 x manage.py db_worker", "command": "manage.py db_worker", "poll_s": 0.1}},
        "summary": {
            "baseline": _summary(136.6),
            "noop": _summary(
                258.6,
                ratio_to_baseline=ratio,
                ratio_to_tasks_db=ratio,
                commits_per_task={"median": 4.0, "min": 3.7, "max": 5.1},
            ),
            "insert": _summary(228.6, ratio_to_baseline=ratio),
            "tasks_db": _summary(172.4, start_ms_p50={"median": 0.5, "min": 0.4, "max": 0.6}),
            "tasks_backend": _summary(99.5),
            "celery_none": _summary(900.0),
        },
        "scale": {},
        "sweep": [
            {"kind": "noop", "n": 1000, "per_second": 250.0, "queue_to_start_ms_p50": 900.0},
            {"kind": "tasks_db", "n": 1000, "per_second": 300.0, "queue_to_start_ms_p50": 800.0},
            {"kind": "noop", "n": 50000, "per_second": 240.0, "queue_to_start_ms_p50": 90000.0},
        ],
    }
    idle = {
        "when": "2026-12-01 11:00:00 UTC",
        "command": {"line": "python manage.py idle_queries --out docs/idle.json"},
        "databases": "postgresql",
        "broker": "redis",
        "workers": 2,
        "seconds": 30.0,
        "warm_up": 15.0,
        "statements_per_s": 0.4,
        "parts_per_s": {"dispatcher": 0.2, "checks": 0.1},
        "top": [],
    }
    scale = {
        **setup,
        "command": {},
        "summary": {"noop": _summary(250.0, ratio_to_baseline=ratio), "insert": _summary(240.0)},
        "scale": {"admin_changelist_ms": 29.5, "dashboard_ms": 21.0, "registry_rows": 1_001_000},
    }
    statements = {
        "when": "2026-12-01 12:00:00 UTC",
        "command": {"line": "python manage.py session_statements --out docs/statements.json"},
        "databases": "postgresql",
        "broker": "redis",
        "sessions": 1000,
        "statements_per_session": 4.15,
        "commits_per_session": 4.15,
        "round_trips_per_session": 6.15,
        "by_part": [
            {"role": "cluster", "alias": "registry", "statement": "WITH", "per_session": 2.0},
            {"role": "cluster", "alias": "registry", "statement": "UPDATE", "per_session": 0.14},
            {"role": "producer", "alias": "registry", "statement": "WITH", "per_session": 1.0},
        ],
        "top": [],
    }
    sqlite = {**setup, "databases": "sqlite", "broker": "orm", "sqlite_journal": {"default": "wal"}}
    journal = {**sqlite, "sqlite_journal": {"default": "delete"}}
    journal["summary"] = {"noop": _summary(300.0, ratio_to_tasks_db=ratio)}
    files = [
        *(("docs/a.json", setup), ("docs/b.json", scale), ("docs/idle.json", idle), ("docs/s.json", statements)),
        *(("docs/c.json", sqlite), ("docs/d.json", journal)),
    ]
    page = render(files, out="docs/benchmarks.md")
    assert page.startswith("<!-- Generated by `manage.py benchmark_report`")
    assert "not edited by hand" in page
    assert "SESSIONS_DATA_DIR=var/bench python manage.py benchmark_sessions --sessions 2000" in page
    assert "# not recorded: this JSON predates the `command` key" in page
    assert "docs/idle.json docs/s.json docs/c.json docs/d.json --out docs/benchmarks.md" in page
    assert "## django-tasks-db on SQLite: the journal decides" in page
    assert "| delete (Django's default) | `d.json` | 300 (299-301) | - | 1.5x (1.4-1.6) |" in page
    assert "| WAL (this project's) | `c.json` |" in page
    assert page.count("### SQLite + ORM broker") == 1  # the journal run is no set-up of its own
    assert "per session **4.15 statements, 4.15 commits**, 6.15 round trips." in page
    assert "| cluster | registry | WITH 2, UPDATE 0.14 |" in page and "| producer | registry | WITH 1 |" in page
    assert "| 1,000 | 250/s, queue→start 900 ms | 300/s, queue→start 800 ms |" in page
    assert "| 50,000 | 240/s, queue→start 90,000 ms | - |" in page
    assert "no-op sessions/s at the largest backlog are 0.96x those at the smallest" in page
    assert "| PostgreSQL + Redis | 2 | 0.4 | dispatcher 0.2, checks 0.1 (Redis waits on its list) |" in page
    assert "python manage.py idle_queries --out docs/idle.json" in page
    assert "| commits per no-op session ≤ 4 (PostgreSQL) | met: 4 |" in page
    assert "| no-op sessions/s ≥ 1.0x django-tasks-db, same run | met: 1.5x |" in page
    assert "| no-op session | 258.6 (257.6-259.6) | **1.5x** baseline (1.4-1.6); **1.5x** tasks_db (1.4-1.6) |" in page
    assert "| `@task` on django-tasks-db | 172.4 (171.4-173.4) | - | 0.5 / - | - | - |" in page
    assert "| `@task` on `SessionsBackend` | 99.5 (98.5-100.5) |" in page
    assert "| Celery, no result backend | 900 (899-901) |" in page
    assert "| tasks_db | 2 x manage.py db_worker | 0.1 s | `manage.py db_worker` |" in page
    assert "Django 5.2.19, django-q2 1.11.1, django-tasks-db 0.13.0" in page
    assert "## A registry of 1,001,000 sessions" in page
    assert "| admin session changelist (superuser, first page) | - | 29.5 |" in page
    assert "| admin changelist search | - | - |" in page  # a key this JSON lacks
    assert "`a.json`" in page and "(No chart" in page
    assert set(PEERS) >= {"tasks_db", "tasks_backend", "celery_none", "celery_redis"}


@pytest.mark.integration
@pytest.mark.django_db(transaction=True, databases="__all__")
def test_idle_queries_counts_what_an_idle_cluster_asks_its_databases(tmp_path):
    out = tmp_path / "idle.json"
    result = manage_py("idle_queries", "--seconds", "3", "--warm-up", "2", "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    first, *rows = result.stdout.splitlines()
    rate = float(first.split()[0])
    assert "statements/s from an idle 2-worker cluster over 3 s (after 2 s): " in first
    # Still at the brisk pace two seconds in: the dispatcher and the broker (ORM) look several times a second.
    assert rate > 1 and rows and all("/s  " in row for row in rows)
    assert any("sessions_app_scheduledtask" in row for row in rows)
    data = json.loads(out.read_text())
    assert data["statements_per_s"] == rate and data["workers"] == 2
    assert data["parts_per_s"]["dispatcher"] > 0 and sum(data["parts_per_s"].values()) == pytest.approx(rate, abs=0.05)
    assert "idle_queries" in data["command"]["line"]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True, databases="__all__")
def test_session_statements_says_what_each_process_runs_per_session(tmp_path):
    out = tmp_path / "statements.json"
    result = manage_py("session_statements", "--sessions", "20", "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads(out.read_text())
    assert result.stdout.startswith(f"20 noop sessions on {data['databases']}")
    producer = {row["statement"]: row["per_session"] for row in data["by_part"] if row["role"] == "producer"}
    # The start is one transaction: the row and its event (one data-modifying WITH on PostgreSQL).
    if data["databases"] == "postgresql":
        assert producer == {"WITH": 1.0}
    else:
        assert producer == {"BEGIN": 1.0, "INSERT": 2.0, "COMMIT": 1.0}
    # Another cluster of the suite may run some of the sessions: the logged one's share is at most a session's.
    assert 1 <= data["statements_per_session"] <= 12 and 1 <= data["commits_per_session"] <= 8
    assert "session_statements --sessions 20" in data["command"]["line"]
