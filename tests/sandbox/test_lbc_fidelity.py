"""The simulator against the controller's source, rule by rule (issue 12, part 3).

Each test states the rule and the file of kubernetes-sigs/aws-load-balancer-controller
(v3.5.0+8) it was read from, and runs it through the real sandbox: moto + the Kubernetes
emulator, objects made with the scenario builders, the simulated controller reconciling.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from sandbox import Sandbox
from sandbox.kube import GATEWAY_CLASSES, GATEWAYS, INGRESS_CLASSES, INGRESSES, SERVICES
from sandbox.lbc_rules import (
    ING_FRONTEND_NLB_SCHEME,
    ING_FRONTEND_NLB_SGS,
    ING_GROUP,
    ING_IP_ADDRESS_TYPE,
    ING_MANAGE_BACKEND,
    ING_SECURITY_GROUPS,
    SVC_MANAGE_BACKEND,
    SVC_SECURITY_GROUPS,
    SVC_TARGET_TYPE,
    SVC_TYPE,
)
from sandbox.scenario import Cluster, ControllerOptions, Owned

CERT = "arn:aws:acm:eu-west-1:123456789012:certificate/0f0e0d0c-1111-2222-3333-444455556666"


@pytest.fixture
def prod(sandbox: Sandbox) -> Cluster:
    return sandbox.cluster("prod")


def _sg(cluster: Cluster, group_name: str, *, name_tag: str | None = None) -> str:
    ec2 = cluster.sandbox.client("ec2")
    kwargs = {}
    if name_tag is not None:
        kwargs["TagSpecifications"] = [
            {"ResourceType": "security-group", "Tags": [{"Key": "Name", "Value": name_tag}]}
        ]
    group_id: str = ec2.create_security_group(
        GroupName=group_name, Description=group_name, VpcId=cluster.vpc_id, **kwargs
    )["GroupId"]
    return group_id


def _rules(cluster: Cluster, group_id: str | None) -> set[tuple[int, str]]:
    """(port, source) of every inbound rule: CIDRs, IPv6 CIDRs and prefix lists."""
    assert group_id is not None
    [group] = cluster.sandbox.client("ec2").describe_security_groups(GroupIds=[group_id])[
        "SecurityGroups"
    ]
    found: set[tuple[int, str]] = set()
    for permission in group["IpPermissions"]:
        port = permission["FromPort"]
        found |= {(port, r["CidrIp"]) for r in permission.get("IpRanges", [])}
        found |= {(port, r["CidrIpv6"]) for r in permission.get("Ipv6Ranges", [])}
        found |= {(port, r["PrefixListId"]) for r in permission.get("PrefixListIds", [])}
    return found


def _backend_sgs(cluster: Cluster) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = cluster.sandbox.client("ec2").describe_security_groups(
        Filters=[{"Name": "tag:elbv2.k8s.aws/resource", "Values": ["backend-sg"]}]
    )["SecurityGroups"]
    return groups


def _backend_sg(cluster: Cluster) -> str:
    [group] = _backend_sgs(cluster)
    group_id: str = group["GroupId"]
    return group_id


def _listeners(cluster: Cluster, arn: str) -> list[tuple[str, int]]:
    described = cluster.sandbox.client("elbv2").describe_listeners(LoadBalancerArn=arn)
    return sorted((x["Protocol"], x["Port"]) for x in described["Listeners"])


def _scheme(cluster: Cluster, arn: str) -> str:
    described = cluster.sandbox.client("elbv2").describe_load_balancers(LoadBalancerArns=[arn])
    scheme: str = described["LoadBalancers"][0]["Scheme"]
    return scheme


def _load_balancers(cluster: Cluster) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = cluster.sandbox.client("elbv2").describe_load_balancers()[
        "LoadBalancers"
    ]
    return found


def _prefix_list(cluster: Cluster, name: str) -> str:
    created = cluster.sandbox.client("ec2").create_managed_prefix_list(
        PrefixListName=name, MaxEntries=5, AddressFamily="IPv4"
    )
    prefix_list_id: str = created["PrefixList"]["PrefixListId"]
    return prefix_list_id


def _group_owner(cluster: Cluster, refs: list[str], group: str | None = None) -> Owned:
    """The Ingresses ``refs`` and the stack of their group (``group``, else the first's own)."""
    pairs = [(r.split("/", 1)[0], r.split("/", 1)[1]) for r in refs]
    stack = next(
        (s for s in cluster.lbc.stacks.values() if s.model.name == (group or refs[0])), None
    )
    return Owned(cluster, "Ingress", pairs, stack)


def _delete(cluster: Cluster, resource: str, ref: str) -> None:
    """Mark ``ns/name`` as being deleted (a finalizer holds it), as the API server does."""
    namespace, name = ref.split("/", 1)
    cluster.kube.patch_object(
        resource,
        namespace,
        name,
        {"metadata": {"deletionTimestamp": "2026-11-30T00:00:00Z", "finalizers": ["x/y"]}},
    )


# --- 1. the managed SG, port by port ----------------------------------------------------------


def test_group_member_restrictions_apply_to_that_members_own_ports_only(prod: Cluster) -> None:
    """pkg/ingress/model_build_listener.go computeIngressListenPortConfigByPort stores an
    Ingress's inbound-cidrs in its own ports; pkg/ingress/model_builder.go
    mergeListenPortConfigs merges per port, the world only where nobody restricts."""
    prod.ingress("shop/public", ports=[443], group="shop")
    prod.ingress("shop/admin", ports=[8443], group="shop", inbound_cidrs=["10.0.0.0/8"])
    prod.ingress("shop/api", ports=[443], group="shop")  # silent on 443: adds nothing

    shop = _group_owner(prod, ["shop/public", "shop/admin", "shop/api"], "shop")

    assert _rules(prod, shop.managed_sg_id) == {(443, "0.0.0.0/0"), (8443, "10.0.0.0/8")}
    assert _listeners(prod, shop.lb_arn) == [("HTTP", 8443), ("HTTPS", 443)]


def test_a_silent_member_on_the_same_port_does_not_open_it(prod: Cluster) -> None:
    """mergeListenPortConfigs: members without CIDRs contribute nothing; 0.0.0.0/0 only when
    no member on the port restricts (pkg/ingress/model_builder.go)."""
    prod.ingress("shop/admin", ports=[443], group="shop", inbound_cidrs=["10.0.0.0/8"])
    prod.ingress("shop/public", ports=[443], group="shop")

    shop = _group_owner(prod, ["shop/admin", "shop/public"], "shop")

    assert _rules(prod, shop.managed_sg_id) == {(443, "10.0.0.0/8")}


def test_conflicting_sources_on_one_port_fail_the_model_build_on_every_member(
    prod: Cluster,
) -> None:
    """mergeListenPortConfigs: "conflicting inbound-cidrs, <a>: v4, v6 | <b>: v4, v6", wrapped
    "failed to merge listenPort config for port: <port>" (pkg/ingress/model_builder.go); the
    Event goes on every member (controllers/ingress/group_controller.go)."""
    one = prod.ingress("a/one", ports=[443], group="shop", inbound_cidrs=["10.0.0.0/8"])
    two = prod.ingress("b/two", ports=[443], group="shop", inbound_cidrs=["192.168.0.0/16"])

    assert one.stack is not None and two.stack is one.stack  # built once, then broken
    shop = _group_owner(prod, ["a/one", "b/two"], "shop")
    expected = (
        "Failed build model due to failed to merge listenPort config for port: 443: "
        "conflicting inbound-cidrs, a/one: [10.0.0.0/8], [] | b/two: [192.168.0.0/16], []"
    )
    events = shop.events("FailedBuildModel")
    assert {(e["involvedObject"]["name"], e["message"]) for e in events} == {
        ("one", expected),
        ("two", expected),
    }
    assert _rules(prod, shop.managed_sg_id) == {(443, "10.0.0.0/8")}  # nothing deployed


def test_class_params_sources_beat_the_annotation_and_prefix_lists_in_their_order(
    prod: Cluster,
) -> None:
    """computeIngressExplicitInboundCIDRs: params inboundCIDRs over the annotation;
    computeIngressExplicitPrefixListIDs: params prefixListsIDs, then the legacy PrefixListsIDs,
    then the annotation (pkg/ingress/model_build_listener.go); a port with only prefix lists
    is not opened to the world (model_builder.go)."""
    new, legacy, annotated = (_prefix_list(prod, n) for n in ("new", "legacy", "annotated"))
    prod.ingress_class_params(
        "restricted",
        spec={
            "inboundCIDRs": ["10.1.0.0/16"],
            "prefixListsIDs": [new],
            "PrefixListsIDs": [legacy],
        },
    )
    prod.ingress_class("restricted", params="restricted")
    prod.ingress_class_params("legacy-only", spec={"PrefixListsIDs": [legacy]})
    prod.ingress_class("legacy-only", params="legacy-only")

    web = prod.ingress(
        "shop/web",
        ports=[443],
        ingress_class="restricted",
        inbound_cidrs=["203.0.113.0/24"],
        prefix_lists=[annotated],
    )
    old = prod.ingress("shop/old", ports=[443], ingress_class="legacy-only")
    plain = prod.ingress("shop/plain", ports=[443], prefix_lists=[annotated])

    assert _rules(prod, web.managed_sg_id) == {(443, "10.1.0.0/16"), (443, new)}
    assert _rules(prod, old.managed_sg_id) == {(443, legacy)}
    assert _rules(prod, plain.managed_sg_id) == {(443, annotated)}


def test_listen_port_defaults_to_443_with_a_certificate_else_80(prod: Cluster) -> None:
    """computeIngressListenPorts: no listen-ports → 443/HTTPS when a certificate is set (the
    certificate-arn annotation or params certificateArn), else 80/HTTP
    (pkg/ingress/model_build_listener.go)."""
    prod.ingress_class_params("tls", spec={"certificateArn": [CERT]})
    prod.ingress_class("tls", params="tls")

    annotated = prod.ingress("shop/annotated", ports=None, certificate=CERT)
    via_params = prod.ingress("shop/params", ports=None, ingress_class="tls")
    plain = prod.ingress("shop/plain", ports=None)

    for owned in (annotated, via_params):
        assert _listeners(prod, owned.lb_arn) == [("HTTPS", 443)]
        assert _rules(prod, owned.managed_sg_id) == {(443, "0.0.0.0/0")}
    assert _listeners(prod, plain.lb_arn) == [("HTTP", 80)]
    assert _rules(prod, plain.managed_sg_id) == {(80, "0.0.0.0/0")}


HOST_RULE = {"host": "shop.example.com", "http": {"paths": []}}


def test_create_acm_cert_listens_on_443_with_the_certificate_management_gate(
    sandbox: Sandbox,
) -> None:
    """pkg/ingress/model_builder.go ``run``: with EnableCertificateManagement on and
    ``create-acm-cert: "true"`` the member gets a certificate; its ARN makes ``preferTLS``
    (computeIngressListenPortConfigByPort), so without listen-ports the listener is 443/HTTPS
    and the member's inbound-cidrs apply there. With the gate off (pkg/config/feature_gates.go,
    default false) the annotation is ignored: 80/HTTP."""
    create = {"alb.ingress.kubernetes.io/create-acm-cert": "true"}
    on = sandbox.cluster("on", controller=ControllerOptions(enable_certificate_management=True))
    off = sandbox.cluster("off", cidr="10.1.0.0/16")
    for cluster in (on, off):
        cluster.ingress(
            "shop/web",
            ports=None,
            annotations=create,
            inbound_cidrs=["203.0.113.64/26"],
            spec={"rules": [HOST_RULE]},
        )
    [web_on] = on.lbc.stacks.values()
    [web_off] = off.lbc.stacks.values()

    assert _listeners(on, web_on.load_balancer.arn) == [("HTTPS", 443)]
    assert _rules(on, web_on.managed_sg_id) == {(443, "203.0.113.64/26")}
    assert _listeners(off, web_off.load_balancer.arn) == [("HTTP", 80)]


def test_create_acm_cert_without_a_host_fails_the_build(sandbox: Sandbox) -> None:
    """pkg/ingress/model_build_certificates.go ``buildACMCertificates``: no host in
    spec.rules[].host or spec.tls[].hosts is a build error, reported unwrapped."""
    on = sandbox.cluster("on", controller=ControllerOptions(enable_certificate_management=True))
    web = on.ingress(
        "shop/web", ports=None, annotations={"alb.ingress.kubernetes.io/create-acm-cert": "true"}
    )

    assert web.stack is None
    [event] = web.events("FailedBuildModel")
    assert event["message"] == (
        "Failed build model due to ingress shop/web has create-acm-cert enabled but no "
        "hostnames defined in spec.rules[].host or spec.tls[].hosts — cannot create a "
        "certificate without at least one hostname"
    )


def test_path_mtu_icmp_from_every_source_cidr_when_the_service_asks(prod: Cluster) -> None:
    """pkg/service/model_build_managed_sg.go buildManagedSecurityGroupIngressPermissions: with
    ``enable-icmp-for-path-mtu-discovery: "on"`` (that value exactly) ICMP type 3 code 4 from
    each source CIDR (pkg/shared_constants/icmp.go), none from a prefix list."""
    key = "service.beta.kubernetes.io/aws-load-balancer-enable-icmp-for-path-mtu-discovery"
    on = prod.service(
        "shop/on",
        ports=[("TCP", 443), ("UDP", 53)],
        source_ranges=["203.0.113.64/26"],
        annotations={key: "on"},
    )
    yes = prod.service("shop/yes", ports=[("TCP", 443)], annotations={key: "true"})

    [group] = prod.sandbox.client("ec2").describe_security_groups(GroupIds=[on.managed_sg_id])[
        "SecurityGroups"
    ]
    icmp = [p for p in group["IpPermissions"] if p["IpProtocol"] == "icmp"]
    assert [(p["FromPort"], p["ToPort"], p["IpRanges"][0]["CidrIp"]) for p in icmp] == [
        (3, 4, "203.0.113.64/26")
    ]
    assert _rules(prod, yes.managed_sg_id) == {(443, "0.0.0.0/0")}


def test_ipv6_world_rule_only_on_a_dualstack_alb(prod: Cluster) -> None:
    """buildManagedSecurityGroupIngressPermissions adds the IPv6 CIDRs (::/0 by default) only
    when isIPv6Supported (pkg/ingress/model_build_managed_sg.go, model_build_load_balancer.go)."""
    ipv4 = prod.ingress("shop/v4", ports=[443])
    dual = prod.ingress("shop/dual", ports=[443], annotations={ING_IP_ADDRESS_TYPE: "dualstack"})

    assert _rules(prod, ipv4.managed_sg_id) == {(443, "0.0.0.0/0")}
    assert _rules(prod, dual.managed_sg_id) == {(443, "0.0.0.0/0"), (443, "::/0")}


def test_managed_sg_rules_follow_the_group_when_a_member_joins(prod: Cluster) -> None:
    """The managed SG is reconciled to the model on every pass
    (pkg/deploy/ec2/security_group_synthesizer.go → security_group_manager.go Update)."""
    prod.ingress("shop/public", ports=[443], group="shop")
    shop = _group_owner(prod, ["shop/public"], "shop")
    before = shop.managed_sg_id

    prod.ingress("shop/admin", ports=[8443], group="shop", inbound_cidrs=["10.0.0.0/8"])

    assert shop.managed_sg_id == before
    assert _rules(prod, shop.managed_sg_id) == {(443, "0.0.0.0/0"), (8443, "10.0.0.0/8")}


# --- 2. which Ingresses the controller handles ------------------------------------------------


def test_class_annotation_path_takes_no_ingress_class_and_no_params(prod: Cluster) -> None:
    """classifyIngress: the kubernetes.io/ingress.class annotation is matched against
    --ingress-class (default "alb") with an empty ClassConfiguration, so neither the
    IngressClass "alb" nor its params (group, inboundCIDRs) apply
    (pkg/ingress/group_loader.go, class_annotation_matcher.go, pkg/config/ingress_config.go)."""
    prod.ingress_class_params(
        "alb-params", spec={"group": {"name": "platform"}, "inboundCIDRs": ["10.0.0.0/8"]}
    )
    prod.ingress_class("alb", params="alb-params")  # as the Helm chart makes it

    web = prod.ingress("shop/web", ports=[443], class_annotation="alb")
    prod.kube.delete_object(INGRESS_CLASSES, None, "alb")  # no IngressClass is needed at all
    api = prod.ingress("shop/api", ports=[443], class_annotation="alb")

    assert "ingressClassName" not in web.object["spec"]
    assert web.stack is not None and web.stack.model.name == "shop/web"
    assert _rules(prod, web.managed_sg_id) == {(443, "0.0.0.0/0")}
    assert api.stack is not None and api.stack.model.name == "shop/api"


def test_class_annotation_wins_over_ingress_class_name(prod: Cluster) -> None:
    """classifyIngress: the annotation "takes higher priority than ingressClassName"
    (pkg/ingress/group_loader.go)."""
    web = prod.ingress("shop/web", ingress_class="alb", class_annotation="nginx")

    assert web.stack is None
    assert _load_balancers(prod) == []


def test_controller_ingress_class_flag_decides_the_annotation_match(sandbox: Sandbox) -> None:
    """defaultClassAnnotationMatcher.Matches compares with --ingress-class
    (pkg/ingress/class_annotation_matcher.go)."""
    edge = sandbox.cluster("edge", controller=ControllerOptions(ingress_class="internal-alb"))

    legacy = edge.ingress("shop/legacy", class_annotation="alb")
    internal = edge.ingress("shop/internal", class_annotation="internal-alb")

    assert legacy.stack is None
    assert internal.stack is not None


def test_default_ingress_class_is_used_when_the_ingress_names_none(prod: Cluster) -> None:
    """defaultClassLoader.Load: no ingressClassName → the IngressClass annotated
    ingressclass.kubernetes.io/is-default-class: "true"; none → not managed (with the default
    --ingress-class) (pkg/ingress/class_loader.go; group_controller.go
    manageIngressesWithoutIngressClass)."""
    before = prod.ingress("shop/early", ingress_class=None)
    assert before.stack is None

    prod.ingress_class("alb", default=True)
    after = prod.ingress("shop/late", ingress_class=None)
    prod.lbc.reconcile()

    assert after.stack is not None
    assert _group_owner(prod, ["shop/early"]).stack is not None  # picked up on the next pass


def test_default_class_of_another_controller_is_not_ours(prod: Cluster) -> None:
    """classifyIngress: the class must name controller ingress.k8s.aws/alb
    (pkg/ingress/group_loader.go, IngressClassControllerALB in class_loader.go)."""
    prod.ingress_class("nginx", controller="k8s.io/ingress-nginx", default=True)

    web = prod.ingress("shop/web", ingress_class=None)

    assert web.stack is None


def test_foreign_and_deleting_ingresses_are_not_group_members(prod: Cluster) -> None:
    """Load/checkGroupMembershipType keep only Ingresses this controller manages;
    loadGroupIDIfAnyHelper drops Ingresses being deleted (pkg/ingress/group_loader.go)."""
    prod.ingress_class("nginx", controller="k8s.io/ingress-nginx")
    shop = prod.ingress("shop/web", ports=[443], group="shop")
    before = shop.security_groups()
    foreign_sg = _sg(prod, "foreign")
    prod.ingress(
        "other/nginx",
        ports=[443],
        group="shop",
        ingress_class="nginx",
        annotations={ING_SECURITY_GROUPS: foreign_sg},
    )
    leaving = prod.ingress("shop/leaving", ports=[443], group="shop", inbound_cidrs=["10.0.0.0/8"])
    assert leaving.events("FailedBuildModel") == []  # joined without conflict
    _delete(prod, INGRESSES, "shop/leaving")

    prod.lbc.reconcile()

    assert shop.security_groups() == before  # the foreign member's SG annotation is ignored
    assert _rules(prod, shop.managed_sg_id) == {(443, "0.0.0.0/0")}  # the leaver's CIDRs gone
    assert shop.warnings() == []


def test_class_params_group_beats_the_group_annotation(prod: Cluster) -> None:
    """loadGroupID: "the group settings in associated IngClassParams takes higher priority
    than group.name annotation" (pkg/ingress/group_loader.go)."""
    prod.ingress_class_params("platform", spec={"group": {"name": "platform"}})
    prod.ingress_class("platform", params="platform")

    web = prod.ingress("shop/web", ingress_class="platform", annotations={ING_GROUP: "shop"})

    assert web.stack is not None and web.stack.model.name == "platform"


# --- 3. which Services the controller handles -------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "annotations", "handled"),
    [
        ({"loadBalancerClass": "example.com/other"}, {SVC_TYPE: "nlb-ip"}, False),
        ({}, {SVC_TYPE: "external"}, False),
        ({}, {SVC_TYPE: "external", SVC_TARGET_TYPE: "instance"}, True),
        ({}, {SVC_TYPE: "external", SVC_TARGET_TYPE: "ip"}, True),
        ({}, {SVC_TYPE: "nlb-ip"}, True),
    ],
)
def test_which_services_the_controller_handles(
    prod: Cluster, spec: dict[str, str], annotations: dict[str, str], handled: bool
) -> None:
    """IsServiceSupported: a non-nil foreign loadBalancerClass wins over the annotation;
    "external" needs nlb-target-type ip or instance (pkg/service/service_utils.go)."""
    api = prod.service("shop/api", handled_by="none", annotations=annotations, spec=spec)

    assert (api.stack is not None) is handled


