import json

from frontguard.controller.restrictions import Restrictions
from frontguard.controller.security_groups import annotation_keys
from frontguard.engine.plan import (
    annotation_patch,
    approved_only,
    kept_approved,
    plan_rules,
    policy_sources,
)
from frontguard.model import Listener, LoadBalancer, OwnerKind, OwnerRef, PermissionRule
from frontguard.policy import Policy
from frontguard.sources import Sources

SERVICE = OwnerRef(OwnerKind.SERVICE, "legacy", "api")
INGRESS = OwnerRef(OwnerKind.INGRESS, "shop", "web")
GROUP = OwnerRef(OwnerKind.INGRESS_GROUP, group="shop")
FRONTEND_NLB = OwnerRef(OwnerKind.INGRESS, "shop", "web", frontend_nlb=True)
APPROVED = "sg-0aaaaaaaaaaaaaaaa"
OURS = "sg-0bbbbbbbbbbbbbbbb"
LB = LoadBalancer(
    arn="arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/k8s-shop/1",
    name="k8s-shop",
    type="application",
    scheme="internet-facing",
    vpc_id="vpc-1",
    security_groups=(),
    tags={"elbv2.k8s.aws/cluster": "prod"},
)


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
    planned = plan_rules(
        [Listener(443, "HTTPS"), Listener(53, "UDP"), Listener(8443, "TCP_UDP")],
        Sources.of(["10.0.0.0/8"]),
        Restrictions(),
    )
    assert planned.rules == {
        PermissionRule("tcp", 443, "10.0.0.0/8"),
        PermissionRule("udp", 53, "10.0.0.0/8"),
        PermissionRule("tcp", 8443, "10.0.0.0/8"),
        PermissionRule("udp", 8443, "10.0.0.0/8"),
    }


def test_each_port_is_narrowed_by_its_own_restriction_only():
    restrictions = Restrictions({443: Sources.of(["10.0.0.0/8"]), 80: None})
    planned = plan_rules(
        [Listener(443, "HTTPS"), Listener(80, "HTTP")], Sources.of(["0.0.0.0/0"]), restrictions
    )
    assert planned.rules == {
        PermissionRule("tcp", 443, "10.0.0.0/8"),
        PermissionRule("tcp", 80, "0.0.0.0/0"),
    }


def test_a_port_the_policy_and_owner_disagree_on_admits_nothing_and_is_named():
    restrictions = Restrictions({443: Sources.of(["192.0.2.0/24"])})
    planned = plan_rules(
        [Listener(443, "HTTPS"), Listener(80, "HTTP")], Sources.of(["10.0.0.0/8"]), restrictions
    )
    assert planned.rules == {PermissionRule("tcp", 80, "10.0.0.0/8")}
    assert planned.closed_ports == (443,)
    assert planned.beyond_policy == Sources.of(["192.0.2.0/24"])


def test_a_group_across_namespaces_gets_what_every_namespace_allows():
    policy = Policy.from_document(
        {
            "rules": [
                {"namespace": "ops", "sources": ["10.0.0.0/8"]},
                {"namespace": "web", "sources": ["0.0.0.0/0"]},
            ]
        }
    )
    allowed = policy_sources(policy, lb=LB, owner=GROUP, namespaces=["ops", "web"], vpc_cidrs=[])
    assert allowed == Sources.of(["10.0.0.0/8"])
    # Whatever the order the members come in.
    assert allowed == policy_sources(
        policy, lb=LB, owner=GROUP, namespaces=["web", "ops"], vpc_cidrs=[]
    )


def test_patch_sets_both_annotations_and_records_what_it_replaced():
    ingress = obj(annotations={"alb.ingress.kubernetes.io/security-groups": APPROVED})
    patch = annotation_patch(ingress, annotation_keys(INGRESS), [OURS])
    assert patch is not None
    assert patch["alb.ingress.kubernetes.io/security-groups"] == OURS
    assert patch["alb.ingress.kubernetes.io/manage-backend-security-group-rules"] == "true"
    assert json.loads(patch["frontguard.io/replaced"] or "") == {
        "alb.ingress.kubernetes.io/manage-backend-security-group-rules": None,
        "alb.ingress.kubernetes.io/security-groups": APPROVED,
    }


