"""The demo (`bin/demo`: `python -m sandbox.demo`) runs in-process on the test sandbox and tells the right story."""

from __future__ import annotations

import io
import time

from sandbox import Sandbox
from sandbox.demo import run

EXPECTED = {
    "ingress/shop/web": "verified",
    "service/payments/api": "verified",
    "ingress-group/shared": "verification-failed",
    "service/legacy/api": "needs-recreation",
    "service/shop/vip": "exempt",
    "ingress/shop/admin": "verified",
    "ingress/catalog/web": "gitops-pending",
    "gateway/edge/public": "verified",
    "none (Terraform)": "ignored",
    "ingress/store/front": "born-protected",  # cluster platform, born protected
}


def table_rows(text: str) -> dict[str, list[str]]:
    """The outcome table's rows by owner (columns split on runs of two spaces)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("LOAD BALANCER"))
    rows: dict[str, list[str]] = {}
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        cells = [c.strip() for c in line.split("  ") if c.strip()]
        rows[cells[1]] = cells
    return rows


def test_demo_shows_each_outcome_a_verified_lb_and_a_verification_failure(sandbox: Sandbox):
    out = io.StringIO()
    started = time.monotonic()

    code = run(out, sandbox=sandbox)

    elapsed = time.monotonic() - started
    text = out.getvalue()
    assert code == 0
    assert elapsed < 30, elapsed
    rows = table_rows(text)
    assert {owner: cells[2] for owner, cells in rows.items()} == EXPECTED
    # The SG column: attached where verified, not where the controller refused or never asked.
    for owner, outcome in EXPECTED.items():
        attached = rows[owner][-1]
        assert attached.startswith("yes sg-") == (outcome == "verified"), (owner, attached)
    assert "192.0.2.0/24: beyond policy, refused" in rows["ingress/shop/admin"][3]
    # Exposure: measured by verification for the repaired ones, 0 s for the born-protected one.
    for owner, outcome in EXPECTED.items():
        exposed = rows[owner][-2]
        if outcome == "verified":
            assert exposed.endswith(" s") and float(exposed[:-2]) >= 0, (owner, exposed)
        elif outcome in ("verification-failed", "needs-recreation", "gitops-pending"):
            assert exposed == "open", (owner, exposed)
    assert rows["ingress/store/front"][-2] == "0 s"
    # The platform applied what `frontguard render born-protected` printed.
    assert "IngressClassParams frontguard-rule-0" in text
    assert "ValidatingAdmissionPolicy frontguard-born-protected" in text
    # The verification failure's alert text, with the controller's own Event quoted.
    assert "Subject: frontguard verification-failed: ingress-group/shared in prod" in text
    assert "FailedBuildModel" in text
    assert "Failed build model due to conflicting securityGroups: [" in text
    # who changed it, from managedFields (a hint: manager names are unauthenticated)
    assert "(unauthenticated): «kubectl-edit» (user-written) at" in text
    assert "kubectl annotate ingress -n team-b two" in text
    # Scene 8 (issue 22): with CloudTrail off, the sweep restores a removed annotation and
    # names what was open and the field manager that removed it.
    assert "drift: ingress/shop/web (detected by: sweep)" in text
    assert "was open:   80 from 0.0.0.0/0 (the controller's rule for the owner); 443 from" in text
    assert "changed by: kubectl-client-side-apply at " in text
    # And the scan summary.
    assert '"open_findings": 3' in text
    assert '"needs-recreation": 1' in text


def test_the_demo_entry_point_runs_the_demo(sandbox: Sandbox, capsys, monkeypatch):
    from sandbox import demo

    calls = []

    def fake_run(out):
        calls.append(out)
        out.write("demo ran\n")
        return 0

    monkeypatch.setattr("sandbox.demo.run", fake_run)

    assert demo.main() == 0
    assert capsys.readouterr().out == "demo ran\n"
    assert len(calls) == 1