def test_service_being_deleted_is_not_handled(prod: Cluster) -> None:
    """IsServiceSupported: false once deletionTimestamp is set (pkg/service/service_utils.go)."""
    prod.kube.put_object(
        SERVICES,
        {
            "metadata": {
                "name": "api",
                "namespace": "shop",
                "deletionTimestamp": "2026-11-30T00:00:00Z",
                "finalizers": ["x/y"],
            },
            "spec": {"loadBalancerClass": "service.k8s.aws/nlb", "ports": [{"port": 80}]},
        },
    )

    prod.lbc.reconcile()

    assert _load_balancers(prod) == []


# --- 4. annotation values parsed as the controller parses them --------------------------------


def test_sg_lists_compare_parsed_trimmed_without_empties(prod: Cluster) -> None:
    """splitCommaSeparatedString (pkg/annotations/parser.go), then cmp.Equal
    (pkg/ingress/model_build_load_balancer.go): whitespace and empty items do not conflict."""
    grp = prod.ingress_group("shared", members=["a/one", "b/two"])
    sg_a, sg_b = _sg(prod, "a"), _sg(prod, "b")
    values = {"a": f"{sg_a}, {sg_b}", "b": f"{sg_a},{sg_b},"}

    for namespace, name in grp.refs:
        prod.kube.patch_object(
            INGRESSES,
            namespace,
            name,
            {"metadata": {"annotations": {ING_SECURITY_GROUPS: values[namespace]}}},
        )
    prod.lbc.reconcile()

    assert grp.warnings() == []
    assert grp.security_groups() == [sg_a, sg_b]


