"""``python -m pushi``: see `pushi.cli` (or run ``python -m pushi --help``)."""

from pushi.cli import main

raise SystemExit(main())
