"""Conformance: each row is one rule of the AWS Load Balancer Controller, the controller source
it comes from (kubernetes-sigs/aws-load-balancer-controller, read at v3.5.0+8 and v2.14.1),
the objects, and what the controller does with them — run against frontguard.controller."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from frontguard.controller import gateway as gw
from frontguard.controller.ingress import (
    ControllerBuildError,
    IngressClasses,
    classify_ingress,
    group_restrictions,
    listen_ports,
    members_of,
    stack_of,
)
from frontguard.controller.objects import AnnotationError, parse_bool, split_list
from frontguard.controller.security_groups import (
    annotation_keys,
    conflicting_members,
    group_security_groups,
    is_id,
)
from frontguard.controller.service import service_handled, service_restrictions
from frontguard.engine.plan import plan_rules
from frontguard.model import Listener, OwnerKind, OwnerRef
from frontguard.policy import ControllerFlags
from frontguard.sources import Sources
from hypothesis import given
from hypothesis import strategies as st

A = "alb.ingress.kubernetes.io/"
S = "service.beta.kubernetes.io/"
FLAGS = ControllerFlags()


def ingress(name="shop/web", annotations=None, class_name=None, deleting=False, **spec):
    namespace, _, obj_name = name.partition("/")
    meta: dict[str, Any] = {"namespace": namespace, "name": obj_name}
    meta["annotations"] = annotations or {}
    if deleting:
        meta["deletionTimestamp"] = "2026-11-30T00:00:00Z"
    if class_name:
        spec["ingressClassName"] = class_name
    return {"metadata": meta, "spec": spec}


def ingress_class(name, controller="ingress.k8s.aws/alb", params=None, default=False):
    spec: dict[str, Any] = {"controller": controller}
    if params:
        spec["parameters"] = {"apiGroup": "elbv2.k8s.aws", "kind": "IngressClassParams", **params}
    annotations = {"ingressclass.kubernetes.io/is-default-class": "true"} if default else {}
    return {"metadata": {"name": name, "annotations": annotations}, "spec": spec}


def params(name, **spec):
    return {"metadata": {"name": name}, "spec": spec}


ALB = ingress_class("alb")
CLASSES = IngressClasses.of([ALB, ingress_class("nginx", "k8s.io/ingress-nginx")])


@dataclass(frozen=True)
class Row:
    rule: str
    source: str
    decide: Callable[[], object]
    expected: object

    def __str__(self) -> str:
        return self.rule


def handled(obj, classes=CLASSES, flags=FLAGS):
    return classify_ingress(obj, classes, flags).handled


ROWS = [
    # --- which Ingresses the controller manages -------------------------------------------
    Row(
        "the class annotation is matched against --ingress-class; no IngressClass object needed",
        "pkg/ingress/group_loader.go classifyIngress; pkg/ingress/class_annotation_matcher.go",
        lambda: handled(
            ingress(annotations={"kubernetes.io/ingress.class": "alb"}), IngressClasses()
        ),
        True,
    ),
    Row(
        "the class annotation wins over spec.ingressClassName",
        "pkg/ingress/group_loader.go classifyIngress",
        lambda: handled(
            ingress(annotations={"kubernetes.io/ingress.class": "nginx"}, class_name="alb")
        ),
        False,
    ),
    Row(
        "a custom --ingress-class is what the annotation must name",
        "pkg/ingress/class_annotation_matcher.go Matches",
        lambda: (
            handled(
                ingress(annotations={"kubernetes.io/ingress.class": "alb"}),
                flags=ControllerFlags(ingress_class="internal"),
            ),
            handled(
                ingress(annotations={"kubernetes.io/ingress.class": "internal"}),
                flags=ControllerFlags(ingress_class="internal"),
            ),
        ),
        (False, True),
    ),
    Row(
        "annotation-classified Ingresses get no IngressClassParams",
        "pkg/ingress/group_loader.go classifyIngress (ClassConfiguration{})",
        lambda: (
            classify_ingress(
                ingress(annotations={"kubernetes.io/ingress.class": "alb"}),
                IngressClasses.of(
                    [ingress_class("alb", params={"name": "p"})],
                    [params("p", inboundCIDRs=["10.0.0.0/8"])],
                ),
                FLAGS,
            ).params
        ),
        None,
    ),
    Row(
        "spec.ingressClassName must name a class served by ingress.k8s.aws/alb",
        "pkg/ingress/group_loader.go classifyIngress",
        lambda: (
            handled(ingress(class_name="alb")),
            handled(ingress(class_name="nginx")),
            handled(ingress(class_name="gone")),
        ),
        (True, False, False),
    ),
    Row(
        "no class: the cluster's default IngressClass applies",
        "pkg/ingress/class_loader.go Load, GetDefaultIngressClass",
        lambda: handled(ingress(), IngressClasses.of([ingress_class("alb", default=True)])),
        True,
    ),
    Row(
        "two default IngressClasses: the controller refuses",
        "pkg/ingress/class_loader.go GetDefaultIngressClass",
        lambda: handled(
            ingress(),
            IngressClasses.of([ingress_class("a", default=True), ingress_class("b", default=True)]),
        ),
        False,
    ),
    Row(
        "no class at all: managed only with an empty --ingress-class",
        "controllers/ingress/group_controller.go (manageIngressesWithoutIngressClass)",
        lambda: (
            handled(ingress(), IngressClasses()),
            handled(ingress(), IngressClasses(), ControllerFlags(ingress_class="")),
        ),
        (False, True),
    ),
    Row(
        "Ingresses being deleted leave every group",
        "pkg/ingress/group_loader.go loadGroupIDIfAnyHelper",
        lambda: handled(ingress(class_name="alb", deleting=True)),
        False,
    ),
    Row(
        "a class naming parameters of an unknown kind, or missing params, is invalid",
        "pkg/ingress/class_loader.go Load",
        lambda: (
            handled(
                ingress(class_name="alb"),
                IngressClasses.of(
                    [ingress_class("alb", params={"name": "p", "kind": "Other"})], [params("p")]
                ),
            ),
            handled(
                ingress(class_name="alb"),
                IngressClasses.of([ingress_class("alb", params={"name": "p"})]),
            ),
        ),
        (False, False),
    ),
    Row(
        "IngressClassParams namespaceSelector must match the Ingress's namespace labels",
        "pkg/ingress/class_loader.go validateIngressClassParamsNamespaceRestriction",
        lambda: tuple(
            handled(
                ingress(class_name="alb"),
                IngressClasses.of(
                    [ingress_class("alb", params={"name": "p"})],
                    [params("p", namespaceSelector={"matchLabels": {"team": "shop"}})],
                    [{"metadata": {"name": "shop", "labels": labels}}],
                ),
            )
            for labels in ({"team": "shop"}, {"team": "other"})
        ),
        (True, False),
    ),
    # --- IngressGroups -------------------------------------------------------------------------
    Row(
        "IngressClassParams group.name beats the group.name annotation",
        "pkg/ingress/group_loader.go loadGroupID",
        lambda: stack_of(
            classify_ingress(
                ingress(annotations={A + "group.name": "team-b"}, class_name="alb"),
                IngressClasses.of(
                    [ingress_class("alb", params={"name": "p"})],
                    [params("p", group={"name": "shared"})],
                ),
                FLAGS,
            )
        ),
        "shared",
    ),
    Row(
        "without a group an Ingress is its own implicit group (stack namespace/name)",
        "pkg/ingress/group_loader.go loadGroupID; pkg/ingress/group.go",
        lambda: stack_of(classify_ingress(ingress(class_name="alb"), CLASSES, FLAGS)),
        "shop/web",
    ),
    Row(
        "an invalid group name leaves every group",
        "pkg/ingress/group_loader.go validateGroupName",
        lambda: stack_of(
            classify_ingress(
                ingress(annotations={A + "group.name": "Shop_1"}, class_name="alb"), CLASSES, FLAGS
            )
        ),
        None,
    ),
    Row(
        "only Ingresses the controller manages are members, whatever annotations others carry",
        "pkg/ingress/group_loader.go Load, classifyIngress",
        lambda: [
            m.id
            for m in members_of(
                "shop",
                [
                    ingress("a/web", {A + "group.name": "shop"}, "alb"),
                    ingress("b/api", {A + "group.name": "shop"}, "alb"),
                    ingress("c/legacy", {A + "group.name": "shop"}, "nginx"),
                ],
                CLASSES,
                FLAGS,
            )
        ],
        ["a/web", "b/api"],
    ),
    # --- listen ports and restrictions ----------------------------------------------------
    Row(
        "no listen-ports: 80, or 443 when a certificate is configured (annotation or params)",
        "pkg/ingress/model_build_listener.go computeIngressListenPorts",
        lambda: (
            listen_ports(classify_ingress(ingress(class_name="alb"), CLASSES, FLAGS)),
            listen_ports(
                classify_ingress(
                    ingress(annotations={A + "certificate-arn": "arn:aws:acm:x"}, class_name="alb"),
                    CLASSES,
                    FLAGS,
                )
            ),
        ),
        ({80: "HTTP"}, {443: "HTTPS"}),
    ),
    Row(
        "IngressGroup restrictions apply per listen port (review #1, scenario A)",
        "pkg/ingress/model_builder.go mergeListenPortConfigs; docs/guide/ingress/annotations.md",
        lambda: (
            group_restrictions(
                [
                    classify_ingress(
                        ingress(
                            "ops/admin",
                            {
                                A + "listen-ports": '[{"HTTPS":443}]',
                                A + "inbound-cidrs": "10.0.0.0/8",
                            },
                            "alb",
                        ),
                        CLASSES,
                        FLAGS,
                    ),
                    classify_ingress(
                        ingress("web/site", {A + "listen-ports": '[{"HTTP":80}]'}, "alb"),
                        CLASSES,
                        FLAGS,
                    ),
                ]
            ).by_port
        ),
        {443: Sources.of(["10.0.0.0/8"]), 80: None},
    ),
    Row(
        "an unrestricted member on the same port does not open it (scenario B)",
        "pkg/ingress/model_builder.go mergeListenPortConfigs",
        lambda: (
            group_restrictions(
                [
                    classify_ingress(
                        ingress(
                            "ops/admin",
                            {
                                A + "listen-ports": '[{"HTTPS":443}]',
                                A + "inbound-cidrs": "10.0.0.0/8",
                            },
                            "alb",
                        ),
                        CLASSES,
                        FLAGS,
                    ),
                    classify_ingress(
                        ingress("web/site", {A + "listen-ports": '[{"HTTPS":443}]'}, "alb"),
                        CLASSES,
                        FLAGS,
                    ),
                ]
            ).by_port
        ),
        {443: Sources.of(["10.0.0.0/8"])},
    ),
    Row(
        "two members restricting one port differently: the controller's build error",
        "pkg/ingress/model_builder.go mergeListenPortConfigs (conflicting inbound-cidrs)",
        lambda: _raises(
            lambda: group_restrictions(
                [
                    classify_ingress(
                        ingress("a/x", {A + "inbound-cidrs": "10.0.0.0/8"}, "alb"), CLASSES, FLAGS
                    ),
                    classify_ingress(
                        ingress("b/y", {A + "inbound-cidrs": "192.168.0.0/16"}, "alb"),
                        CLASSES,
                        FLAGS,
                    ),
                ]
            )
        ),
        ControllerBuildError,
    ),
    Row(
        "IngressClassParams inboundCIDRs win over the annotation; prefixListsIDs over the legacy field",
        "pkg/ingress/model_build_listener.go computeIngressExplicitInboundCIDRs, computeIngressExplicitPrefixListIDs",
        lambda: group_restrictions(
            [
                classify_ingress(
                    ingress(annotations={A + "inbound-cidrs": "10.0.0.0/8"}, class_name="alb"),
                    IngressClasses.of(
                        [ingress_class("alb", params={"name": "p"})],
                        [
                            params(
                                "p",
                                inboundCIDRs=["192.0.2.0/24"],
                                prefixListsIDs=["pl-0123456789abcdef0"],
                                PrefixListsIDs=["pl-0fedcba9876543210"],
                            )
                        ],
                    ),
                    FLAGS,
                )
            ]
        ).for_port(80),
        Sources.of(["192.0.2.0/24", "pl-0123456789abcdef0"]),
    ),
    Row(
        "an invalid CIDR fails the controller's build",
        "pkg/ingress/model_build_listener.go computeIngressExplicitInboundCIDRs",
        lambda: _raises(
            lambda: group_restrictions(
                [
                    classify_ingress(
                        ingress(annotations={A + "inbound-cidrs": "10.0.0.0/33"}, class_name="alb"),
                        CLASSES,
                        FLAGS,
                    )
                ]
            )
        ),
        AnnotationError,
    ),
    # --- Services ---------------------------------------------------------------------------
    Row(
        "a foreign loadBalancerClass wins over the type annotation",
        "pkg/service/service_utils.go IsServiceSupported",
        lambda: service_handled(
            {
                "metadata": {"annotations": {S + "aws-load-balancer-type": "nlb-ip"}},
                "spec": {"loadBalancerClass": "example.com/lb"},
            },
            FLAGS,
        )[0],
        False,
    ),
    Row(
        "type external needs nlb-target-type ip or instance; nlb-ip needs nothing",
        "pkg/service/service_utils.go checkAWSLoadBalancerTypeAnnotation",
        lambda: tuple(
            service_handled({"metadata": {"annotations": a}, "spec": {}}, FLAGS)[0]
            for a in (
                {S + "aws-load-balancer-type": "external"},
                {
                    S + "aws-load-balancer-type": "external",
                    S + "aws-load-balancer-nlb-target-type": "ip",
                },
                {S + "aws-load-balancer-type": "nlb-ip"},
            )
        ),
        (False, True, True),
    ),
    Row(
        "spec.loadBalancerSourceRanges wins over the annotation; a prefix-list annotation stops the 0.0.0.0/0 default",
        "pkg/service/model_build_managed_sg.go buildCIDRsFromSourceRanges",
        lambda: (
            service_restrictions(
                {
                    "metadata": {"annotations": {S + "load-balancer-source-ranges": "10.0.0.0/8"}},
                    "spec": {"loadBalancerSourceRanges": ["192.0.2.0/24"]},
                }
            ).default,
            service_restrictions(
                {
                    "metadata": {
                        "annotations": {S + "aws-load-balancer-security-group-prefix-lists": ""}
                    },
                    "spec": {},
                }
            ).default,
            service_restrictions({"metadata": {}, "spec": {}}).default,
        ),
        (Sources.of(["192.0.2.0/24"]), Sources(), None),
    ),
    Row(
        "EKS Auto Mode ignores the source-ranges annotation",
        "docs.aws.amazon.com/eks/latest/userguide/auto-configure-nlb.html",
        lambda: (
            service_restrictions(
                {
                    "metadata": {"annotations": {S + "load-balancer-source-ranges": "10.0.0.0/8"}},
                    "spec": {},
                },
                auto_mode=True,
            ).default
        ),
        None,
    ),
    # --- annotation values ------------------------------------------------------------------
    Row(
        "lists: split on commas, trimmed, empties dropped, order kept",
        "pkg/annotations/parser.go splitCommaSeparatedString",
        lambda: split_list(" sg-b, sg-a ,,"),
        ["sg-b", "sg-a"],
    ),
    Row(
        "booleans are Go's strconv.ParseBool",
        "pkg/annotations/parser.go ParseBoolAnnotation",
        lambda: (
            parse_bool("k", "True"),
            parse_bool("k", "1"),
            parse_bool("k", "F"),
            _raises(lambda: parse_bool("k", "yes")),
        ),
        (True, True, False, AnnotationError),
    ),
    Row(
        "group members' SG lists are compared parsed and in order; members without it are skipped",
        "pkg/ingress/model_build_load_balancer.go buildFrontendSGNameOrIDsFromAnnotation",
        lambda: (
            group_security_groups(
                [
                    ingress("a/x", {A + "security-groups": "sg-a, sg-b"}),
                    ingress("b/y", {A + "security-groups": "sg-a,sg-b,"}),
                    ingress("c/z"),
                ],
                A + "security-groups",
            ),
            conflicting_members(
                [
                    ingress("a/x", {A + "security-groups": "sg-a, sg-b"}),
                    ingress("b/y", {A + "security-groups": "sg-a,sg-b"}),
                ],
                A + "security-groups",
            ),
            _raises(
                lambda: group_security_groups(
                    [
                        ingress("a/x", {A + "security-groups": "sg-a,sg-b"}),
                        ingress("b/y", {A + "security-groups": "sg-b,sg-a"}),
                    ],
                    A + "security-groups",
                )
            ),
        ),
        (["sg-a", "sg-b"], {}, ControllerBuildError),
    ),
    Row(
        "entries without the sg- prefix are names (the Name tag in the LB's VPC)",
        "pkg/networking/security_group_resolver.go splitIntoSgNameAndIDs",
        lambda: (is_id("sg-0123"), is_id("corp-allowlist")),
        (True, False),
    ),
    Row(
        "a frontend NLB takes its SGs from its own annotation and has no backend-rules switch",
        "pkg/ingress/model_build_frontend_nlb.go buildFrontendNlbSecurityGroups",
        lambda: (
            annotation_keys(
                OwnerRef(OwnerKind.INGRESS, "shop", "web", frontend_nlb=True)
            ).backend_rules
        ),
        None,
    ),
    # --- Gateways ------------------------------------------------------------------------------
    Row(
        "mergingMode (read from the class configuration) prefer-gateway lets the Gateway's value win",
        "pkg/gateway/lb_config_merger.go Merge",
        lambda: (
            gw.merged_field(
                {"mergingMode": "prefer-gateway", "securityGroups": ["sg-c"]},
                {"securityGroups": ["sg-g"]},
                "securityGroups",
            ),
            gw.merged_field(
                {"securityGroups": ["sg-c"]}, {"securityGroups": ["sg-g"]}, "securityGroups"
            ),
            gw.merged_field(
                None,
                {"mergingMode": "prefer-gateway-class", "securityGroups": ["sg-g"]},
                "securityGroups",
            ),
        ),
        (["sg-g"], ["sg-c"], ["sg-g"]),
    ),
    Row(
        "take-one fields are tested non-nil: an empty class list counts as set",
        "pkg/gateway/lb_config_merger.go performTakeOneMerges",
        lambda: (
            gw.merged_field({"securityGroups": []}, {"securityGroups": ["sg-g"]}, "securityGroups"),
            gw.class_wins({"securityGroups": []}, "securityGroups"),
        ),
        ([], True),
    ),
    Row(
        "a class parametersRef without namespace is not Accepted",
        "controllers/gateway/gateway_class_controller.go handleUpdate",
        lambda: _raises(lambda: gw.class_reference({"spec": {"parametersRef": {"name": "cfg"}}})),
        ValueError,
    ),
    Row(
        "configuration references are fetched by name; group and kind are not checked",
        "pkg/gateway/gatewayutils/lb_config_utils.go ResolveLoadBalancerConfig",
        lambda: gw.gateway_reference(
            {
                "spec": {
                    "infrastructure": {
                        "parametersRef": {
                            "group": "gateway.k8s.aws",
                            "kind": "LoadBalancerConfig",
                            "name": "edge",
                        }
                    }
                }
            }
        ),
        "edge",
    ),
    Row(
        "only the controller's GatewayClasses are served (Auto Mode's are recognised separately)",
        "pkg/gateway/constants/controller_constants.go",
        lambda: (
            gw.class_controller_served(
                {"spec": {"controllerName": "gateway.k8s.aws/alb"}}, auto_mode=False
            ),
            gw.class_controller_served(
                {"spec": {"controllerName": "istio.io/gateway-controller"}}, auto_mode=False
            ),
            gw.class_controller_served(
                {"spec": {"controllerName": "eks.amazonaws.com/gateway-alb"}}, auto_mode=True
            ),
        ),
        (True, False, True),
    ),
    Row(
        "create-acm-cert: true makes the default listen port 443/HTTPS (issue 26)",
        "pkg/ingress/model_build_listener.go computeIngressListenPorts; model_builder.go build",
        lambda: listen_ports(
            classify_ingress(
                ingress(annotations={A + "create-acm-cert": "true"}, class_name="alb"),
                CLASSES,
                FLAGS,
            )
        ),
        {443: "HTTPS"},
    ),
    Row(
        "create-acm-cert: true with inbound-cidrs restricts 443 to the owner's CIDRs (issue 26)",
        "pkg/ingress/model_build_listener.go computeIngressListenPorts",
        lambda: group_restrictions(
            [
                classify_ingress(
                    ingress(
                        annotations={
                            A + "create-acm-cert": "true",
                            A + "inbound-cidrs": "203.0.113.64/26",
                        },
                        class_name="alb",
                    ),
                    CLASSES,
                    FLAGS,
                )
            ]
        ).for_port(443),
        Sources.of(["203.0.113.64/26"]),
    ),
]


def _raises(call: Callable[[], object]) -> type[BaseException] | str:
    try:
        call()
    except (AnnotationError, ControllerBuildError, ValueError) as error:
        return type(error)
    return "no error"


@pytest.mark.parametrize("row", ROWS, ids=str)
def test_controller_rule(row: Row) -> None:
    assert row.source, "every rule cites the controller source it mirrors"
    assert row.decide() == row.expected, f"{row.rule} ({row.source})"


# --- Fail narrow (issue 26) ---------------------------------------------------------------

_PORTS = st.sampled_from([80, 443, 8080, 8443])
_CIDRS = st.sampled_from(
    ["203.0.113.0/24", "203.0.113.64/26", "203.0.113.0/25", "198.51.100.0/24", "10.0.0.0/8"]
)


@st.composite
def _members(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Ingresses of one group, each on its own ports with or without inbound-cidrs; members
    sharing a port agree on its CIDRs (otherwise the controller refuses to build)."""
    port_cidrs = draw(st.dictionaries(_PORTS, st.none() | st.lists(_CIDRS, min_size=1)))
    members = []
    for index, (port, cidrs) in enumerate(sorted(port_cidrs.items())):
        annotations = {A + "listen-ports": f'[{{"HTTP":{port}}}]'}
        if cidrs:
            annotations[A + "inbound-cidrs"] = ",".join(cidrs)
        members.append(ingress(f"shop/m{index}", annotations, "alb"))
    return members


