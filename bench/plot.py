"""Chart benchmark results (``benchmark_sessions --plot``): throughput and latency per set-up."""


def plot(results: list[dict], path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:  # an optional dependency: pip install -e '.[bench]'
        raise SystemExit("--plot needs matplotlib: pip install -e '.[bench]'") from e

    kinds = ["baseline", "noop", "insert"]
    latencies = [
        ("latency", "queue_to_start_ms_p50"),
        ("latency", "queue_to_finish_ms_p50"),
        ("scheduled", "queue_to_start_ms_p50"),  # a scheduled task's not_before to its start
    ]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / max(1, len(results))
    for i, r in enumerate(results):
        label = f"{r['databases']} + {r['broker']}"
        rates = [r["summary"].get(k, {}).get("per_second", {}).get("median", 0) for k in kinds]
        ax1.bar([k + i * width for k in range(len(kinds))], rates, width, label=label)
        lat = [r["summary"].get(kind, {}).get(key, {}).get("median", 0) for kind, key in latencies]
        ax2.bar([k + i * width for k in range(len(latencies))], lat, width, label=label)
    ax1.set_xticks([k + width * (len(results) - 1) / 2 for k in range(len(kinds))])
    ax1.set_xticklabels(["bare async_task", "no-op session", "insert session"])
    ax1.set_title("end to end, tasks per second (median of rounds)")
    ax2.set_xticks([k + width * (len(results) - 1) / 2 for k in range(len(latencies))])
    ax2.set_xticklabels(["queue to start", "queue to finish", "task not_before to start"])
    ax2.set_title("one session at a time, p50 (ms)")
    for ax in (ax1, ax2):
        ax.legend()
    n = results[0]["n"]
    fig.suptitle(f"Background sessions vs bare django-q2, N={n}, {results[0]['workers']} workers")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
