"""(Re)write SECURITY.md's table of attacks from the security suite's catalogue.

    python bench/security_report.py           # rewrite the table in SECURITY.md
    python bench/security_report.py --check   # exit 1 when SECURITY.md is out of date

Each test in tests/security declares the attack it tries and the outcome it asserts
(tests/security/catalogue.py); tests/security/test_security_md.py checks the file too.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambdas")]

from tests.security.report import collect, current_table, render, rewrite  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check, change nothing")
    args = parser.parse_args()
    attacks = collect()
    if args.check:
        fresh = current_table() == render(attacks)
        print("SECURITY.md is up to date" if fresh else "SECURITY.md is out of date")
        return 0 if fresh else 1
    rewrite()
    print(f"SECURITY.md: {len(attacks)} attacks")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
