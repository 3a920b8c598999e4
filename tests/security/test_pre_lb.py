"""Fail-closed mode's pre-load-balancer SGs: frontguard trusts one only when it is provably its
own (the name derived from the cluster and stack, its description, the LB's VPC), never for
its tags alone."""

from __future__ import annotations

import copy
import json
from typing import Any

from frontguard.adapters import aws
from frontguard.engine.scan import scan

from sandbox import Sandbox
from sandbox.kube import INGRESSES
from sandbox.scenario import ControllerOptions
from sandbox.wiring import ENFORCE, Frontguard, wire
from tests.security.catalogue import attack
from tests.security.test_ownership import conflicts_naming, exists, rules

INGRESS_SG = "alb.ingress.kubernetes.io/security-groups"
INGRESS_BACKEND = "alb.ingress.kubernetes.io/manage-backend-security-group-rules"
WEB = aws.PreLoadBalancerKey("prod", "ingress.k8s.aws/stack", "shop/web")


def look_alike(sandbox: Sandbox, vpc_id: str, key: aws.PreLoadBalancerKey) -> str:
    """frontguard's pre-LB name and tags, someone else's description, world-open on 443."""
    ec2 = sandbox.client("ec2")
    group_id: str = ec2.create_security_group(
        GroupName=aws.pre_lb_security_group_name(key),
        Description="open door",
        VpcId=vpc_id,
        TagSpecifications=[
            {
                "ResourceType": "security-group",
                "Tags": [
                    {"Key": "frontguard.io/managed-by", "Value": "frontguard"},
                    {"Key": "frontguard.io/stack", "Value": key.marker},
                    {"Key": "frontguard.io/cluster", "Value": key.cluster},
                ],
            }
        ],
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group_id, IpProtocol="tcp", FromPort=443, ToPort=443, CidrIp="0.0.0.0/0"
    )
    return group_id


@attack(
    "new",
    "ec2:CreateSecurityGroup + CreateTags, and write access to one Ingress",
    "create a world-open SG with frontguard's pre-load-balancer name and tags and name it in "
    "the Ingress's SG annotation, so the ALB is born with it and passes for fail-closed "
    "mode's own SG",
    "not recognised (wrong description): a conflict alert names it, frontguard creates its "
    "own SG for the ALB and patches the Ingress; the look-alike keeps its rules",
)
def test_a_look_alike_pre_lb_sg_on_an_lb_is_not_taken_for_frontguards(
    sandbox: Sandbox, fg: Frontguard
) -> None:
    prod = sandbox.cluster("prod")
    fake = look_alike(sandbox, prod.vpc_id, WEB)
    web = prod.ingress(
        "shop/web", ports=[443], annotations={INGRESS_SG: fake, INGRESS_BACKEND: "true"}
    )
    assert web.security_groups()[0] == fake

    result = fg.deliver(web.event)

    assert result["outcome"] == "remediated"
    assert conflicts_naming(fg, fake)
    annotated = web.object["metadata"]["annotations"][INGRESS_SG]
    assert annotated != fake
    assert rules(sandbox, fake) == [(443, "0.0.0.0/0")]

    # The scan's quick check does not take it for frontguard's either.
    report = scan(fg.runtime.engine)
    assert fake in report.impostors


@attack(
    "new",
    "ec2:CreateSecurityGroup + CreateTags on SGs",
    "create an unattached SG with frontguard's pre-load-balancer name and tags so the scan's "
    "clean-up deletes it (or a real SG tagged so)",
    "never deleted: only an SG proven frontguard's pre-load-balancer SG (name, description) "
    "that no load balancer lists is deleted after the grace period; a conflict alert names it",
)
def test_a_look_alike_pre_lb_sg_is_never_cleaned_up(sandbox: Sandbox, fg: Frontguard) -> None:
    prod = sandbox.cluster("prod")
    fake = look_alike(sandbox, prod.vpc_id, WEB)

    report = scan(fg.runtime.engine)

    assert report.cleaned_up == []
    assert fake in report.impostors
    assert exists(sandbox, fake)
    assert conflicts_naming(fg, fake)


