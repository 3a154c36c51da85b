"""Tables measured by tests: runs the tests that measure them and keeps the tables in
bench/results/.

The tests only print their tables (they never write into the repository); this script runs them
with ``MYONION_TABLES_DIR`` set to a temporary folder and copies what they wrote:

- ``fuzz.md``          tests/unit/test_fuzz.py (no engine)
- ``hardening.md``     tests/integration/test_hardening.py
- ``faults.md``        tests/integration/test_faults.py
- ``fault-stream.md``  tests/integration/test_fault_stream.py

The integration ones use the Docker engine and the private test network: run them under the
engine lock (``flock /tmp/myonion-engine.lock python bench/suite_tables.py hardening``). A
table is kept only if its tests passed. Never uses the public Tor network.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import benchlib

ROOT = Path(__file__).resolve().parent.parent
#: table -> the test file that measures it
TABLES = {
    "fuzz": "tests/unit/test_fuzz.py",
    "hardening": "tests/integration/test_hardening.py",
    "faults": "tests/integration/test_faults.py",
    "fault-stream": "tests/integration/test_fault_stream.py",
}


def run(table: str, folder: Path) -> bool:
    """Run the tests of one table; True if they passed and wrote it."""
    env = {**os.environ, "MYONION_TABLES_DIR": str(folder)}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           TABLES[table]], cwd=ROOT, env=env, check=False)
    return done.returncode == 0 and (folder / f"{table}.md").is_file()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tables", nargs="*", metavar="TABLE",
                        help=f"which tables: {', '.join(TABLES)} (default: all)")
    args = parser.parse_args()
    unknown = sorted(set(args.tables) - set(TABLES))
    if unknown:
        parser.error(f"no table {unknown[0]!r}; the tables: {', '.join(TABLES)}")
    benchlib.require_local()
    failed = []
    with tempfile.TemporaryDirectory(prefix="myonion-tables-") as tmp:
        for table in args.tables or list(TABLES):
            folder = Path(tmp) / table
            if run(table, folder):
                shutil.copyfile(folder / f"{table}.md", benchlib.RESULTS / f"{table}.md")
                print(f"bench/results/{table}.md written")
            else:
                failed.append(table)
    if failed:
        print(f"not written (tests failed): {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
