"""Chart benchmark results (``benchmark_sessions --plot``): throughput and latency per set-up."""


def plot(results: list[dict], path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:  # an optional dependency: pip install -e '.[bench]'
        raise SystemExit("--plot needs matplotlib: pip install -e '.[bench]'") from e

    kinds = ["baseline", "noop", "insert"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / max(1, len(results))
    for i, r in enumerate(results):
        label = f"{r['databases']} + {r['broker']}"
        xs = [k + i * width for k in range(len(kinds))]
        rates = [r["summary"].get(k, {}).get("per_second", {}).get("median", 0) for k in kinds]
        lat = [r["summary"].get(k, {}).get("queue_to_finish_ms_p50", {}).get("median", 0) for k in kinds]
        ax1.bar(xs, rates, width, label=label)
        ax2.bar(xs, lat, width, label=label)
    for ax, title in ((ax1, "tasks per second (median)"), (ax2, "queue to finish, p50 (ms)")):
        ax.set_xticks([k + width * (len(results) - 1) / 2 for k in range(len(kinds))])
        ax.set_xticklabels(["bare async_task", "no-op session", "insert session"])
        ax.set_title(title)
        ax.legend()
    n = results[0]["n"]
    fig.suptitle(f"Background sessions vs bare django-q2, N={n}, {results[0]['workers']} workers")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
