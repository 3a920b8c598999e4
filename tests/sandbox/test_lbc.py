"""The LBC simulator: what it creates, and how it reacts to the SG annotations."""

import pytest

from sandbox import Sandbox
from sandbox.lbc import (
    ING_FRONTEND_NLB_SGS,
    ING_MANAGE_BACKEND,
    ING_SECURITY_GROUPS,
    SVC_MANAGE_BACKEND,
    SVC_PREFIX_LISTS,
    SVC_SECURITY_GROUPS,
)
from sandbox.scenario import Cluster


@pytest.fixture
def prod(sandbox: Sandbox) -> Cluster:
    return sandbox.cluster("prod")


def _sg(cluster: Cluster, name: str) -> str:
    group_id: str = cluster.sandbox.client("ec2").create_security_group(
        GroupName=name, Description=name, VpcId=cluster.vpc_id
    )["GroupId"]
    return group_id


def _tags(cluster: Cluster, arn: str) -> dict[str, str]:
    described = cluster.sandbox.client("elbv2").describe_tags(ResourceArns=[arn])
    return {tag["Key"]: tag["Value"] for tag in described["TagDescriptions"][0]["Tags"]}


def _sg_tags(cluster: Cluster, group_id: str) -> dict[str, str]:
    group = cluster.sandbox.client("ec2").describe_security_groups(GroupIds=[group_id])
    return {tag["Key"]: tag["Value"] for tag in group["SecurityGroups"][0].get("Tags", [])}


def _sg_exists(cluster: Cluster, group_id: str) -> bool:
    groups = cluster.sandbox.client("ec2").describe_security_groups()["SecurityGroups"]
    return group_id in {group["GroupId"] for group in groups}


def _backend_sg(cluster: Cluster) -> str:
    groups = cluster.sandbox.client("ec2").describe_security_groups(
        Filters=[
            {"Name": "tag:elbv2.k8s.aws/resource", "Values": ["backend-sg"]},
            {"Name": "tag:elbv2.k8s.aws/cluster", "Values": [cluster.name]},
        ]
    )["SecurityGroups"]
    assert len(groups) == 1
    assert groups[0]["GroupName"].startswith(f"k8s-traffic-{cluster.name}-")
    group_id: str = groups[0]["GroupId"]
    return group_id


# --- what the controller creates ------------------------------------------------------------


def test_ingress_gets_an_alb_with_the_controllers_tags_listeners_and_sgs(prod: Cluster) -> None:
    web = prod.ingress("shop/web", ports=[80, 443])

    assert _tags(prod, web.lb_arn) == {
        "elbv2.k8s.aws/cluster": "prod",
        "ingress.k8s.aws/stack": "shop/web",
        "ingress.k8s.aws/resource": "LoadBalancer",
    }
    listeners = prod.sandbox.client("elbv2").describe_listeners(LoadBalancerArn=web.lb_arn)
    assert sorted((x["Protocol"], x["Port"]) for x in listeners["Listeners"]) == [
        ("HTTP", 80),
        ("HTTPS", 443),
    ]
    assert web.managed_sg_id is not None
    assert web.security_groups() == [web.managed_sg_id, _backend_sg(prod)]
    assert _sg_tags(prod, web.managed_sg_id) == {
        "elbv2.k8s.aws/cluster": "prod",
        "ingress.k8s.aws/stack": "shop/web",
        "ingress.k8s.aws/resource": "ManagedLBSecurityGroup",
    }
    assert _sg_tags(prod, _backend_sg(prod)) == {
        "elbv2.k8s.aws/cluster": "prod",
        "elbv2.k8s.aws/resource": "backend-sg",
    }
    rules = prod.sandbox.client("ec2").describe_security_groups(GroupIds=[web.managed_sg_id])
    permissions = rules["SecurityGroups"][0]["IpPermissions"]
    assert sorted(
        (p["IpProtocol"], p["FromPort"], p["IpRanges"][0]["CidrIp"]) for p in permissions
    ) == [("tcp", 80, "0.0.0.0/0"), ("tcp", 443, "0.0.0.0/0")]