def test_sg_lists_compare_in_order(prod: Cluster) -> None:
    """cmp.Equal of two []string is order-sensitive; the message is Go's %v of both lists
    (pkg/ingress/model_build_load_balancer.go)."""
    grp = prod.ingress_group("shared", members=["a/one", "b/two"])
    sg_a, sg_b = _sg(prod, "a"), _sg(prod, "b")
    values = {"a": f"{sg_a},{sg_b}", "b": f"{sg_b},{sg_a}"}

    for namespace, name in grp.refs:
        prod.kube.patch_object(
            INGRESSES,
            namespace,
            name,
            {"metadata": {"annotations": {ING_SECURITY_GROUPS: values[namespace]}}},
        )
    prod.lbc.reconcile()

    [event, _] = grp.events("FailedBuildModel")
    assert event["message"] == (
        f"Failed build model due to conflicting securityGroups: [{sg_a} {sg_b}] | [{sg_b} {sg_a}]"
    )


@pytest.mark.parametrize(
    ("one", "two", "message"),
    [
        ("True", "true", None),
        ("1", "t", None),
        (
            "yes",
            "true",
            "Failed build model due to failed to parse bool annotation, "
            f'{ING_MANAGE_BACKEND}: yes: strconv.ParseBool: parsing "yes": invalid syntax',
        ),
        (
            "TRUE",
            "false",
            "Failed build model due to conflicting manage backend security group rules settings",
        ),
    ],
)
def test_manage_backend_values_are_go_booleans(
    prod: Cluster, one: str, two: str, message: str | None
) -> None:
    """ParseBoolAnnotation is strconv.ParseBool (pkg/annotations/parser.go); members' values
    are compared as bools (buildManageSecurityGroupRulesFlag, pkg/ingress/model_builder.go)."""
    grp = prod.ingress_group("shared", members=["a/one", "b/two"])
    ours = _sg(prod, "ours")
    values = {"a": one, "b": two}

    for namespace, name in grp.refs:
        annotations = {ING_SECURITY_GROUPS: ours, ING_MANAGE_BACKEND: values[namespace]}
        prod.kube.patch_object(
            INGRESSES, namespace, name, {"metadata": {"annotations": annotations}}
        )
    prod.lbc.reconcile()

    if message is None:
        assert grp.warnings() == []
        assert grp.security_groups() == [ours, _backend_sg(prod)]
    else:
        assert {e["message"] for e in grp.events("FailedBuildModel")} == {message}
        assert ours not in grp.security_groups()


