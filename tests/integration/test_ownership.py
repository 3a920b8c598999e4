"""A load balancer belongs to the owner its tags name only when the owner says so (issue 13
item 2, security review #5 and #13): its DNS name is in the owner's status and it is in the
cluster's VPC. Forged tags make frontguard change nothing, and the real LB stays protected."""

from __future__ import annotations

from typing import Any

from frontguard.engine.scan import scan
from frontguard.model import Outcome

from sandbox import Sandbox
from sandbox.lbc import cloudtrail_create_load_balancer
from sandbox.scenario import Cluster
from sandbox.wiring import ENFORCE, wire
from tests.integration.test_events import frontguard_groups

SG = "alb.ingress.kubernetes.io/security-groups"


def forged_alb(
    sandbox: Sandbox, cluster: Cluster, stack: str, *, vpc_cidr: str | None = None
) -> tuple[str, dict[str, Any]]:
    """An ALB someone else made and tagged as the controller's for ``stack``."""
    ec2, elbv2 = sandbox.client("ec2"), sandbox.client("elbv2")
    vpc_id, subnets = cluster.vpc_id, cluster.subnet_ids[:2]
    if vpc_cidr is not None:
        vpc_id = ec2.create_vpc(CidrBlock=vpc_cidr)["Vpc"]["VpcId"]
        prefix = ".".join(vpc_cidr.split(".")[:2])
        subnets = [
            ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"{prefix}.{i}.0/24", AvailabilityZone=z)[
                "Subnet"
            ]["SubnetId"]
            for i, z in enumerate(("eu-west-1a", "eu-west-1b"))
        ]
    group = ec2.create_security_group(GroupName="evil", Description="evil", VpcId=vpc_id)
    tags = {"elbv2.k8s.aws/cluster": cluster.name, "ingress.k8s.aws/stack": stack}
    created = elbv2.create_load_balancer(
        Name="evil",
        Subnets=subnets,
        SecurityGroups=[group["GroupId"]],
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )["LoadBalancers"][0]
    elbv2.create_listener(
        LoadBalancerArn=created["LoadBalancerArn"],
        Protocol="HTTP",
        Port=8080,
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}],
    )
    event = cloudtrail_create_load_balancer(
        cluster=cluster.name,
        name="evil",
        lb_type="application",
        scheme="internet-facing",
        subnets=subnets,
        security_groups=[group["GroupId"]],
        tags=tags,
        arn=created["LoadBalancerArn"],
        vpc_id=vpc_id,
        dns_name=created["DNSName"],
    )
    return created["LoadBalancerArn"], event


def test_a_forged_stack_tag_changes_nothing_and_the_real_lb_stays_protected(sandbox):
    fg = wire(sandbox, ENFORCE)
    prod = sandbox.cluster("prod")
    victim = prod.ingress("payments/api", ports=[443])
    before = victim.object["metadata"]["annotations"]
    _, event = forged_alb(sandbox, prod, "payments/api")

    result = fg.deliver(event)

    assert result["outcome"] == "conflict"
    assert "status" in result["reason"]
    assert victim.object["metadata"]["annotations"] == before
    assert frontguard_groups(sandbox) == []
    # The real load balancer, proven by the owner's status, is remediated as usual: a forged
    # LB cannot switch protection off for its victim.
    assert fg.deliver(victim.event)["outcome"] == "remediated"
    prod.lbc.reconcile()
    items = {i.load_balancer_arn: i for i in scan(fg.runtime.engine).items}
    assert items[victim.lb_arn].outcome is Outcome.COMPLIANT
    assert victim.object["metadata"]["annotations"][SG] == frontguard_groups(sandbox)[0]["GroupId"]


def test_a_load_balancer_outside_the_clusters_vpc_is_not_the_clusters(sandbox):
    fg = wire(sandbox, ENFORCE)
    prod = sandbox.cluster("prod")
    victim = prod.ingress("payments/api", ports=[443])
    before = victim.object["metadata"]["annotations"]
    _, event = forged_alb(sandbox, prod, "payments/api", vpc_cidr="172.31.0.0/16")

    result = fg.deliver(event)

    assert result["outcome"] == "conflict"
    assert prod.vpc_id in result["reason"]
    assert victim.object["metadata"]["annotations"] == before


def test_a_stack_tag_that_is_not_an_object_name_is_ignored_without_kubernetes_calls(sandbox):
    """Security review #13: ``../`` in a tag never reaches another object's path."""
    fg = wire(sandbox, ENFORCE)
    prod = sandbox.cluster("prod")
    prod.ingress("payments/api", ports=[443])
    _, event = forged_alb(sandbox, prod, "team-a/x/../../../payments/api")
    fg.reset_counts()

    result = fg.deliver(event)

    assert result["outcome"] == "ignored"
    assert "malformed" in result["reason"]
    assert sum(fg.kube_calls().values()) == 0