def test_owner_source_restrictions_shape_the_managed_sg(prod: Cluster) -> None:
    web = prod.ingress("shop/web", ports=[443], inbound_cidrs=["203.0.113.0/24"])
    dns = prod.service("infra/dns", ports=[("UDP", 53)], source_ranges=["198.51.100.7/32"])

    def rules(group_id: str | None) -> list[tuple[str, int, str]]:
        assert group_id is not None
        described = prod.sandbox.client("ec2").describe_security_groups(GroupIds=[group_id])
        return [
            (p["IpProtocol"], p["FromPort"], r["CidrIp"])
            for p in described["SecurityGroups"][0]["IpPermissions"]
            for r in p["IpRanges"]
        ]

    assert rules(web.managed_sg_id) == [("tcp", 443, "203.0.113.0/24")]
    assert rules(dns.managed_sg_id) == [("udp", 53, "198.51.100.7/32")]


def test_service_prefix_lists_replace_the_world_default(prod: Cluster) -> None:
    """pkg/service/model_build_managed_sg.go: each listed prefix list on every port; with no
    CIDR source the 0.0.0.0/0 default is dropped, even for an empty annotation."""
    ec2 = prod.sandbox.client("ec2")
    pl = ec2.create_managed_prefix_list(
        PrefixListName="policy", AddressFamily="IPv4", MaxEntries=5
    )["PrefixList"]["PrefixListId"]

    def sources(group_id: str | None) -> set[tuple[int, str]]:
        assert group_id is not None
        [group] = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
        return {
            (p["FromPort"], r.get("CidrIp") or r.get("PrefixListId"))
            for p in group["IpPermissions"]
            for r in p.get("IpRanges", []) + p.get("PrefixListIds", [])
        }

    only = prod.service(
        "shop/api", ports=[("TCP", 80), ("TCP", 443)], annotations={SVC_PREFIX_LISTS: pl}
    )
    both = prod.service(
        "shop/both",
        ports=[("TCP", 443)],
        source_ranges=["198.51.100.0/24"],
        annotations={SVC_PREFIX_LISTS: f" {pl} ,"},
    )
    empty = prod.service("shop/none", ports=[("TCP", 443)], annotations={SVC_PREFIX_LISTS: ""})

    assert sources(only.managed_sg_id) == {(80, pl), (443, pl)}
    assert sources(both.managed_sg_id) == {(443, "198.51.100.0/24"), (443, pl)}
    assert sources(empty.managed_sg_id) == set()


def test_service_gets_an_nlb_with_sgs_by_default_and_none_when_sg_less(prod: Cluster) -> None:
    api = prod.service("shop/api", ports=[("TCP", 443), ("UDP", 53)])
    legacy = prod.service("legacy/api", ports=[("TCP", 443)], security_groups=False)

    assert _tags(prod, api.lb_arn) == {
        "elbv2.k8s.aws/cluster": "prod",
        "service.k8s.aws/stack": "shop/api",
        "service.k8s.aws/resource": "LoadBalancer",
    }
    assert api.security_groups() == [api.managed_sg_id, _backend_sg(prod)]
    assert legacy.security_groups() == []
    assert legacy.managed_sg_id is None
    described = prod.sandbox.client("elbv2").describe_load_balancers(
        LoadBalancerArns=[legacy.lb_arn]
    )["LoadBalancers"][0]
    assert described["Type"] == "network"
    listeners = prod.sandbox.client("elbv2").describe_listeners(LoadBalancerArn=api.lb_arn)
    assert sorted((x["Protocol"], x["Port"]) for x in listeners["Listeners"]) == [
        ("TCP", 443),
        ("UDP", 53),
    ]