@given(
    members=_members(),
    listener_ports=st.sets(_PORTS | st.integers(1, 65535), min_size=1, max_size=6),
    policy=st.lists(_CIDRS, min_size=1, max_size=3),
)
def test_planned_sources_never_exceed_any_restriction_that_could_apply(
    members: list[dict[str, Any]], listener_ports: set[int], policy: list[str]
) -> None:
    """For any group and any listener set: the sources planned on a port are within the policy
    and within every restriction that could apply to it (the port's members', or for a port
    no member claims, every member's)."""
    classified = [classify_ingress(m, CLASSES, FLAGS) for m in members]
    restrictions = group_restrictions(classified)
    allowed = Sources.of(policy)
    listeners = [Listener(port=port, protocol="HTTPS") for port in sorted(listener_ports)]
    rules = plan_rules(listeners, allowed, restrictions).rules
    for port in listener_ports:
        could_apply = (
            [restrictions.by_port[port]]
            if port in restrictions.by_port
            else [r for r in restrictions.by_port.values()]
        )
        planned = [ipaddress.IPv4Network(r.source) for r in rules if r.port == port]
        for network in planned:
            assert any(network.subnet_of(p) for p in allowed.cidrs if p.version == 4)
            for restriction in could_apply:
                if restriction is not None:
                    assert any(network.subnet_of(c) for c in restriction.cidrs), (port, network)  # type: ignore[arg-type]