def test_sg_names_resolve_through_the_name_tag_in_the_vpc(sandbox: Sandbox) -> None:
    """ResolveViaNameOrID: entries without "sg-" are Name tags, filtered to the LB's VPC; the
    group name does not count; misses give "couldn't find all security groups: requested
    names [..] but found [..]" (pkg/networking/security_group_resolver.go)."""
    prod = sandbox.cluster("prod")
    other = sandbox.cluster("other", cidr="10.9.0.0/16")
    allowlist = _sg(prod, "corp-allowlist-group", name_tag="corp-allowlist")
    _sg(other, "elsewhere", name_tag="elsewhere-allowlist")
    _sg(prod, "group-name-only")  # GroupName, no Name tag

    by_name = prod.ingress(
        "shop/web",
        annotations={ING_SECURITY_GROUPS: "corp-allowlist", ING_MANAGE_BACKEND: "true"},
    )
    foreign = prod.ingress("shop/api", annotations={ING_SECURITY_GROUPS: "elsewhere-allowlist"})
    group_name = prod.ingress("shop/gn", annotations={ING_SECURITY_GROUPS: "group-name-only"})

    assert by_name.security_groups() == [allowlist, _backend_sg(prod)]
    assert foreign.stack is None and group_name.stack is None
    [event] = foreign.events("FailedBuildModel")
    assert event["message"] == (
        "Failed build model due to couldn't find all security groups: "
        "requested names [elsewhere-allowlist] but found []"
    )
    [event] = group_name.events("FailedBuildModel")
    assert "requested names [group-name-only] but found []" in event["message"]


