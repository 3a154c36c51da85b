"""Tables some tests measure (fuzz counts, hardening evidence, fault recovery times).

A test prints its table (see it with ``pytest -s`` or in the captured output) and never writes
into the repository. ``bench/suite_tables.py`` runs those tests with ``MYONION_TABLES_DIR`` set
to a folder of its own and copies the tables into ``bench/results/``: the benchmark scripts
stay the only writers there.
"""

from __future__ import annotations

import os
from pathlib import Path

#: where a run asked for the tables to be written (a folder outside the repository)
TABLES_DIR = "MYONION_TABLES_DIR"


def publish(name: str, text: str) -> Path | None:
    """Print ``text``; write it to ``$MYONION_TABLES_DIR/<name>`` when that is set."""
    print("\n" + text)
    folder = os.environ.get(TABLES_DIR)
    if not folder:
        return None
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
