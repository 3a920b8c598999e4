"""Finding 1 and 11: frontguard acts only on what it created, proven by facts nobody can forge.

Tagging a foreign SG with frontguard's tags must never get it rewritten, attached to a load
balancer, or deleted; a pre-created ``frontguard-<gateway>`` configuration must not be adopted.
"""

from __future__ import annotations

import hashlib
from typing import Any

from frontguard.cli import main
from frontguard.engine.scan import scan

from sandbox import Sandbox
from sandbox.scenario import Cluster
from sandbox.wiring import Frontguard
from tests.integration.test_gateway import parameters_ref
from tests.security.catalogue import attack

INGRESS_SG = "alb.ingress.kubernetes.io/security-groups"


def foreign_sg(sandbox: Sandbox, vpc_id: str, name: str, port: int, cidr: str) -> str:
    ec2 = sandbox.client("ec2")
    group_id: str = ec2.create_security_group(
        GroupName=name, Description=f"{name} (team-owned)", VpcId=vpc_id
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group_id, IpProtocol="tcp", FromPort=port, ToPort=port, CidrIp=cidr
    )
    return group_id


def forge_tags(sandbox: Sandbox, group_id: str, lb_arn: str, cluster: str = "prod") -> None:
    """What anyone with ec2:CreateTags on SGs can do."""
    sandbox.client("ec2").create_tags(
        Resources=[group_id],
        Tags=[
            {"Key": "frontguard.io/managed-by", "Value": "frontguard"},
            {"Key": "frontguard.io/load-balancer", "Value": lb_arn},
            {"Key": "frontguard.io/cluster", "Value": cluster},
        ],
    )


def rules(sandbox: Sandbox, group_id: str) -> list[tuple[int, str]]:
    [group] = sandbox.client("ec2").describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    return sorted(
        (p["FromPort"], r["CidrIp"]) for p in group["IpPermissions"] for r in p.get("IpRanges", [])
    )


def exists(sandbox: Sandbox, group_id: str) -> bool:
    found = sandbox.client("ec2").describe_security_groups(
        Filters=[{"Name": "group-id", "Values": [group_id]}]
    )["SecurityGroups"]
    return bool(found)


def conflicts_naming(fg: Frontguard, group_id: str) -> list[dict[str, Any]]:
    return [
        a
        for a in fg.alerts()
        if a["outcome"] == "conflict" and group_id in a.get("impostor_security_groups", [])
    ]


@attack(
    "1",
    "ec2:CreateTags on SGs",
    "tag a database's SG (tcp/5432 from the VPC) as frontguard's SG for a controller ALB, then "
    "let the ALB's CreateLoadBalancer event arrive",
    "the database SG keeps its rules and is never annotated; frontguard creates its own SG for "
    "the ALB, and a conflict alert names the tagged SG",
)
def test_a_tagged_database_sg_is_not_adopted_by_the_event_path(sandbox, fg):
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    db = foreign_sg(sandbox, prod.vpc_id, "payments-db", 5432, "10.0.0.0/16")
    forge_tags(sandbox, db, web.lb_arn)

    result = fg.deliver(web.event)
    prod.lbc.reconcile()

    assert result["outcome"] == "remediated"
    assert rules(sandbox, db) == [(5432, "10.0.0.0/16")]
    assert db not in web.object["metadata"]["annotations"][INGRESS_SG]
    assert db not in web.security_groups()
    assert conflicts_naming(fg, db)


@attack(
    "1",
    "ec2:CreateTags on SGs",
    "tag a bastion SG (SSH from the office) as frontguard's SG for a controller ALB and wait for "
    "the hourly scan",
    "the scan leaves the bastion's rules alone and alerts conflict naming it",
)
def test_a_tagged_bastion_sg_is_not_adopted_by_the_scan(sandbox, fg):
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    bastion = foreign_sg(sandbox, prod.vpc_id, "bastion", 22, "192.0.2.0/24")
    forge_tags(sandbox, bastion, web.lb_arn)

    report = scan(fg.runtime.engine)

    assert rules(sandbox, bastion) == [(22, "192.0.2.0/24")]
    assert bastion not in web.object["metadata"]["annotations"].get(INGRESS_SG, "")
    assert bastion in report.impostors
    assert conflicts_naming(fg, bastion)