def test_missing_sg_id_among_found_ones_is_reported_by_the_resolver(prod: Cluster) -> None:
    """resolveViaGroupID: DescribeSecurityGroups by ID fails for an unknown ID and the message
    quotes the SDK error (pkg/networking/security_group_resolver.go)."""
    ours = _sg(prod, "ours")
    web = prod.ingress(
        "shop/web", annotations={ING_SECURITY_GROUPS: f"{ours},sg-0badc0ffee0000000"}
    )

    assert web.stack is None
    [event] = web.events("FailedBuildModel")
    assert event["message"].startswith(
        "Failed build model due to couldn't find all security groups: operation error EC2: "
        "DescribeSecurityGroups, https response error StatusCode: 400, RequestID: "
    )
    assert "api error InvalidGroup.NotFound: " in event["message"]


# --- 5. events as the controller emits them ---------------------------------------------------


def test_successful_reconcile_is_a_normal_event_on_every_member(prod: Cluster) -> None:
    """reconcile ends with a Normal SuccessfullyReconciled "Successfully reconciled" on every
    member (controllers/ingress/group_controller.go; pkg/k8s/events.go)."""
    grp = prod.ingress_group("shared", members=["a/one", "b/two"])

    events = grp.events("SuccessfullyReconciled")

    assert {e["involvedObject"]["name"] for e in events} == {"one", "two"}
    assert {(e["type"], e["message"]) for e in events} == {("Normal", "Successfully reconciled")}
    assert grp.warnings() == []


