"""Print pytest-benchmark JSON files as ratio tables: each group's median times against the
group's baseline (numpy unless told otherwise); groups that record RSS growth compare bytes.
``--goals`` prints issue 18's goals against the files instead (benchmarks/goals.py).

    python benchmarks/report.py gemm.json [--baseline numpy_f32]
    python benchmarks/report.py --goals peers.json zoo.json gemm.json depthwise.json
"""
import argparse
import json
from collections import defaultdict


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("json_files", nargs="+")
    p.add_argument("--baseline", default=None, help="impl name of the baseline (default: numpy*)")
    p.add_argument("--goals", action="store_true", help="issue 18's goals table")
    args = p.parse_args()
    benchmarks = []
    for path in args.json_files:
        with open(path) as f:
            benchmarks += json.load(f)["benchmarks"]
    if args.goals:
        from goals import print_goals

        print_goals(benchmarks)
        return
    groups = defaultdict(list)
    for b in benchmarks:
        impl = b["extra_info"].get("impl") or b["params"].get("impl") or b["name"]
        groups[b["group"]].append((impl, b["stats"]["median"], b["extra_info"]))
    for group, rows in groups.items():
        # Memory cases (bench_io's RSS growth) rank by bytes, not by the subprocess's time.
        memory = all("rss_growth_bytes" in r[2] for r in rows)
        metric = (lambda r: r[2]["rss_growth_bytes"]) if memory else (lambda r: r[1])
        base = [r for r in rows if (r[0] == args.baseline if args.baseline else r[0].startswith("numpy"))]
        base_v = metric(base[0]) if base else None
        print(f"\n{group}")
        for row in sorted(rows, key=metric):
            impl, median, extra = row
            ratio = f"{base_v / metric(row):6.2f}x" if base_v and metric(row) else ""
            if memory:
                print(f"  {impl:<24} {metric(row) / 2**20:9.2f} MiB {ratio}")
                continue
            ops_rate = f"{2 * extra['macs'] / median / 1e9:8.1f} G(FL)OP/s" if "macs" in extra else ""
            print(f"  {impl:<24} {median * 1e6:12.1f} us {ops_rate} {ratio}")


if __name__ == "__main__":
    main()