def test_an_unclaimed_port_takes_the_narrowest_member_restriction() -> None:
    """A listener no member claims (e.g. 443 from create-acm-cert with the gate off, or a rule
    frontguard does not model) is planned with the owner's /26, not the policy's /24."""
    member = classify_ingress(
        ingress("shop/web", {A + "inbound-cidrs": "203.0.113.64/26"}, "alb"), CLASSES, FLAGS
    )
    plan = plan_rules(
        [Listener(port=443, protocol="HTTPS")],
        Sources.of(["203.0.113.0/24"]),
        group_restrictions([member]),
    )
    assert {r.source for r in plan.rules} == {"203.0.113.64/26"}


@pytest.mark.parametrize(
    ("value", "asked"), [("on", True), ("On", False), ("true", False), ("", False), (None, False)]
)
def test_path_mtu_discovery_is_asked_by_the_value_on_exactly(value: str | None, asked: bool):
    """LBC:pkg/service/model_build_managed_sg.go buildManagedSecurityGroupIngressPermissions:
    ``icmpForPathMtuConfiguredFlag == "on"``."""
    from frontguard.controller.service import PATH_MTU_ANNOTATION, path_mtu_discovery

    annotations = {} if value is None else {PATH_MTU_ANNOTATION: value}
    assert path_mtu_discovery({"metadata": {"annotations": annotations}}) is asked