def test_service_handled_through_the_type_annotation(prod: Cluster) -> None:
    api = prod.service("shop/api", handled_by="annotation")

    assert api.stack is not None
    assert (
        api.object["metadata"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-type"]
        == "external"
    )


@pytest.mark.parametrize("via_params", [False, True])
def test_ingress_group_shares_one_alb_tagged_with_the_group_name(
    prod: Cluster, via_params: bool
) -> None:
    grp = prod.ingress_group("shared", members=["a/one", "b/two"], via_params=via_params)

    assert _tags(prod, grp.lb_arn)["ingress.k8s.aws/stack"] == "shared"
    assert len(prod.sandbox.client("elbv2").describe_load_balancers()["LoadBalancers"]) == 1
    assert [obj["metadata"]["name"] for obj in grp.objects] == ["one", "two"]


def test_frontend_nlb_is_named_after_the_alb_and_tagged_frontend_nlb(prod: Cluster) -> None:
    web = prod.ingress("shop/web", ports=[443], frontend_nlb=True)

    assert web.frontend_nlb is not None
    assert web.frontend_nlb.name == f"{web.load_balancer.name}-nlb"
    assert _tags(prod, web.frontend_nlb.arn) == {
        "elbv2.k8s.aws/cluster": "prod",
        "ingress.k8s.aws/stack": "shop/web",
        "ingress.k8s.aws/resource": "FrontendNlb",
    }
    assert web.security_groups(web.frontend_nlb.arn) == web.security_groups()


def test_create_event_is_cloudtrail_through_eventbridge(prod: Cluster) -> None:
    web = prod.ingress("shop/web", scheme="internal")

    event = web.event
    detail = event["detail"]
    assert event["source"] == "aws.elasticloadbalancing"
    assert event["detail-type"] == "AWS API Call via CloudTrail"
    assert detail["eventSource"] == "elasticloadbalancing.amazonaws.com"
    assert detail["apiVersion"] == "2015-12-01"
    assert detail["eventName"] == "CreateLoadBalancer"
    assert "elbv2.k8s.aws/v2.14.1" in detail["userAgent"]
    assert detail["awsRegion"] == "eu-west-1" and detail["recipientAccountId"] == "123456789012"
    assert detail["eventID"] and detail["eventTime"]
    request = detail["requestParameters"]
    assert request["name"] == web.load_balancer.name
    assert (request["type"], request["scheme"]) == ("application", "internal")
    assert request["subnets"] == prod.subnet_ids
    assert request["securityGroups"] == web.security_groups()
    assert {"key": "ingress.k8s.aws/stack", "value": "shop/web"} in request["tags"]
    created = detail["responseElements"]["loadBalancers"][0]
    assert created["loadBalancerArn"] == web.lb_arn
    assert created["vpcId"] == prod.vpc_id
    assert (created["type"], created["scheme"]) == ("application", "internal")
    assert created["securityGroups"] == web.security_groups()


def test_foreign_load_balancer_has_no_controller_tags(sandbox: Sandbox) -> None:
    ext = sandbox.foreign_load_balancer("terraform-lb")

    tags = sandbox.client("elbv2").describe_tags(ResourceArns=[ext.arn])["TagDescriptions"][0]
    assert not any(
        tag["Key"].startswith(("elbv2.k8s.aws", "ingress.k8s.aws")) for tag in tags["Tags"]
    )
    assert "elbv2.k8s.aws" not in ext.event["detail"]["userAgent"]


# --- reacting to the security-group annotations ---------------------------------------------


def test_ingress_annotation_sets_exactly_those_sgs_plus_backend_and_deletes_managed_sg(
    prod: Cluster,
) -> None:
    web = prod.ingress("shop/web")
    managed = web.managed_sg_id
    assert managed is not None
    ours = _sg(prod, "frontguard")

    web.annotate({ING_SECURITY_GROUPS: ours, ING_MANAGE_BACKEND: "true"})
    prod.lbc.reconcile()

    assert web.security_groups() == [ours, _backend_sg(prod)]
    assert web.managed_sg_id is None
    assert not _sg_exists(prod, managed)
    assert web.warnings() == []
    assert web.events("SuccessfullyReconciled")[0]["type"] == "Normal"


def test_annotation_without_manage_backend_rules_drops_the_backend_sg(prod: Cluster) -> None:
    api = prod.service("shop/api")
    ours = _sg(prod, "frontguard")

    api.annotate({SVC_SECURITY_GROUPS: ours})
    prod.lbc.reconcile()

    assert api.security_groups() == [ours]


def test_service_annotation_sets_its_nlb_sgs(prod: Cluster) -> None:
    api = prod.service("shop/api")
    first, second = _sg(prod, "one"), _sg(prod, "two")

    api.annotate({SVC_SECURITY_GROUPS: f"{first}, {second}", SVC_MANAGE_BACKEND: "true"})
    prod.lbc.reconcile()

    assert api.security_groups() == [first, second, _backend_sg(prod)]
    assert api.managed_sg_id is None


def test_removing_the_annotation_brings_the_managed_sg_back(prod: Cluster) -> None:
    web = prod.ingress("shop/web")
    ours = _sg(prod, "frontguard")
    web.annotate({ING_SECURITY_GROUPS: ours, ING_MANAGE_BACKEND: "true"})
    prod.lbc.reconcile()

    web.annotate({ING_SECURITY_GROUPS: None, ING_MANAGE_BACKEND: None})
    prod.lbc.reconcile()

    assert web.managed_sg_id is not None
    assert web.security_groups() == [web.managed_sg_id, _backend_sg(prod)]
    assert _sg_tags(prod, web.managed_sg_id)["ingress.k8s.aws/resource"] == (
        "ManagedLBSecurityGroup"
    )


def test_managed_sg_still_referenced_fails_the_deploy_and_is_retried_next_reconcile(
    prod: Cluster,
) -> None:
    """pkg/deploy/ec2/security_group_manager.go Delete: DependencyViolation retried for 10 s,
    then FailedDeployModel (controllers/ingress/group_controller.go); the LB already has the
    new SGs (pkg/deploy/stack_deployer.go: SGs are deleted in PostSynthesize, last)."""
    web = prod.ingress("shop/web")
    managed = web.managed_sg_id
    assert managed is not None
    ours = _sg(prod, "frontguard")
    ec2 = prod.sandbox.client("ec2")
    permission = {
        "IpProtocol": "tcp",
        "FromPort": 1,
        "ToPort": 1,
        "UserIdGroupPairs": [{"GroupId": managed}],
    }
    ec2.authorize_security_group_ingress(GroupId=ours, IpPermissions=[permission])

    web.annotate({ING_SECURITY_GROUPS: ours, ING_MANAGE_BACKEND: "true"})
    prod.lbc.reconcile()
    assert web.security_groups() == [ours, _backend_sg(prod)]
    assert web.managed_sg_id == managed and _sg_exists(prod, managed)
    [event] = web.events("FailedDeployModel")
    assert event["type"] == "Warning"
    assert event["message"].startswith(
        "Failed deploy model due to failed to delete securityGroup: timed out waiting for the "
        "condition: operation error EC2: DeleteSecurityGroup, https response error StatusCode: "
        "400, RequestID: "
    )
    assert (
        f"api error DependencyViolation: resource {managed} has a dependent object"
        in (event["message"])
    )
    [success] = web.events("SuccessfullyReconciled")
    assert success["count"] == 1  # only the creating reconcile succeeded

    ec2.revoke_security_group_ingress(GroupId=ours, IpPermissions=[permission])
    prod.lbc.reconcile()
    assert not _sg_exists(prod, managed)
    assert web.stack is not None and web.stack.managed_sg_id is None
    assert web.events("SuccessfullyReconciled")[0]["count"] == 2


def test_ingress_group_members_that_disagree_get_failed_build_model_and_no_change(
    prod: Cluster,
) -> None:
    """pkg/ingress/model_build_load_balancer.go buildFrontendSGNameOrIDsFromAnnotation; the
    Event on every member: controllers/ingress/group_controller.go recordIngressGroupEvent."""
    grp = prod.ingress_group("shared", members=["a/one", "b/two", "c/three"])
    before = grp.security_groups()
    first, second = _sg(prod, "one"), _sg(prod, "two")

    prod.kube.patch_object(
        grp.resource, "a", "one", {"metadata": {"annotations": {ING_SECURITY_GROUPS: first}}}
    )
    prod.kube.patch_object(
        grp.resource, "b", "two", {"metadata": {"annotations": {ING_SECURITY_GROUPS: second}}}
    )
    prod.lbc.reconcile()

    assert grp.security_groups() == before
    events = grp.events("FailedBuildModel")
    assert sorted(e["involvedObject"]["name"] for e in events) == ["one", "three", "two"]
    assert grp.events("FailedDeployModel") == []
    for event in events:
        assert event["message"] == (
            f"Failed build model due to conflicting securityGroups: [{first}] | [{second}]"
        )
        assert event["type"] == "Warning"
        assert event["source"] == {"component": "ingress"}
        assert event["involvedObject"]["kind"] == "Ingress"


def test_ingress_group_members_that_agree_apply_with_silent_members(prod: Cluster) -> None:
    grp = prod.ingress_group("shared", members=["a/one", "b/two", "c/three"])
    ours = _sg(prod, "frontguard")

    for namespace, name in grp.refs[:2]:
        prod.kube.patch_object(
            grp.resource,
            namespace,
            name,
            {"metadata": {"annotations": {ING_SECURITY_GROUPS: ours, ING_MANAGE_BACKEND: "true"}}},
        )
    prod.lbc.reconcile()

    assert grp.security_groups() == [ours, _backend_sg(prod)]
    assert grp.warnings() == []


def test_unknown_sg_gets_failed_build_model_quoting_the_error_and_no_change(
    prod: Cluster,
) -> None:
    """pkg/networking/security_group_resolver.go ResolveViaNameOrID runs in model build
    (controllers/service/service_controller.go buildModel records FailedBuildModel)."""
    api = prod.service("shop/api")
    before = api.security_groups()

    api.annotate({SVC_SECURITY_GROUPS: "sg-0123456789abcdef0"})
    prod.lbc.reconcile()
    prod.lbc.reconcile()

    assert api.security_groups() == before
    [event] = api.events("FailedBuildModel")
    assert event["message"].startswith(
        "Failed build model due to couldn't find all security groups: operation error EC2: "
        "DescribeSecurityGroups, https response error StatusCode: 400, RequestID: "
    )
    assert "sg-0123456789abcdef0" in event["message"]
    assert "api error InvalidGroup.NotFound: " in event["message"]
    assert event["source"] == {"component": "service"}
    assert event["involvedObject"] == {
        "apiVersion": "v1",
        "kind": "Service",
        "namespace": "shop",
        "name": "api",
        "uid": api.object["metadata"]["uid"],
    }
    assert event["count"] == 2


def test_sg_less_nlb_ignores_the_annotation(prod: Cluster) -> None:
    legacy = prod.service("legacy/api", security_groups=False)
    ours = _sg(prod, "frontguard")

    legacy.annotate({SVC_SECURITY_GROUPS: ours, SVC_MANAGE_BACKEND: "true"})
    prod.lbc.reconcile()

    assert legacy.security_groups() == []
    assert legacy.warnings() == []


@pytest.mark.parametrize("kind", ["service", "ingress-other-class", "ingress-unknown-class"])
def test_objects_the_controller_does_not_handle_are_ignored(prod: Cluster, kind: str) -> None:
    ours = _sg(prod, "frontguard")
    prod.ingress_class("nginx", controller="k8s.io/ingress-nginx")
    if kind == "service":
        owned = prod.service("shop/api", handled_by="none", annotations={SVC_SECURITY_GROUPS: ours})
    else:
        owned = prod.ingress(
            "shop/web",
            ingress_class="nginx" if kind == "ingress-other-class" else "missing",
            annotations={ING_SECURITY_GROUPS: ours},
        )

    prod.lbc.reconcile()

    assert owned.stack is None
    assert prod.sandbox.client("elbv2").describe_load_balancers()["LoadBalancers"] == []
    assert owned.events() == []
    with pytest.raises(LookupError):
        _ = owned.lb_arn


def test_frontend_nlb_takes_its_own_annotation(prod: Cluster) -> None:
    web = prod.ingress("shop/web", ports=[443], frontend_nlb=True)
    assert web.frontend_nlb is not None
    alb_sg, nlb_sg = _sg(prod, "alb"), _sg(prod, "nlb")

    web.annotate({ING_SECURITY_GROUPS: alb_sg, ING_FRONTEND_NLB_SGS: nlb_sg})
    prod.lbc.reconcile()

    assert web.security_groups() == [alb_sg]
    assert web.security_groups(web.frontend_nlb.arn) == [nlb_sg]


def test_frontend_nlb_copies_the_albs_sgs_without_its_annotation(prod: Cluster) -> None:
    web = prod.ingress("shop/web", ports=[443], frontend_nlb=True)
    assert web.frontend_nlb is not None
    ours = _sg(prod, "frontguard")

    web.annotate({ING_SECURITY_GROUPS: ours, ING_MANAGE_BACKEND: "true"})
    prod.lbc.reconcile()

    assert web.security_groups(web.frontend_nlb.arn) == [ours, _backend_sg(prod)]


def test_annotation_present_at_creation_is_used_from_the_start(prod: Cluster) -> None:
    ours = _sg(prod, "frontguard")

    web = prod.ingress("shop/web", annotations={ING_SECURITY_GROUPS: ours})

    assert web.security_groups() == [ours]
    assert web.managed_sg_id is None
    assert web.event["detail"]["requestParameters"]["securityGroups"] == [ours]


def test_gitops_metadata_is_kept_on_the_objects(prod: Cluster) -> None:
    web = prod.ingress(
        "shop/web",
        annotations={"argocd.argoproj.io/tracking-id": "shop:networking.k8s.io/Ingress:shop/web"},
        labels={"kustomize.toolkit.fluxcd.io/name": "shop"},
    )

    metadata = web.object["metadata"]
    assert metadata["annotations"]["argocd.argoproj.io/tracking-id"].startswith("shop:")
    assert metadata["labels"] == {"kustomize.toolkit.fluxcd.io/name": "shop"}


def test_bulk_seeding_creates_controller_load_balancers_fast(sandbox: Sandbox) -> None:
    clusters = [sandbox.cluster(f"c{i}", cidr=f"10.{i}.0.0/16") for i in range(2)]

    services = clusters[0].bulk_services(100)
    ingresses = clusters[1].bulk_ingresses(50)
    legacy = clusters[1].bulk_services(10, namespace="legacy", security_groups=False)

    elbv2 = sandbox.client("elbv2")
    described = elbv2.describe_load_balancers(PageSize=400)["LoadBalancers"]
    assert len(described) == 160
    assert len({s.lb_arn for s in services}) == 100
    assert ingresses[0].security_groups() == [ingresses[0].managed_sg_id, _backend_sg(clusters[1])]
    assert legacy[0].security_groups() == []
    assert _tags(clusters[0], services[0].lb_arn)["service.k8s.aws/stack"] == "bulk/svc-00000"
    clusters[0].lbc.reconcile()  # the normal path takes over after seeding
    assert services[0].security_groups() == [services[0].managed_sg_id, _backend_sg(clusters[0])]
