#!/usr/bin/env python3
"""Regenerate myonion/templates/_validator.py from myonion/templates/template.schema.json.

The schema is the source; the validator is fastjsonschema's code for it, generated once here
rather than at every start of myonion (compiling the schema costs about 50 ms, importing the
generated code a few). tests/unit/test_template_schema.py fails while the two disagree.
Run after changing the schema:  .venv/bin/python scripts/gen-template-validator.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from myonion.templates.manifest import VALIDATOR_FILE, validator_source

VALIDATOR_FILE.write_text(validator_source())
print(f"wrote {VALIDATOR_FILE}")