# --- 6. --enable-backend-security-group=false -------------------------------------------------


def test_without_the_backend_sg_feature_the_lb_has_only_its_managed_sg(sandbox: Sandbox) -> None:
    """buildLoadBalancerSecurityGroups: with the feature off no backend SG is allocated
    (pkg/ingress/model_build_load_balancer.go; pkg/service/model_build_load_balancer.go)."""
    edge = sandbox.cluster(
        "edge", controller=ControllerOptions(enable_backend_security_group=False)
    )

    web = edge.ingress("shop/web")
    api = edge.service("shop/api")

    assert web.security_groups() == [web.managed_sg_id]
    assert api.security_groups() == [api.managed_sg_id]
    assert _backend_sgs(edge) == []


def test_manage_backend_true_without_the_feature_fails_the_build(sandbox: Sandbox) -> None:
    """ "backendSG feature is required to manage worker node SG rules when frontendSG manually
    specified" (pkg/ingress/model_build_load_balancer.go); the Service's text reads "when
    frontendSG is manually specified" (pkg/service/model_build_load_balancer.go). Nothing is
    deployed: the LB keeps its managed SG."""
    edge = sandbox.cluster(
        "edge", controller=ControllerOptions(enable_backend_security_group=False)
    )
    web = edge.ingress("shop/web")
    api = edge.service("shop/api")
    ours = _sg(edge, "ours")

    web.annotate({ING_SECURITY_GROUPS: ours, ING_MANAGE_BACKEND: "true"})
    api.annotate({SVC_SECURITY_GROUPS: ours, SVC_MANAGE_BACKEND: "true"})
    edge.lbc.reconcile()

    [event] = web.events("FailedBuildModel")
    assert event["message"] == (
        "Failed build model due to backendSG feature is required to manage worker node SG rules "
        "when frontendSG manually specified"
    )
    [event] = api.events("FailedBuildModel")
    assert event["message"] == (
        "Failed build model due to backendSG feature is required to manage worker node SG rules "
        "when frontendSG is manually specified"
    )
    assert web.security_groups() == [web.managed_sg_id]
    assert api.security_groups() == [api.managed_sg_id]

    web.annotate({ING_MANAGE_BACKEND: "false"})
    edge.lbc.reconcile()
    assert web.security_groups() == [ours]


# --- 7. the frontend NLB ----------------------------------------------------------------------


def test_frontend_nlb_explicit_sgs_get_no_backend_sg(prod: Cluster) -> None:
    """buildFrontendNlbSecurityGroups: an explicit list is used exactly, no backend SG and no
    manage-backend flag; absent, the NLB takes the ALB's SGs
    (pkg/ingress/model_build_frontend_nlb.go)."""
    web = prod.ingress("shop/web", ports=[443], frontend_nlb=True)
    assert web.frontend_nlb is not None
    team, nlb = _sg(prod, "team"), _sg(prod, "nlb")

    web.annotate({ING_SECURITY_GROUPS: team, ING_MANAGE_BACKEND: "true", ING_FRONTEND_NLB_SGS: nlb})
    prod.lbc.reconcile()

    assert web.security_groups(web.frontend_nlb.arn) == [nlb]
    assert web.security_groups() == [team, _backend_sg(prod)]


def test_frontend_nlb_scheme_is_the_controller_default_not_the_albs(prod: Cluster) -> None:
    """buildFrontendNlbScheme: the frontend-nlb-scheme annotation, else the controller's
    --default-load-balancer-scheme (internal) (pkg/ingress/model_build_frontend_nlb.go,
    pkg/config/controller_config.go)."""
    default = prod.ingress("shop/web", scheme="internet-facing", frontend_nlb=True)
    explicit = prod.ingress(
        "shop/api",
        scheme="internet-facing",
        frontend_nlb=True,
        annotations={ING_FRONTEND_NLB_SCHEME: "internet-facing"},
    )

    assert default.frontend_nlb is not None and explicit.frontend_nlb is not None
    assert _scheme(prod, default.lb_arn) == "internet-facing"
    assert _scheme(prod, default.frontend_nlb.arn) == "internal"
    assert _scheme(prod, explicit.frontend_nlb.arn) == "internet-facing"
    assert len(default.frontend_nlb.name) <= 32  # buildFrontendNlbName: 28 chars + "-nlb"


