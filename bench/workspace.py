"""Workspace preparation: controller.workspace.prepare(target, source) beside `cp -a` of the same tree.

Two trees of the same total size (1 GiB; `--quick` 256 MiB), made once per run:
  (a) many small files: 64 KiB each, 64 per folder, in two levels of folders;
  (b) one big file.
Each copy runs 3 times (median reported); the target is removed between runs and the page cache
is left as it is (both tools see the same, warm, source). The ratio prepare/cp below 1 means
prepare is faster.

Usage: python bench/workspace.py [--quick] [--dir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import median, table

from winslow.controller.workspace import prepare

SMALL = 64 * 1024
PER_DIR = 64
REPS = 3


def make_small_tree(root: Path, total: int) -> int:
    count = total // SMALL
    block = os.urandom(SMALL)
    for i in range(count):
        d = root / f"d{i // (PER_DIR * PER_DIR):02d}" / f"e{(i // PER_DIR) % PER_DIR:02d}"
        if i % PER_DIR == 0:
            d.mkdir(parents=True, exist_ok=True)
        # Vary the first bytes so no file system could deduplicate them.
        (d / f"f{i:05d}.bin").write_bytes(i.to_bytes(8, "little") + block[8:])
    return count


def make_big_file(root: Path, total: int) -> int:
    root.mkdir(parents=True)
    chunk = os.urandom(1 << 20)
    with open(root / "video.bin", "wb") as f:
        for _ in range(total // len(chunk)):
            f.write(chunk)
    return 1


def fs_type(path: Path) -> str:
    out = subprocess.run(["df", "--output=fstype", str(path)], capture_output=True, text=True)
    lines = out.stdout.split()
    return lines[-1] if len(lines) > 1 else "?"


def sync() -> None:
    os.sync()


def time_prepare(src: Path, dst: Path) -> float:
    sync()
    t = time.perf_counter()
    prepare(dst, src)
    return time.perf_counter() - t


def time_cp(src: Path, dst: Path) -> float:
    sync()
    t = time.perf_counter()
    subprocess.run(["cp", "-a", str(src), str(dst)], check=True)
    return time.perf_counter() - t


def same_tree(a: Path, b: Path) -> bool:
    fa = sorted((p.relative_to(a), p.stat().st_size) for p in a.rglob("*") if p.is_file())
    fb = sorted((p.relative_to(b), p.stat().st_size) for p in b.rglob("*") if p.is_file())
    return fa == fb


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="256 MiB instead of 1 GiB (< 30 s)")
    ap.add_argument(
        "--dir", type=Path, default=Path("/var/tmp"), help="where the trees go (default /var/tmp)"
    )
    ap.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = ap.parse_args()
    total = (256 if args.quick else 1024) << 20
    base = Path(tempfile.mkdtemp(prefix="winslow-bench-workspace-", dir=args.dir))
    rows = []
    notes = []
    try:
        for label, maker in (("small files", make_small_tree), ("one big file", make_big_file)):
            src = base / label.replace(" ", "-") / "source"
            if maker is make_small_tree:
                src.mkdir(parents=True)
            t = time.perf_counter()
            count = maker(src, total)
            made = time.perf_counter() - t
            times: dict[str, list[float]] = {"prepare": [], "cp -a": []}
            for rep in range(REPS):
                # Alternate the order so neither tool always runs second on a warmer cache.
                order = ("prepare", "cp -a") if rep % 2 == 0 else ("cp -a", "prepare")
                for tool in order:
                    dst = src.parent / f"{tool.replace(' ', '')}-{rep}"
                    times[tool].append((time_prepare if tool == "prepare" else time_cp)(src, dst))
                    if rep == 0 and not same_tree(src, dst):
                        notes.append(f"{label}: {tool} produced a different tree!")
                    shutil.rmtree(dst)
            p, c = median(times["prepare"]), median(times["cp -a"])
            mib = total / (1 << 20)
            rows.append([label, f"{count} x {total // count // 1024} KiB", p, c, mib / p, mib / c, p / c])
            notes.append(
                f"{label}: source written in {made:.1f} s; runs (s): prepare "
                + " ".join(f"{x:.2f}" for x in times["prepare"])
                + ", cp -a "
                + " ".join(f"{x:.2f}" for x in times["cp -a"])
            )
            shutil.rmtree(src.parent)
    finally:
        if args.keep:
            print(f"[kept {base}]", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)
    print(
        table(
            f"workspace prepare vs cp -a, {total >> 20} MiB on {args.dir} ({fs_type(args.dir)}),"
            f" median of {REPS}",
            ["tree", "files", "prepare s", "cp -a s", "prepare MiB/s", "cp MiB/s", "prepare/cp"],
            rows,
        )
    )
    for n in notes:
        print("  " + n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
