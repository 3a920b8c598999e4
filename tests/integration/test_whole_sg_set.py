"""The whole SG set counts (issue 13 item 3, security review #2): an SG attached next to
frontguard's is drift, named in the alert, and repaired through the controller."""

from __future__ import annotations

from frontguard.engine.scan import scan
from frontguard.model import Outcome

from sandbox import Sandbox
from sandbox.wiring import ENFORCE, wire
from tests.integration.test_events import frontguard_groups

RECONCILE = "frontguard.io/reconcile-requested"


def attach_open_sg(sandbox: Sandbox, vpc_id: str, lb_arn: str) -> str:
    ec2, elbv2 = sandbox.client("ec2"), sandbox.client("elbv2")
    extra = ec2.create_security_group(GroupName="wide", Description="wide", VpcId=vpc_id)
    ec2.authorize_security_group_ingress(
        GroupId=extra["GroupId"],
        IpPermissions=[
            {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        ],
    )
    current = elbv2.describe_load_balancers(LoadBalancerArns=[lb_arn])["LoadBalancers"][0]
    elbv2.set_security_groups(
        LoadBalancerArn=lb_arn, SecurityGroups=[*current["SecurityGroups"], extra["GroupId"]]
    )
    return str(extra["GroupId"])


def test_an_extra_sg_is_drift_named_in_the_alert_and_removed_by_the_controller(sandbox):
    fg = wire(sandbox, ENFORCE)
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    assert fg.deliver(web.event)["outcome"] == "remediated"
    prod.lbc.reconcile()
    assert {v.outcome for v in fg.run_verifications()} == {"verified"}
    extra = attach_open_sg(sandbox, prod.vpc_id, web.lb_arn)

    items = {i.load_balancer_arn: i for i in scan(fg.runtime.engine).items}

    assert items[web.lb_arn].outcome is Outcome.DRIFT
    assert extra in items[web.lb_arn].reason
    assert RECONCILE in web.object["metadata"]["annotations"]
    # The scheduled scan reports it in its digest (one message a run, issue 16).
    prod.lbc.reconcile()
    assert extra not in web.security_groups()
    assert frontguard_groups(sandbox)[0]["GroupId"] in web.security_groups()
    again = {i.load_balancer_arn: i for i in scan(fg.runtime.engine).items}
    assert again[web.lb_arn].outcome is Outcome.COMPLIANT


def test_verification_does_not_pass_with_an_extra_sg_attached(sandbox):
    fg = wire(sandbox, {**ENFORCE, "verify_backoff_seconds": []})
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    assert fg.deliver(web.event)["outcome"] == "remediated"
    prod.lbc.reconcile()
    extra = attach_open_sg(sandbox, prod.vpc_id, web.lb_arn)

    [result] = fg.run_verifications()

    assert result.outcome == "verification-failed"
    assert "extra-security-group" in {f.kind.value for f in result.findings}
    assert extra in result.reason


def test_a_tag_does_not_make_an_sg_the_controllers_backend_sg(sandbox):
    fg = wire(sandbox, ENFORCE)
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    assert fg.deliver(web.event)["outcome"] == "remediated"
    prod.lbc.reconcile()
    extra = attach_open_sg(sandbox, prod.vpc_id, web.lb_arn)
    sandbox.client("ec2").create_tags(
        Resources=[extra],
        Tags=[
            {"Key": "elbv2.k8s.aws/resource", "Value": "backend-sg"},
            {"Key": "elbv2.k8s.aws/cluster", "Value": "prod"},
        ],
    )

    items = {i.load_balancer_arn: i for i in scan(fg.runtime.engine).items}

    assert items[web.lb_arn].outcome is Outcome.DRIFT


def test_in_audit_mode_an_extra_sg_is_an_open_finding_and_nothing_changes(sandbox):
    """Audit mode changes nothing, so an extra SG is a finding like any other departure from
    the plan: the digest reports it (it used to be a `drift` no one was told about)."""
    fg = wire(sandbox, ENFORCE)
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    fg.deliver(web.event)
    prod.lbc.reconcile()
    fg.run_verifications()
    extra = attach_open_sg(sandbox, prod.vpc_id, web.lb_arn)
    audit = wire(sandbox, {**ENFORCE, "mode": "audit"})

    report = scan(audit.runtime.engine)

    [item] = report.open_findings
    assert item.outcome is Outcome.AUDIT_FINDING and extra in item.reason
    assert RECONCILE not in web.object["metadata"]["annotations"]
    assert extra in web.security_groups()