# --- 8. status written on the owners ----------------------------------------------------------


def test_status_carries_the_load_balancers_dns_name_on_every_owner(prod: Cluster) -> None:
    """updateIngressStatus (every group member, with the frontend NLB's name after the ALB's;
    controllers/ingress/group_controller.go), updateServiceStatus
    (controllers/service/service_controller.go), Gateway status.addresses
    (controllers/gateway/gateway_controller.go); DNS names in lower case."""
    grp = prod.ingress_group("shared", members=["a/one", "b/two"], frontend_nlb=True)
    api = prod.service("shop/api")
    gw = prod.gateway("edge/public")
    elbv2 = prod.sandbox.client("elbv2")

    def dns(arn: str) -> str:
        described = elbv2.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]
        name: str = described["DNSName"].lower()
        return name

    assert grp.frontend_nlb is not None
    for obj in grp.objects:
        entries = obj["status"]["loadBalancer"]["ingress"]
        assert [e["hostname"] for e in entries] == [dns(grp.lb_arn), dns(grp.frontend_nlb.arn)]
        assert entries[0]["ports"] == [{"port": 443, "protocol": ""}]
    assert api.hostnames() == [dns(api.lb_arn)]
    assert api.object["status"]["loadBalancer"]["ingress"][0]["ports"] == [
        {"port": 80, "protocol": "TCP"}
    ]
    assert gw.object["status"]["addresses"] == [{"type": "Hostname", "value": dns(gw.lb_arn)}]


def test_no_status_when_the_model_never_built(prod: Cluster) -> None:
    """A failed build returns before the status update (group_controller.go reconcile)."""
    web = prod.ingress("shop/web", annotations={ING_SECURITY_GROUPS: "sg-0badc0ffee0000000"})

    assert web.stack is None
    assert web.hostnames() == []


# --- 9. the backend SG's name -----------------------------------------------------------------


def test_backend_sg_name_and_description_are_the_controllers(sandbox: Sandbox) -> None:
    """getBackendSGName: k8s-traffic-<cluster without non-alphanumerics, ≤232>-<sha256(cluster)
    [:10]>; description "[k8s] Shared Backend SecurityGroup for LoadBalancer"
    (pkg/networking/backend_sg_provider.go)."""
    cluster = sandbox.cluster("prod-eu_1")
    cluster.ingress("shop/web")

    [group] = _backend_sgs(cluster)

    digest = hashlib.sha256(b"prod-eu_1").hexdigest()[:10]
    assert group["GroupName"] == f"k8s-traffic-prodeu1-{digest}"
    assert group["Description"] == "[k8s] Shared Backend SecurityGroup for LoadBalancer"


# --- 10. Gateways: configuration references and merging ----------------------------------------


def test_class_parameters_ref_without_namespace_stops_the_gateways(prod: Cluster) -> None:
    """handleUpdate rejects a class whose parametersRef has no namespace (InvalidParametersRef;
    controllers/gateway/gateway_class_controller.go); Gateways of a class not Accepted are not
    reconciled (controllers/gateway/config_resolver.go)."""
    prod.load_balancer_configuration("gateway-system/cls", spec={"scheme": "internet-facing"})
    prod.kube.put_object(
        GATEWAY_CLASSES,
        {
            "metadata": {"name": "no-ns"},
            "spec": {
                "controllerName": "gateway.k8s.aws/alb",
                "parametersRef": {
                    "group": "gateway.k8s.aws",
                    "kind": "LoadBalancerConfiguration",
                    "name": "cls",
                },
            },
        },
    )

    gw = prod.gateway("edge/public", gateway_class="no-ns")

    assert gw.stack is None
    assert gw.events() == []  # config errors set conditions, no Event (gateway_controller.go)


def test_gateway_reference_group_and_kind_are_not_checked(prod: Cluster) -> None:
    """ResolveLoadBalancerConfig fetches a LoadBalancerConfiguration by namespace and name only
    (pkg/gateway/gatewayutils/lb_config_utils.go)."""
    team = _sg(prod, "team")
    gw = prod.gateway("edge/public", config={"securityGroups": [team]})
    prod.kube.patch_object(
        GATEWAYS,
        "edge",
        "public",
        {"spec": {"infrastructure": {"parametersRef": {"kind": "LoadBalancerConfig"}}}},
    )

    prod.lbc.reconcile()

    assert gw.security_groups() == [team]


def test_missing_gateway_configuration_stops_the_gateway(prod: Cluster) -> None:
    """getLoadBalancerConfigForGateway returns the lookup error (controllers/gateway/
    config_resolver.go): no LB, no Event."""
    prod.gateway_class("alb-gateways")
    prod.kube.put_object(
        GATEWAYS,
        {
            "metadata": {"name": "public", "namespace": "edge"},
            "spec": {
                "gatewayClassName": "alb-gateways",
                "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}],
                "infrastructure": {
                    "parametersRef": {
                        "group": "gateway.k8s.aws",
                        "kind": "LoadBalancerConfiguration",
                        "name": "absent",
                    }
                },
            },
        },
    )

    prod.lbc.reconcile()

    assert _load_balancers(prod) == []