def test_path_mtu_icmp_rules_are_read_as_rules_and_other_icmp_stays_foreign():
    """A path-MTU rule (icmp 3/4, icmpv6 2/0) is one of the SG's rules, judged like any other;
    any other ICMP is a foreign permission (frontguard plans none and revokes it)."""
    from frontguard.adapters.aws import parse_security_group
    from frontguard.model import PermissionRule

    group = parse_security_group(
        {
            "GroupId": "sg-1",
            "IpPermissions": [
                {
                    "IpProtocol": "icmp",
                    "FromPort": 3,
                    "ToPort": 4,
                    "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                },
                {
                    "IpProtocol": "icmpv6",
                    "FromPort": 2,
                    "ToPort": 0,
                    "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
                },
                {
                    "IpProtocol": "icmp",
                    "FromPort": -1,
                    "ToPort": -1,
                    "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                },
                {
                    "IpProtocol": "icmp",
                    "FromPort": 3,
                    "ToPort": -1,
                    "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                },
            ],
        }
    )
    assert group.rules == {
        PermissionRule("icmp", 3, "0.0.0.0/0"),
        PermissionRule("icmpv6", 2, "::/0"),
    }
    assert [(p["FromPort"], p["ToPort"]) for p in group.foreign_permissions] == [(-1, -1), (3, -1)]
