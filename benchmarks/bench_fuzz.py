"""The image check against many mutated real images (``laionet_assets.testing.fuzz``): the suite
runs 10,000 cases, this 200,000 over four seeds.  Reports cases per second, the outcomes, and the
exceptions that escaped and cases that ran out of memory (both must be none).

    python -m benchmarks.bench_fuzz [--cases 50000]
"""

import argparse
import json
import subprocess
import sys
from collections import Counter

from benchmarks.common import REPO

IMAGES = REPO.parent / "shared" / "data" / "imagenet_sample"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=50_000, help="cases per seed")
    args = parser.parse_args()
    statuses, escaped, out_of_memory, seconds = Counter(), [], [], 0.0
    for seed in range(4):
        out = subprocess.run(
            [sys.executable, "-m", "laionet_assets.testing.fuzz", "--images", str(IMAGES)]
            + ["--cases", str(args.cases), "--seed", str(seed)],
            capture_output=True,
            text=True,
            check=True,
        )
        report = json.loads(out.stdout.splitlines()[-1])
        statuses.update(report["statuses"])
        escaped += report["escaped"]
        out_of_memory += report["out_of_memory"]
        seconds += report["seconds"]
    cases = 4 * args.cases
    print(
        json.dumps(
            {
                "cases": cases,
                "cases_per_second": round(cases / seconds),
                "statuses": dict(statuses),
                "escaped": escaped,
                "out_of_memory": out_of_memory,
                "max_pixels": report["max_pixels"],
                "limit_mib": report["limit_mib"],
            }
        )
    )


if __name__ == "__main__":
    main()