def test_empty_class_security_groups_count_as_set_and_null_as_unset(prod: Cluster) -> None:
    """generateMergedSpec takes each field from the high-priority config when non-nil: a class
    securityGroups: [] wins and means the managed SG (pkg/gateway/lb_config_merger.go;
    pkg/gateway/model/model_build_security_group.go); a null one leaves the Gateway's."""
    own = _sg(prod, "own")
    emptied = prod.gateway(
        "edge/emptied", config={"securityGroups": [own]}, class_config={"securityGroups": []}
    )
    nulled = prod.gateway(
        "edge/nulled",
        config={"securityGroups": [own]},
        class_config={"securityGroups": None, "scheme": "internet-facing"},
    )

    assert emptied.security_groups() == [emptied.managed_sg_id, _backend_sg(prod)]
    assert nulled.security_groups() == [own]
    assert _scheme(prod, nulled.lb_arn) == "internet-facing"


def _permissions(cluster: Cluster, group_id: str | None) -> set[tuple[str, int, int, str]]:
    """(protocol, FromPort, ToPort, source) of every inbound rule."""
    [group] = cluster.sandbox.client("ec2").describe_security_groups(GroupIds=[group_id])[
        "SecurityGroups"
    ]
    return {
        (p["IpProtocol"], p["FromPort"], p["ToPort"], source)
        for p in group["IpPermissions"]
        for source in [
            *(r["CidrIp"] for r in p.get("IpRanges", [])),
            *(r["CidrIpv6"] for r in p.get("Ipv6Ranges", [])),
            *(r["PrefixListId"] for r in p.get("PrefixListIds", [])),
        ]
    }


def test_gateway_source_ranges_prefixes_and_icmp_on_every_listener(prod: Cluster) -> None:
    """model_build_security_group.go buildManagedSecurityGroupIngressPermissions: per Gateway
    listener (``udp`` for UDP, else ``tcp``), one rule per ``sourceRanges`` CIDR and per
    ``securityGroupPrefixes`` entry; ``enableICMP`` adds path-MTU ICMP per CIDR; IPv6 CIDRs
    only on a dualstack LB (model/utilities.go isIPv6Supported). Listeners are one per port,
    TCP and UDP on one port merged into TCP_UDP (model_build_listener.go
    mapGatewayListenerConfigsByPort, mergeProtocols)."""
    prefix = _prefix_list(prod, "partners")
    gw = prod.gateway(
        "edge/dns",
        lb="nlb",
        ports=[("TCP", 53), ("UDP", 53), ("TCP", 443)],
        config={
            "sourceRanges": ["203.0.113.64/26", "2001:db8::/32"],
            "securityGroupPrefixes": [prefix],
            "enableICMP": True,
        },
    )

    assert _listeners(prod, gw.lb_arn) == [("TCP", 443), ("TCP_UDP", 53)]
    assert _permissions(prod, gw.managed_sg_id) == {
        *{
            (p, port, port, s)
            for p, port in [("tcp", 53), ("udp", 53), ("tcp", 443)]
            for s in ("203.0.113.64/26", prefix)
        },
        ("icmp", 3, 4, "203.0.113.64/26"),
    }


def test_gateway_source_ranges_set_to_an_empty_list_admit_no_cidr(prod: Cluster) -> None:
    """``sourceRanges`` replaces the 0.0.0.0/0 default whenever it is non-nil
    (model_build_security_group.go): ``[]`` leaves only the prefix lists; unset (nil) keeps
    the world next to them."""
    prefix = _prefix_list(prod, "partners")
    emptied = prod.gateway(
        "edge/emptied", ports=[443], config={"sourceRanges": [], "securityGroupPrefixes": [prefix]}
    )
    unset = prod.gateway("edge/unset", ports=[443], config={"securityGroupPrefixes": [prefix]})

    assert _rules(prod, emptied.managed_sg_id) == {(443, prefix)}
    assert _rules(prod, unset.managed_sg_id) == {(443, prefix), (443, "0.0.0.0/0")}


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (None, "203.0.113.64/26"),
        ("prefer-gateway-class", "203.0.113.64/26"),
        ("prefer-gateway", "198.51.100.0/24"),
    ],
)
def test_gateway_source_ranges_follow_the_class_merging_mode(
    prod: Cluster, mode: str | None, expected: str
) -> None:
    """lb_config_merger.go Merge: the class configuration's mergingMode (default
    prefer-gateway-class) picks the side whose non-nil sourceRanges win."""
    class_config: dict[str, Any] = {"sourceRanges": ["203.0.113.64/26"]}
    if mode is not None:
        class_config["mergingMode"] = mode
    gw = prod.gateway(
        "edge/public",
        ports=[80, 443],
        config={"sourceRanges": ["198.51.100.0/24"]},
        class_config=class_config,
    )

    assert _rules(prod, gw.managed_sg_id) == {(80, expected), (443, expected)}


# --- independence -----------------------------------------------------------------------------


@pytest.mark.parametrize("module", ["aws", "kube", "lbc", "lbc_rules", "scenario", "tls"])
def test_the_simulator_never_imports_frontguard(module: str) -> None:
    """Two independent readings of the controller's source (issue 12): the simulator and the
    world it builds import nothing of frontguard, at any depth of the module."""
    import ast
    import importlib

    source = importlib.import_module(f"sandbox.{module}").__file__
    assert source is not None
    with open(source, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    imported = {
        name
        for node in ast.walk(tree)
        for name in (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
    }
    assert not {name for name in imported if name.split(".")[0] == "frontguard"}