@attack(
    "new",
    "create LoadBalancerConfigurations in one namespace (no write access to the Gateway)",
    "pre-create `frontguard-<gateway>` with an internet-facing scheme of one's own, so that "
    "fail-closed mode's reaction for a blocked Gateway wires it to the Gateway",
    "not adopted: the blocked Gateway gets an error alert naming the configuration, frontguard "
    "creates no SG and neither references nor patches the configuration",
)
def test_a_squatted_gateway_configuration_is_not_adopted_before_the_lb_exists(
    sandbox: Sandbox,
) -> None:
    prod = sandbox.cluster("prod", controller=ControllerOptions(deny_managed_security_groups=True))
    prod.load_balancer_configuration(
        "shop/frontguard-edge",
        spec={"scheme": "internet-facing", "securityGroups": [], "sourceRanges": ["0.0.0.0/0"]},
    )
    edge = prod.gateway("shop/edge", ports=[443])
    assert edge.stack is None
    enforcing = wire(sandbox, ENFORCE)
    [denied] = [
        e for e in prod.lbc.cloudtrail_events("CreateSecurityGroup") if "errorCode" in e["detail"]
    ]
    enforcing.reset_counts()

    result = enforcing.deliver(denied)

    assert result["outcome"] == "error"
    [alert] = enforcing.alerts()
    assert (
        "shop/frontguard-edge" in alert["detail"] and "not created by frontguard" in alert["detail"]
    )
    assert enforcing.mutating_aws_calls() == {} and enforcing.mutating_kube_calls() == 0
    assert "infrastructure" not in edge.object["spec"]
    squatted = prod.configuration("shop/frontguard-edge")
    assert squatted is not None and squatted["spec"]["securityGroups"] == []


# --- R2-1: a refused CreateSecurityGroup is a hint, never an authority -----------------------


def forged_refusal(
    victim: dict[str, Any], *, caller: str | None = None, vpc_id: str | None = None
) -> dict[str, Any]:
    """The controller's refused record for the victim's stack, as anyone without EC2 rights
    can cause one: their own identity (``caller``: an IAM role name) and VPC."""
    event = copy.deepcopy(victim)
    detail = event["detail"]
    if caller is not None:
        account = detail["userIdentity"]["accountId"]
        detail["userIdentity"] = {
            "type": "AssumedRole",
            "arn": f"arn:aws:sts::{account}:assumed-role/{caller}/dev",
            "accountId": account,
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "arn": f"arn:aws:iam::{account}:role/{caller}",
                    "accountId": account,
                    "userName": caller,
                }
            },
        }
    if vpc_id is not None:
        detail["requestParameters"]["vpcId"] = vpc_id
    return event


def frontguard_sgs(sandbox: Sandbox) -> list[str]:
    groups = sandbox.client("ec2").describe_security_groups(
        Filters=[{"Name": "tag:frontguard.io/managed-by", "Values": ["frontguard"]}]
    )["SecurityGroups"]
    return [g["GroupId"] for g in groups]


@attack(
    "R2-1",
    "any principal in the account, even without EC2 rights (a refused call is still recorded)",
    "make a refused CreateSecurityGroup with the controller's managed-SG tags for another "
    "team's Ingress whose ALB exists and is protected",
    "ignored by the pattern and the handler: the caller is not the controller's role; a "
    "conflict alert names the caller; no SG created, the live Ingress's annotations unchanged",
)
def test_a_forged_refusal_for_a_live_protected_ingress_changes_nothing(sandbox: Sandbox) -> None:
    prod = sandbox.cluster("prod", controller=ControllerOptions(deny_managed_security_groups=True))
    fg = wire(sandbox, ENFORCE)
    prod.ingress("shop/web", ports=[443])
    [genuine] = [
        e for e in prod.lbc.cloudtrail_events("CreateSecurityGroup") if "errorCode" in e["detail"]
    ]
    fg.deliver(genuine)
    prod.lbc.reconcile()  # born behind frontguard's pre-LB SG
    before = prod.kube.get_object(INGRESSES, "shop", "web")
    groups_before = frontguard_sgs(sandbox)
    fg.reset_counts()

    result = fg.deliver(forged_refusal(genuine, caller="developer"))

    assert result["outcome"] == "conflict"
    assert "not the controller's role" in result["reason"]
    assert frontguard_sgs(sandbox) == groups_before
    after = prod.kube.get_object(INGRESSES, "shop", "web")
    assert before is not None and after is not None
    assert after["metadata"] == before["metadata"]
    assert fg.mutating_aws_calls() == {} and fg.mutating_kube_calls() == 0
    [alert] = [a for a in fg.alerts() if a["outcome"] == "conflict"]
    assert "assumed-role/developer/dev" in alert["detail"] + str(alert.get("caller"))


