"""Chart benchmark results (``benchmark_sessions --plot``, ``benchmark_report --plot``).

Left: tasks/s of every kind and peer, one bar per set-up; middle: latency one session at a time;
right (when a run has ``--sweep``): tasks/s as the backlog grows.
"""

RATES = [
    ("baseline", "bare async_task"),
    ("noop", "no-op session"),
    ("insert", "insert session"),
    ("tasks_db", "@task on\ndjango-tasks-db"),
    ("tasks_backend", "@task on\nSessionsBackend"),
    ("celery_none", "Celery"),
    ("celery_redis", "Celery +\nresult backend"),
]
LATENCIES = [
    ("latency", "queue_to_start_ms_p50", "queue to start"),
    ("latency", "queue_to_finish_ms_p50", "queue to finish"),
    ("scheduled", "queue_to_start_ms_p50", "task not_before\nto start"),
]
DATABASES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
BROKERS = {"orm": "ORM broker", "redis": "Redis"}


def label(r: dict) -> str:
    dbs = " + ".join(DATABASES.get(d, d) for d in r.get("databases", "?").split("+"))
    text = f"{dbs} + {BROKERS.get(r.get('broker'), r.get('broker', '?'))}"
    rows = (r.get("scale") or {}).get("registry_rows")
    return f"{text}, registry of {rows:,}" if rows else text


def _median(r: dict, kind: str, key: str):
    return r["summary"].get(kind, {}).get(key, {}).get("median")


def plot(results: list[dict], path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:  # an optional dependency: pip install -e '.[bench]'
        raise SystemExit("--plot needs matplotlib: pip install -e '.[bench]'") from e

    rates = [(k, text) for k, text in RATES if any(k in r["summary"] for r in results)]
    swept = [r for r in results if r.get("sweep")]
    widths = [max(3, len(rates)), 3, *([3] if swept else [])]
    fig, axes = plt.subplots(1, len(widths), figsize=(15 + 4 * bool(swept), 5), gridspec_kw={"width_ratios": widths})
    ax1, ax2 = axes[0], axes[1]
    if swept:
        _sweep(axes[2], results)
    width = 0.8 / max(1, len(results))
    for i, r in enumerate(results):
        values = [_median(r, k, "per_second") or 0 for k, _ in rates]
        bars = ax1.bar([k + i * width for k in range(len(rates))], values, width, label=label(r))
        ax1.bar_label(bars, labels=[f"{v:.0f}" if v else "" for v in values], fontsize=7)
        lat = [_median(r, kind, key) or 0 for kind, key, _ in LATENCIES]
        ax2.bar([k + i * width for k in range(len(LATENCIES))], lat, width)
    ax1.set_xticks([k + width * (len(results) - 1) / 2 for k in range(len(rates))])
    ax1.set_xticklabels([text for _, text in rates], fontsize=8)
    ax1.set_title("end to end, tasks per second (median of rounds)")
    ax2.set_xticks([k + width * (len(results) - 1) / 2 for k in range(len(LATENCIES))])
    ax2.set_xticklabels([text for *_, text in LATENCIES], fontsize=8)
    ax2.set_title("one session at a time, p50 (ms)")
    ax1.margins(y=0.12)  # room for the bars' labels
    handles, labels = ax1.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(results), fontsize=9)
    first = results[0]
    fig.suptitle(f"Background sessions, bare django-q2 and peers: N={first['n']}, {first['workers']} workers")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=100)


def _sweep(ax, results: list[dict]) -> None:
    """Tasks/s by backlog: a run's colour is its bars' colour; the peer's line is dashed."""
    for i, r in enumerate(results):
        for kind in dict.fromkeys(row["kind"] for row in r.get("sweep", [])):
            rows = [row for row in r["sweep"] if row["kind"] == kind]
            name = dict(RATES).get(kind, kind).replace("\n", " ")
            ax.plot(
                [row["n"] for row in rows],
                [row["per_second"] for row in rows],
                marker="o",
                color=f"C{i}",
                linestyle="-" if kind == "noop" else "--",
                label=f"{name}, {label(r)}",
            )
            for row in rows:
                ax.annotate(f"{row['per_second']:.0f}", (row["n"], row["per_second"]), fontsize=7)
    ax.set_xscale("log")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("backlog (tasks enqueued at once)", fontsize=8)
    ax.set_title("tasks per second as the backlog grows")
    ax.legend(fontsize=7)
