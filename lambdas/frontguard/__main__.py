"""``python -m frontguard``: the command line (see :mod:`frontguard.cli`)."""

from frontguard.cli import main

raise SystemExit(main())
