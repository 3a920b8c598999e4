"""Info items on the policy: what is valid but probably not meant is said, not silent."""

from __future__ import annotations

from frontguard.handlers.scan_flow import run_scan

from sandbox.wiring import ENFORCE, wire
from tests.security.catalogue import attack


@attack(
    "info",
    "write the policy document",
    "a rule admitting 0.0.0.0/0 placed first, a namespace rule after it that can never match, "
    "and a prefix list that does not exist",
    "the scan's digest lists each as a policy warning (the loader logs them too)",
)
def test_world_open_shadowed_and_unknown_prefix_list_policy_is_reported(sandbox):
    policy = {
        **ENFORCE,
        "rules": [
            {"sources": ["0.0.0.0/0"]},
            {"namespace": "payments", "sources": ["pl-0123456789abcdef0"]},
        ],
    }
    fg = wire(sandbox, policy)
    sandbox.cluster("prod").ingress("shop/web", ports=[443])

    run_scan(fg.runtime)
    [digest] = [a for a in fg.alerts() if a["outcome"] == "scan-digest"]
    warnings = digest["policy_warnings"]

    assert warnings == [
        "rules[0] admits 0.0.0.0/0, a world-open range",
        "rules[1] never applies: rules[0] matches everything it does, and the first matching "
        "rule wins",
        "prefix list pl-0123456789abcdef0 named by the policy does not exist (or is not shared)",
    ]
