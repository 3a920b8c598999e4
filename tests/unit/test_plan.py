import json

from frontguard.engine.plan import (
    annotation_patch,
    approved_only,
    group_restriction,
    ingress_handled,
    ingress_restriction,
    planned_rules,
    service_handled,
    service_restriction,
)
from frontguard.model import Listener, OwnerKind, OwnerRef, PermissionRule
from frontguard.policy import Policy
from frontguard.sources import Sources

SERVICE = OwnerRef(OwnerKind.SERVICE, "legacy", "api")
INGRESS = OwnerRef(OwnerKind.INGRESS, "shop", "web")
FRONTEND_NLB = OwnerRef(OwnerKind.INGRESS, "shop", "web", frontend_nlb=True)


def obj(namespace="shop", name="web", annotations=None, spec=None, labels=None):
    return {
        "metadata": {
            "namespace": namespace,
            "name": name,
            "annotations": annotations or {},
            "labels": labels or {},
        },
        "spec": spec or {},
    }


def test_rules_are_listener_ports_times_sources_with_udp_for_udp_listeners():
    rules = planned_rules(
        [Listener(443, "HTTPS"), Listener(53, "UDP"), Listener(8443, "TCP_UDP")],
        Sources.of(["10.0.0.0/8"]),
    )
    assert rules == {
        PermissionRule("tcp", 443, "10.0.0.0/8"),
        PermissionRule("udp", 53, "10.0.0.0/8"),
        PermissionRule("tcp", 8443, "10.0.0.0/8"),
        PermissionRule("udp", 8443, "10.0.0.0/8"),
    }


def test_service_restriction_from_spec_or_annotation():
    assert service_restriction(obj(spec={})) is None
    spec_ranges = obj(spec={"loadBalancerSourceRanges": ["203.0.113.0/24"]})
    assert service_restriction(spec_ranges) == Sources.of(["203.0.113.0/24"])
    annotated = obj(
        annotations={
            "service.beta.kubernetes.io/load-balancer-source-ranges": "10.0.0.0/8, 10.1.0.0/16",
            "service.beta.kubernetes.io/aws-load-balancer-security-group-prefix-lists": "pl-0123456789abcdef0",
        }
    )
    assert service_restriction(annotated) == Sources.of(["10.0.0.0/8", "pl-0123456789abcdef0"])


def test_ingress_class_params_override_annotations():
    ingress = obj(annotations={"alb.ingress.kubernetes.io/inbound-cidrs": "10.0.0.0/8"})
    params = {"spec": {"inboundCIDRs": ["192.0.2.0/24"]}}
    assert ingress_restriction(ingress, None) == Sources.of(["10.0.0.0/8"])
    assert ingress_restriction(ingress, params) == Sources.of(["192.0.2.0/24"])


def test_one_unrestricted_group_member_opens_the_group():
    restricted = Sources.of(["10.0.0.0/8"])
    assert group_restriction([restricted, None]) is None
    assert group_restriction([restricted, Sources.of(["192.0.2.0/24"])]) == Sources.of(
        ["10.0.0.0/8", "192.0.2.0/24"]
    )


def test_controller_handling_rules():
    assert service_handled(obj(spec={"loadBalancerClass": "service.k8s.aws/nlb"}))
    assert service_handled(
        obj(annotations={"service.beta.kubernetes.io/aws-load-balancer-type": "external"})
    )
    assert not service_handled(obj(spec={"type": "LoadBalancer"}))
    assert ingress_handled(obj(spec={"ingressClassName": "alb"}), {"alb"})
    assert not ingress_handled(obj(spec={"ingressClassName": "nginx"}), {"alb"})


def test_patch_sets_both_annotations_and_records_what_it_replaced():
    ingress = obj(annotations={"alb.ingress.kubernetes.io/security-groups": "sg-0aaaaaaaaaaaaaaaa"})
    patch = annotation_patch(ingress, INGRESS, "sg-0bbbbbbbbbbbbbbbb")
    assert patch is not None
    assert patch["alb.ingress.kubernetes.io/security-groups"] == "sg-0bbbbbbbbbbbbbbbb"
    assert patch["alb.ingress.kubernetes.io/manage-backend-security-group-rules"] == "true"
    assert json.loads(patch["frontguard.io/replaced"] or "") == {
        "alb.ingress.kubernetes.io/manage-backend-security-group-rules": None,
        "alb.ingress.kubernetes.io/security-groups": "sg-0aaaaaaaaaaaaaaaa",
    }


def test_patch_is_none_when_annotations_already_right():
    done = obj(
        annotations={
            "service.beta.kubernetes.io/aws-load-balancer-security-groups": "sg-0bbbbbbbbbbbbbbbb",
            "service.beta.kubernetes.io/aws-load-balancer-manage-backend-security-group-rules": "true",
        }
    )
    assert annotation_patch(done, SERVICE, "sg-0bbbbbbbbbbbbbbbb") is None


def test_frontend_nlb_is_governed_by_its_own_annotation():
    patch = annotation_patch(obj(), FRONTEND_NLB, "sg-0bbbbbbbbbbbbbbbb")
    assert patch is not None
    assert "alb.ingress.kubernetes.io/frontend-nlb-security-groups" in patch
    assert "alb.ingress.kubernetes.io/security-groups" not in patch


def test_owner_naming_only_approved_groups_is_compliant():
    policy = Policy.from_document({"approved_security_groups": ["sg-0aaaaaaaaaaaaaaaa"]})
    team = obj(
        annotations={
            "alb.ingress.kubernetes.io/security-groups": "sg-0aaaaaaaaaaaaaaaa",
            "alb.ingress.kubernetes.io/manage-backend-security-group-rules": "true",
        }
    )
    assert approved_only(team, INGRESS, policy)
    assert not approved_only(obj(), INGRESS, policy)
