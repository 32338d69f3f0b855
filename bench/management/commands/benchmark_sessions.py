import json
import time
from contextlib import ExitStack
from pathlib import Path

from django.conf import settings
from django.core.management import call_command

from bench import peers as peer_kinds
from bench import runinfo
from bench.benchmark import KINDS, WRITES_PER_SESSION, Benchmark, Cluster, summarise
from sessions_app.management.commands._base import SessionsCommand, bad_input, could_not, isatty, positive_int


def _journals() -> dict[str, str]:
    """Each SQLite database's journal mode (``wal``, ``delete``...): the peers share the control database's."""
    from django.db import connections

    modes = {}
    for connection in connections.all():
        if connection.vendor == "sqlite":
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA journal_mode")
                modes[connection.alias] = cursor.fetchone()[0].lower()
    return modes


def sizes(text: str) -> list[int]:
    """``--sweep 1000,10000,50000``: backlog sizes, each a positive whole number."""
    return [positive_int(part.strip()) for part in text.split(",")]


class Command(SessionsCommand):
    help = (
        "Measure sessions against bare django-q2 async_task calls and against peers (Django's task API "
        "on django-tasks-db and on this project's backend; Celery), in alternating rounds, with worker "
        "processes this command starts. Databases come from the environment as usual."
    )

    def add_arguments(self, parser):
        parser.add_argument("--sessions", type=positive_int, default=2000, metavar="N", help="tasks per round")
        parser.add_argument("--rounds", type=positive_int, default=3)
        parser.add_argument("--workers", type=positive_int, default=2)
        parser.add_argument("--broker", choices=["orm", "redis"], default=None, help="default: SESSIONS_BROKER")
        parser.add_argument("--company", help="company the sessions run in (default: the first)")
        parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS), help="what to measure")
        parser.add_argument(
            "--peers",
            nargs="*",
            choices=peer_kinds.PEER_CHOICES,
            default=None,
            help="peers measured in the same rounds (default: tasks_db and tasks_backend when their packages are "
            "installed; celery, with and without a result backend, only when asked for: it needs a Redis)",
        )
        parser.add_argument(
            "--populate",
            type=int,
            default=0,
            metavar="ROWS",
            help="first fill the registry with this many finished sessions (and 1,000 active)",
        )
        parser.add_argument(
            "--no-commit-counts",
            dest="commit_counts",
            action="store_false",
            help="leave out PostgreSQL's commits per task (each counted round waits 11 s for the server's statistics)",
        )
        parser.add_argument(
            "--sweep",
            type=sizes,
            default=[],
            metavar="N,N,...",
            help="after the rounds, one no-op round (and one tasks_db round, with that peer) at each of these "
            "backlogs, e.g. 1000,10000,50000: how the cost grows with the backlog",
        )
        parser.add_argument(
            "--no-sweep-peers",
            dest="sweep_peers",
            action="store_false",
            help="with --sweep, no tasks_db rounds (each round must end within 600 s)",
        )
        parser.add_argument("--json", action="store_true", help="print the results as JSON")
        parser.add_argument("--out", help="also write the JSON results to this file")
        parser.add_argument("--plot", help="write a PNG chart (needs matplotlib) of this run and --compare runs")
        parser.add_argument("--compare", nargs="*", default=[], help="earlier --out files to chart beside this run")

    def handle(self, *args, **options):
        broker = options["broker"] or settings.SESSIONS_BROKER
        if broker != settings.SESSIONS_BROKER:
            raise bad_input(f"--broker {broker} differs from SESSIONS_BROKER={settings.SESSIONS_BROKER}; set both.")
        peers = self._peers(options["peers"])
        settings.DEBUG = False  # no query log in this process either
        settings.SESSIONS_DEBUG = False  # tasks_backend's sessions run in the qcluster, never inline
        if options["verbosity"] < 2:
            import logging

            for name in ("django-q", "sessions_app"):
                logging.getLogger(name).setLevel(logging.WARNING)
        call_command("migrate_all", verbosity=0, stdout=open("/dev/null", "w"))  # noqa: SIM115
        bench = Benchmark(options["sessions"], options["workers"], broker, company=options["company"], peers=peers)
        info = self._describe(bench, options, peers)
        quiet = options["json"]
        say = (lambda *a: None) if quiet else (lambda text: self.stdout.write(text))
        say(
            f"Benchmark: {info['databases']}, broker {broker}, {options['workers']} workers, "
            f"N={options['sessions']}, {options['rounds']} rounds, peers: {', '.join(peers) or 'none'}"
        )

        scale = {}
        if options["populate"]:
            from bench.scale import populate, render_times

            created = populate(options["populate"], active=1000, progress=not quiet and isatty(self.stdout))
            say(f"Registry: {created['total']:,} sessions ({created['created']:,} added)")
            scale = render_times()
            times = ", ".join(f"{k.removesuffix('_ms')} {v:.0f} ms" for k, v in scale.items() if k.endswith("_ms"))
            say(f"Render with a full registry (median of 5): {times}")

        say("Measuring the database's commit rate...")
        commit_rate = bench.commit_rate()
        log_dir = Path(settings.BASE_DIR) / "var"
        rounds = []
        kinds = [k for k in KINDS if k in options["kinds"]] + list(peers)
        plan = [kind for _ in range(options["rounds"]) for kind in kinds]
        bar = None
        if not quiet and isatty(self.stdout):
            from tqdm import tqdm

            bar = tqdm(total=len(plan), desc="rounds", unit="round")
        with ExitStack() as stack:
            cluster = stack.enter_context(Cluster(options["workers"], broker, log_dir / "benchmark-qcluster.log"))
            procs = {kind: cluster for kind in kinds}
            for kind, peer in peers.items():
                peer.prepare()
                own = peer.processes(options["workers"], log_dir)
                if own is not None:
                    procs[kind] = stack.enter_context(own)
            for kind in kinds:  # warm up: workers started, connections open, code imported
                bench.run(kind, procs[kind], n=min(50, options["sessions"]), count=False)
            idle_commits = bench.measure_idle() if options["commit_counts"] else {}
            for kind in plan:
                rounds.append(bench.run(kind, procs[kind], count=options["commit_counts"]))
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix_str(f"{kind} {rounds[-1].rate:.0f}/s")
                if kind == kinds[-1]:
                    rounds.append(bench.latency(cluster))
                    rounds.append(bench.scheduled(cluster))
                    rounds.append(bench.group(cluster))
            sweep = [
                bench.run(kind, procs.get(kind, cluster), n=size, count=False)
                for size in options["sweep"]
                for kind in ("noop", *(["tasks_db"] if options["sweep_peers"] and "tasks_db" in peers else []))
            ]
        if bar is not None:
            bar.close()

        results = {
            **info,
            "commit_rate_per_s": round(commit_rate, 1),
            "writes_per_session": WRITES_PER_SESSION,
            "allowed_sessions_per_s": {k: round(commit_rate / w, 1) for k, w in WRITES_PER_SESSION.items()},
            "idle_commits_per_s": idle_commits,
            "summary": summarise(rounds),
            "rounds": [r.summary() for r in rounds],
            "scale": scale,
            "sweep": [r.summary() for r in sweep],
        }
        if options["out"]:
            Path(options["out"]).write_text(json.dumps(results, indent=2))
        if options["plot"]:
            from bench.plot import plot

            plot([results, *[json.loads(Path(p).read_text()) for p in options["compare"]]], options["plot"])
        if quiet:
            self.write_json(results)
        else:
            self._report(results)

    def _peers(self, asked: list[str] | None) -> dict:
        """The peer objects to measure; a peer asked for that cannot run is an error, never a silent skip."""
        if asked is None:
            return peer_kinds.make(peer_kinds.default_peers())
        for name in asked:
            reason = peer_kinds.missing(name)
            if reason:
                raise bad_input(reason)
        if "celery" in asked:
            reason = peer_kinds.check_redis()
            if reason:
                raise could_not(reason)
        return peer_kinds.make(asked)

    def _describe(self, bench, options, peers: dict) -> dict:
        import platform

        from django.db import connections

        engines = sorted({c.vendor for c in connections.all()})
        machine = runinfo.machine()
        uses_celery = any(k.startswith("celery") for k in peers)
        versions = runinfo.versions(tuple(p for p in runinfo.PACKAGES if p != "celery" or uses_celery))
        redis_urls = [settings.Q_CLUSTER["redis"]] if settings.SESSIONS_BROKER == "redis" else []
        if uses_celery:
            from bench.celery_app import broker_url

            redis_urls.append(broker_url())
        if redis_urls:
            versions["redis-server"] = runinfo.redis_version(redis_urls[0])
        q_cluster = settings.Q_CLUSTER
        return {
            "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "machine": (
                f"{machine['arch']}, {machine['cores']} cores, {machine['memory_gib']} GiB, "
                f"Python {platform.python_version()}"
            ),
            "machine_details": machine,
            "command": runinfo.command(),
            "versions": versions,
            "databases": "+".join(engines),
            "broker": options["broker"] or settings.SESSIONS_BROKER,
            "workers": options["workers"],
            "n": options["sessions"],
            "rounds_per_kind": options["rounds"],
            "q_cluster": {
                "poll_s": q_cluster.get("poll"),
                "bulk": q_cluster.get("bulk"),
                "baseline_save_limit": 250,
            },
            "peers": {kind: peer.describe(options["workers"]) for kind, peer in peers.items()},
            "sqlite_journal": _journals(),
        }

    def _report(self, r: dict) -> None:
        def cell(stats, key, unit=""):
            v = stats.get(key)
            if not v:
                return "-"
            return f"{v['median']:g}{unit} ({v['min']:g}-{v['max']:g})"

        w = self.stdout.write
        w("")
        w(
            f"{'':13} {'tasks/s':>22} {'start p50 ms':>20} {'start p95 ms':>20} {'queue->start p50':>22} "
            f"{'queue->start p95':>22} {'queue->finish p50':>22} {'commits/task':>14}"
        )
        for kind, stats in r["summary"].items():
            w(
                f"{kind:13} {cell(stats, 'per_second'):>22} {cell(stats, 'start_ms_p50'):>20} "
                f"{cell(stats, 'start_ms_p95'):>20} {cell(stats, 'queue_to_start_ms_p50'):>22} "
                f"{cell(stats, 'queue_to_start_ms_p95'):>22} {cell(stats, 'queue_to_finish_ms_p50'):>22} "
                f"{cell(stats, 'commits_per_task'):>14}"
            )
        w("(latency: one no-op session at a time, so no backlog stands in front of it)")
        w("(scheduled: no-op tasks due 50 ms apart; queue->start is from not_before to the session's start)")
        w("(group: 1,000 no-op members per second; queue->start is from the last member's end to the completion's)")
        for kind, peer in r.get("peers", {}).items():
            w(f"({kind}: {peer['workers']})")
        w("")
        for kind, stats in r["summary"].items():
            for key, ratio in stats.items():
                if key.startswith("ratio_to_"):
                    w(
                        f"{kind}/{key.removeprefix('ratio_to_')}, round by round: {ratio['median']:g}x "
                        f"(min {ratio['min']:g}x, max {ratio['max']:g}x)"
                    )
        for row in r.get("sweep", []):
            w(f"sweep: {row['kind']} at a backlog of {row['n']:,}: {row['per_second']:g}/s")
        w(
            f"Database commit rate: {r['commit_rate_per_s']:g} single-row transactions/s; "
            f"a session needs {r['writes_per_session']['insert']} writes -> at most "
            f"{r['allowed_sessions_per_s']['insert']:g} sessions/s; half of that is "
            f"{r['allowed_sessions_per_s']['insert'] / 2:g}."
        )