@attack(
    "1",
    "ec2:CreateTags on SGs",
    "tag an unused SG (a launch template's) with frontguard's tags and a load balancer ARN "
    "that does not exist, so the orphan clean-up deletes it",
    "the SG is kept (its name is not the one frontguard derives from that ARN) and alerted",
)
def test_a_tagged_unused_sg_is_not_deleted_by_the_orphan_cleanup(sandbox, fg):
    prod = sandbox.cluster("prod")
    prod.ingress("shop/web", ports=[443])
    template = foreign_sg(sandbox, prod.vpc_id, "launch-template", 8080, "10.0.0.0/16")
    gone = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/old/0123abcd"
    forge_tags(sandbox, template, gone)

    report = scan(fg.runtime.engine)

    assert exists(sandbox, template)
    assert template not in report.cleaned_up and template in report.impostors
    assert conflicts_naming(fg, template)


@attack(
    "1",
    "ec2:CreateTags on SGs",
    "tag an unused SG with frontguard's managed-by and cluster tags, so that "
    "`frontguard revert --apply` deletes it",
    "revert keeps it and says it is not frontguard's",
)
def test_revert_does_not_delete_a_tagged_foreign_sg(sandbox, fg, capsys):
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    fg.deliver(web.event)
    prod.lbc.reconcile()
    spare = foreign_sg(sandbox, prod.vpc_id, "spare", 8080, "10.0.0.0/16")
    forge_tags(sandbox, spare, web.lb_arn)

    assert main(["revert", "--cluster", "prod", "--apply"]) == 0
    out = capsys.readouterr().out

    assert exists(sandbox, spare)
    assert f"{spare}" in out and "not frontguard's" in out


@attack(
    "1",
    "ec2:CreateSecurityGroup and ec2:CreateTags in another VPC",
    "create an SG with frontguard's name, description and tags for a controller ALB, but in "
    "another VPC, so frontguard annotates an SG the controller cannot attach",
    "frontguard's SG must be in the load balancer's VPC: it creates its own there and alerts",
)
def test_an_sg_in_another_vpc_is_not_frontguards(sandbox, fg):
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    ec2 = sandbox.client("ec2")
    other_vpc = ec2.create_vpc(CidrBlock="172.31.0.0/16")["Vpc"]["VpcId"]
    name = (
        f"frontguard-{web.load_balancer.name[:32]}-"
        + (hashlib.sha256(web.lb_arn.encode()).hexdigest()[:10])
    )
    elsewhere = ec2.create_security_group(
        GroupName=name, Description="frontguard frontend SG", VpcId=other_vpc
    )["GroupId"]
    forge_tags(sandbox, elsewhere, web.lb_arn)

    assert fg.deliver(web.event)["outcome"] == "remediated"

    assert elsewhere not in web.object["metadata"]["annotations"][INGRESS_SG]
    assert conflicts_naming(fg, elsewhere)


@attack(
    "11",
    "create LoadBalancerConfigurations in the Gateway's namespace (not patch Gateways)",
    "pre-create `frontguard-<gateway>` with scheme internet-facing and access logs off, for "
    "frontguard to adopt and wire to the Gateway",
    "not adopted: the Gateway is not pointed at it, it is not patched, and a conflict alert "
    "names it",
)
def test_a_precreated_frontguard_configuration_is_not_adopted(sandbox, fg):
    prod: Cluster = sandbox.cluster("prod")
    edge = prod.gateway("edge/public", ports=[443])
    squat = {"scheme": "internet-facing", "loadBalancerAttributes": [{"key": "x", "value": "y"}]}
    prod.load_balancer_configuration("edge/frontguard-public", spec=squat)

    result = fg.deliver(edge.event)

    assert result["outcome"] == "conflict"
    assert parameters_ref(edge) is None
    assert (prod.configuration("edge/frontguard-public") or {})["spec"] == squat
    [alert] = [a for a in fg.alerts() if a["outcome"] == "conflict"]
    assert "edge/frontguard-public" in alert["detail"] and "not adopted" in alert["detail"]
