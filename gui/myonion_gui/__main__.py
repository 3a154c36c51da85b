"""``python -m myonion_gui``: the desktop app, as ``myonion-gui``."""

from myonion_gui.app import main

raise SystemExit(main())
