"""Print a pytest-benchmark JSON file as ratio tables: each group's median times against the
group's baseline (numpy unless told otherwise).

    python benchmarks/report.py gemm.json [--baseline numpy_f32]
"""
import argparse
import json
from collections import defaultdict


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("json_file")
    p.add_argument("--baseline", default=None, help="impl name of the baseline (default: numpy*)")
    args = p.parse_args()
    with open(args.json_file) as f:
        data = json.load(f)
    groups = defaultdict(list)
    for b in data["benchmarks"]:
        impl = b["extra_info"].get("impl") or b["params"].get("impl") or b["name"]
        groups[b["group"]].append((impl, b["stats"]["median"], b["extra_info"]))
    for group, rows in groups.items():
        base = [r for r in rows if (r[0] == args.baseline if args.baseline else r[0].startswith("numpy"))]
        base_t = base[0][1] if base else None
        print(f"\n{group}")
        for impl, median, extra in sorted(rows, key=lambda r: r[1]):
            ops_rate = f"{2 * extra['macs'] / median / 1e9:8.1f} G(FL)OP/s" if "macs" in extra else ""
            ratio = f"{base_t / median:6.2f}x" if base_t else ""
            print(f"  {impl:<24} {median * 1e6:12.1f} us {ops_rate} {ratio}")


if __name__ == "__main__":
    main()
