"""Fail-closed mode's pre-load-balancer SGs: frontguard trusts one only when it is provably its
own (the name derived from the cluster and stack, its description, the LB's VPC), never for
its tags alone."""

from __future__ import annotations

from frontguard.adapters import aws
from frontguard.engine.scan import scan

from sandbox import Sandbox
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