@attack(
    "R2-1",
    "a refused call recorded with the controller's role (e.g. replayed by someone who controls "
    "a pod running as it) naming a VPC of their choosing",
    "make fail-closed mode create the victim's SG in a foreign VPC and re-annotate the owner",
    "refused: the VPC is not the cluster's (DescribeCluster); a conflict alert; no SG, no patch",
)
def test_a_refusal_naming_a_foreign_vpc_changes_nothing(sandbox: Sandbox) -> None:
    prod = sandbox.cluster("prod", controller=ControllerOptions(deny_managed_security_groups=True))
    fg = wire(sandbox, ENFORCE)
    prod.ingress("shop/web", ports=[443])
    [genuine] = [
        e for e in prod.lbc.cloudtrail_events("CreateSecurityGroup") if "errorCode" in e["detail"]
    ]
    foreign = sandbox.client("ec2").create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]

    result = fg.deliver(forged_refusal(genuine, vpc_id=foreign))

    assert result["outcome"] == "conflict" and foreign in result["reason"]
    assert frontguard_sgs(sandbox) == []
    assert fg.mutating_kube_calls() == 0
    web = prod.kube.get_object(INGRESSES, "shop", "web")
    assert web is not None and INGRESS_SG not in web["metadata"].get("annotations", {})


@attack(
    "R2-1",
    "the controller's own refusal, for a stack that already has a load balancer",
    "trigger the pre-load-balancer reaction for a live owner (churn: a new SG, LBs swapped)",
    "not acted on, without an alert: the stack has a load balancer, which the event path, the "
    "sweep and the scan decide for",
)
def test_a_refusal_for_a_stack_with_a_load_balancer_is_not_acted_on(sandbox: Sandbox) -> None:
    prod = sandbox.cluster("prod")
    fg = wire(sandbox, ENFORCE)
    web = prod.ingress("shop/web", ports=[443])  # created with the controller's managed SG
    prod.lbc.deny_managed_security_groups = True
    prod.ingress("shop/other", ports=[443])
    [genuine] = [
        e for e in prod.lbc.cloudtrail_events("CreateSecurityGroup") if "errorCode" in e["detail"]
    ]
    # The controller's record, naming the stack that has a load balancer.
    refusal = json.loads(json.dumps(genuine).replace('"shop/other"', '"shop/web"'))
    fg.reset_counts()

    result = fg.deliver(refusal)

    assert result["outcome"] == "ignored" and web.lb_arn in result["reason"]
    assert frontguard_sgs(sandbox) == [] and fg.alerts() == []
    assert fg.mutating_kube_calls() == 0


@attack(
    "R2-8",
    "ec2:CreateSecurityGroup in the cluster's VPC",
    "pre-create the deterministic pre-load-balancer SG name for another team's future Ingress, "
    "to block it",
    "never adopted; frontguard creates its SG under a random name, proven by the same creation "
    "facts, requests it, and the load balancer is born behind it; a conflict alert names the "
    "squatting SG's ID",
)
def test_a_squatted_pre_lb_name_does_not_stop_protection(sandbox: Sandbox) -> None:
    prod = sandbox.cluster("prod", controller=ControllerOptions(deny_managed_security_groups=True))
    fg = wire(sandbox, ENFORCE)
    name = aws.pre_lb_security_group_name(WEB)
    squatter = sandbox.client("ec2").create_security_group(
        GroupName=name, Description="mine", VpcId=prod.vpc_id
    )["GroupId"]
    prod.ingress("shop/web", ports=[443])
    [refusal] = [
        e for e in prod.lbc.cloudtrail_events("CreateSecurityGroup") if "errorCode" in e["detail"]
    ]

    result = fg.deliver(refusal)

    assert result["outcome"] == "remediated"
    [conflict] = [a for a in fg.alerts() if a["outcome"] == "conflict"]
    assert conflict["squatting_security_group"] == squatter and squatter in conflict["detail"]
    web = prod.kube.get_object(INGRESSES, "shop", "web")
    assert web is not None
    ours = web["metadata"]["annotations"][INGRESS_SG]
    assert ours != squatter
    [group] = sandbox.client("ec2").describe_security_groups(GroupIds=[ours])["SecurityGroups"]
    assert group["GroupName"].startswith(f"{name}-") and group["GroupName"] != name
    prod.lbc.reconcile()  # the controller's retry: born behind frontguard's SG
    [lb] = sandbox.client("elbv2").describe_load_balancers()["LoadBalancers"]
    assert ours in lb["SecurityGroups"] and squatter not in lb["SecurityGroups"]
    # The next refusal (or a retry) finds frontguard's own SG again: no second one.
    fg.deliver(refusal)
    tagged = frontguard_sgs(sandbox)
    assert tagged.count(ours) == 1 and len(tagged) == 1