def test_patch_is_none_when_the_controller_already_reads_the_desired_values():
    done = obj(
        annotations={
            "service.beta.kubernetes.io/aws-load-balancer-security-groups": f" {OURS} ,",
            "service.beta.kubernetes.io/aws-load-balancer-manage-backend-security-group-rules": "True",
        }
    )
    assert annotation_patch(done, annotation_keys(SERVICE), [OURS]) is None


def test_frontend_nlb_patch_never_touches_the_albs_backend_rules_switch():
    team = obj(
        annotations={
            "alb.ingress.kubernetes.io/security-groups": APPROVED,
            "alb.ingress.kubernetes.io/manage-backend-security-group-rules": "false",
        }
    )
    patch = annotation_patch(team, annotation_keys(FRONTEND_NLB), [OURS])
    assert patch is not None
    assert patch.keys() == {
        "alb.ingress.kubernetes.io/frontend-nlb-security-groups",
        "frontguard.io/replaced",
    }


def test_owner_naming_only_approved_groups_is_compliant_names_resolved():
    policy = Policy.from_document({"approved_security_groups": [APPROVED]})
    keys = annotation_keys(INGRESS)
    by_name = obj(
        annotations={
            "alb.ingress.kubernetes.io/security-groups": "corp-allowlist",
            "alb.ingress.kubernetes.io/manage-backend-security-group-rules": "true",
        }
    )
    assert approved_only([by_name], keys, {"corp-allowlist": APPROVED}, policy)
    assert not approved_only([by_name], keys, {}, policy)
    assert kept_approved([by_name], keys, {"corp-allowlist": APPROVED}, policy) == [APPROVED]
    assert not approved_only([obj()], keys, {}, policy)


def test_an_unclaimed_port_of_a_fail_narrow_owner_is_named_with_what_it_admits():
    """Issue 26: the plan names the port no member claims and what it was narrowed to, so the
    alert can say so; claimed ports and restrictions that cover every port alike are not."""
    member = Sources.of(["203.0.113.64/26"])
    planned = plan_rules(
        [Listener(443, "HTTPS"), Listener(8443, "HTTPS")],
        Sources.of(["203.0.113.0/24"]),
        Restrictions({443: member}, member, fail_narrow=True),
    )
    [narrowed] = planned.narrowed
    assert (narrowed.port, narrowed.admitted) == (8443, ("203.0.113.64/26",))
    assert "port 8443 belongs to no member" in narrowed.describe()
    service = plan_rules(
        [Listener(8443, "TCP")], Sources.of(["203.0.113.0/24"]), Restrictions.everywhere(member)
    )
    assert service.narrowed == ()


def test_path_mtu_rules_come_from_each_planned_cidr_only_when_asked():
    """Issue 26: ICMP type 3 code 4 from each planned IPv4 CIDR, ICMPv6 type 2 code 0 from each
    IPv6 one, none from a prefix list (LBC:pkg/service/model_build_managed_sg.go); the
    owner's restriction and the policy narrow them like the listener rules."""
    allowed = Sources.of(["203.0.113.0/24", "2001:db8::/32", "pl-0123456789abcdef0"])
    restriction = Restrictions.everywhere(
        Sources.of(["203.0.113.64/26", "2001:db8:1::/48", "pl-0123456789abcdef0"])
    )
    listeners = [Listener(443, "TCP"), Listener(53, "UDP")]

    planned = plan_rules(listeners, allowed, restriction, path_mtu=True)

    icmp = {r for r in planned.rules if r.protocol in ("icmp", "icmpv6")}
    assert icmp == {
        PermissionRule("icmp", 3, "203.0.113.64/26"),
        PermissionRule("icmpv6", 2, "2001:db8:1::/48"),
    }
    assert [r.to_port for r in sorted(icmp)] == [4, 0]
    assert plan_rules(listeners, allowed, restriction).rules == planned.rules - icmp
