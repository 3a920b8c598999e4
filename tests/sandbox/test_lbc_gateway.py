"""The LBC simulator for Gateways (LoadBalancerConfigurations, class-level precedence) and
for EKS Auto Mode's built-in controller (its own tags)."""

from typing import Any

import pytest

from sandbox import Sandbox
from sandbox.kube import LB_CONFIGURATIONS
from sandbox.scenario import Cluster


@pytest.fixture
def prod(sandbox: Sandbox) -> Cluster:
    return sandbox.cluster("prod")


def _sg(cluster: Cluster, name: str) -> str:
    group_id: str = cluster.sandbox.client("ec2").create_security_group(
        GroupName=name, Description=name, VpcId=cluster.vpc_id
    )["GroupId"]
    return group_id


def _lb(cluster: Cluster, arn: str) -> dict[str, Any]:
    elbv2 = cluster.sandbox.client("elbv2")
    described: dict[str, Any] = elbv2.describe_load_balancers(LoadBalancerArns=[arn])[
        "LoadBalancers"
    ][0]
    tags = elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"][0]["Tags"]
    described["TagMap"] = {tag["Key"]: tag["Value"] for tag in tags}
    described["Ports"] = sorted(
        (listener["Protocol"], listener["Port"])
        for listener in elbv2.describe_listeners(LoadBalancerArn=arn)["Listeners"]
    )
    return described


def _inbound(cluster: Cluster, group_id: str | None) -> set[tuple[int, str]]:
    assert group_id is not None
    group = cluster.sandbox.client("ec2").describe_security_groups(GroupIds=[group_id])
    return {
        (permission["FromPort"], r["CidrIp"])
        for permission in group["SecurityGroups"][0]["IpPermissions"]
        for r in permission.get("IpRanges", [])
    }


def test_alb_gateway_gets_an_internal_alb_with_gateway_stack_tags_and_listeners(
    prod: Cluster,
) -> None:
    gw = prod.gateway("edge/public", lb="alb", ports=[80, 443])

    lb = _lb(prod, gw.lb_arn)
    assert lb["Type"] == "application"
    assert lb["Scheme"] == "internal"  # the controller's default without a configuration
    assert lb["TagMap"]["gateway.k8s.aws.alb/stack"] == "edge/public"
    assert lb["TagMap"]["gateway.k8s.aws.alb/resource"] == "LoadBalancer"
    assert lb["TagMap"]["elbv2.k8s.aws/cluster"] == "prod"
    assert lb["Ports"] == [("HTTP", 80), ("HTTPS", 443)]
    assert gw.managed_sg_id in lb["SecurityGroups"]
    assert _inbound(prod, gw.managed_sg_id) == {(80, "0.0.0.0/0"), (443, "0.0.0.0/0")}
    assert gw.event["detail"]["requestParameters"]["type"] == "application"


def test_nlb_gateway_takes_scheme_and_source_ranges_from_its_configuration(
    prod: Cluster,
) -> None:
    gw = prod.gateway(
        "edge/tcp",
        lb="nlb",
        ports=[5432],
        config={"scheme": "internet-facing", "sourceRanges": ["203.0.113.0/24"]},
    )

    lb = _lb(prod, gw.lb_arn)
    assert lb["Type"] == "network"
    assert lb["Scheme"] == "internet-facing"
    assert lb["TagMap"]["gateway.k8s.aws.nlb/stack"] == "edge/tcp"
    assert lb["Ports"] == [("TCP", 5432)]
    assert _inbound(prod, gw.managed_sg_id) == {(5432, "203.0.113.0/24")}


def test_gateway_configuration_security_groups_replace_the_managed_sg(prod: Cluster) -> None:
    gw = prod.gateway("edge/public", ports=[443], config={"scheme": "internet-facing"})
    managed = gw.managed_sg_id
    team = _sg(prod, "team")

    prod.kube.patch_object(
        LB_CONFIGURATIONS,
        "edge",
        "public-config",
        {"spec": {"securityGroups": [team], "manageBackendSecurityGroupRules": True}},
    )
    prod.lbc.reconcile()

    on_lb = gw.security_groups()
    assert team in on_lb and managed not in on_lb
    assert len(on_lb) == 2  # + the shared backend SG
    assert gw.managed_sg_id is None


def test_v1beta1_configuration_is_read_too(prod: Cluster) -> None:
    team = _sg(prod, "team")
    gw = prod.gateway(
        "edge/old", ports=[80], config={"securityGroups": [team]}, config_version="v1beta1"
    )
    assert gw.security_groups() == [team]


def test_class_level_security_groups_win_over_the_gateways(prod: Cluster) -> None:
    pinned = _sg(prod, "platform")
    own = _sg(prod, "own")
    gw = prod.gateway(
        "edge/public",
        ports=[443],
        config={"securityGroups": [own]},
        class_config={"securityGroups": [pinned]},
    )
    assert gw.security_groups() == [pinned]


def test_class_level_merging_mode_prefer_gateway_lets_the_gateway_win(prod: Cluster) -> None:
    pinned = _sg(prod, "platform")
    own = _sg(prod, "own")
    gw = prod.gateway(
        "edge/public",
        ports=[443],
        config={"securityGroups": [own]},
        class_config={"securityGroups": [pinned], "mergingMode": "prefer-gateway"},
    )
    assert gw.security_groups() == [own]


def test_gateway_of_a_class_of_another_controller_gets_no_load_balancer(prod: Cluster) -> None:
    prod.kube.put_object(
        "gateway.networking.k8s.io/v1/gatewayclasses",
        {"metadata": {"name": "istio"}, "spec": {"controllerName": "istio.io/gateway-controller"}},
    )
    gw = prod.gateway("mesh/ingress", gateway_class="istio")
    assert gw.stack is None


def test_auto_mode_ingress_and_service_are_tagged_as_auto_mode_tags_them(prod: Cluster) -> None:
    web = prod.auto_mode_ingress("shop/auto", ports=[443])
    api = prod.auto_mode_service("shop/api", ports=[("TCP", 443)])

    alb = _lb(prod, web.lb_arn)["TagMap"]
    nlb = _lb(prod, api.lb_arn)["TagMap"]
    assert alb["eks:eks-cluster-name"] == "prod"
    assert alb["ingress.eks.amazonaws.com/stack"] == "shop/auto"
    assert "elbv2.k8s.aws/cluster" not in alb
    assert nlb["service.eks.amazonaws.com/stack"] == "shop/api"
    assert _lb(prod, api.lb_arn)["Type"] == "network"
    tags = {t["key"]: t["value"] for t in web.event["detail"]["requestParameters"]["tags"]}
    assert tags["eks:eks-cluster-name"] == "prod"
