"""Run every benchmark in bench/ with --quick (or without, given --full) and print each table.

Usage: python bench/run_all.py [--full] [NAME ...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ["transition", "eventlog", "workspace", "files", "idle", "reading"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--full", action="store_true", help="full-size runs instead of --quick")
    ap.add_argument("names", nargs="*", choices=[[], *BENCHMARKS], help="only these (default: all)")
    args = ap.parse_args()
    failed = []
    for name in args.names or BENCHMARKS:
        cmd = [sys.executable, str(HERE / f"{name}.py")] + ([] if args.full else ["--quick"])
        print(f"== {name} ({' '.join(cmd[1:])})", flush=True)
        t = time.perf_counter()
        result = subprocess.run(cmd, cwd=HERE.parent, capture_output=True, text=True)
        print(result.stdout.rstrip())
        if result.returncode != 0:
            failed.append(name)
            print(result.stderr.rstrip()[-3000:])
        print(f"-- {name}: exit {result.returncode} in {time.perf_counter() - t:.1f} s\n", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
