"""Properties of plans (hypothesis): the planned rules never admit a source outside what both
the policy and the owner allow, and planning + converging twice equals once (against a pure
model of the SG, and against the sandbox for a few examples)."""

from __future__ import annotations

import ipaddress
from typing import Any

from frontguard.adapters import aws
from frontguard.controller.restrictions import Restrictions
from frontguard.controller.security_groups import annotation_keys
from frontguard.engine import plan
from frontguard.model import Listener, LoadBalancer, OwnerKind, OwnerRef, PermissionRule
from frontguard.policy import Policy
from frontguard.sources import Sources
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox import Sandbox
from tests.reliability.conftest import Record

VPC = ["10.0.0.0/16", "10.1.0.0/16"]
IDS = ["pl-0123456789abcdef0", "pl-00000000000000001", "sg-0123456789abcdef0"]

networks = st.one_of(
    st.builds(
        lambda a, p: str(ipaddress.ip_network((a, p), strict=False)),
        st.integers(0, 2**32 - 1),
        st.integers(0, 32),
    ),
    st.builds(
        lambda a, p: str(ipaddress.ip_network((a, p), strict=False)),
        st.integers(0, 2**128 - 1),
        st.integers(0, 128),
    ),
)
policy_sources = st.lists(st.one_of(networks, st.sampled_from([*IDS, "vpc"])), max_size=5)
owner_sources = st.one_of(
    st.none(), st.lists(st.one_of(networks, st.sampled_from(IDS)), max_size=5)
)
rules = st.lists(
    st.fixed_dictionaries(
        {
            "namespace": st.sampled_from(["*", "shop", "team-*"]),
            "scheme": st.sampled_from(["*", "internet-facing", "internal"]),
            "kind": st.sampled_from(["*", "ingress", "service"]),
            "sources": policy_sources,
        }
    ),
    max_size=3,
)
listeners = st.lists(
    st.builds(
        Listener,
        st.sampled_from([53, 80, 443, 8443]),
        st.sampled_from(["HTTP", "HTTPS", "TCP", "UDP", "TCP_UDP"]),
    ),
    min_size=1,
    max_size=3,
)
LB = LoadBalancer(
    arn="arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/k8s-shop-web/1",
    name="k8s-shop-web",
    type="application",
    scheme="internet-facing",
    vpc_id="vpc-1",
    security_groups=("sg-00000000000000001",),
    tags={"elbv2.k8s.aws/cluster": "prod", "ingress.k8s.aws/stack": "shop/web"},
)
OWNER = OwnerRef(OwnerKind.INGRESS, "shop", "web")


def _admitted_by(source: str, allowed: list[str]) -> bool:
    if source.startswith(("pl-", "sg-")):
        return source in allowed
    net = ipaddress.ip_network(source)
    union = Sources.of(a for a in allowed if not a.startswith(("pl-", "sg-"))).cidrs
    return any(net.version == o.version and net.subnet_of(o) for o in union)  # type: ignore[arg-type]


def _plan(document: dict[str, Any], owner: list[str] | None, ls: list[Listener]) -> plan.SourcePlan:
    allowed = plan.policy_sources(
        Policy.from_document(document), lb=LB, owner=OWNER, namespaces=["shop"], vpc_cidrs=VPC
    )
    restriction = Restrictions.everywhere(None if owner is None else Sources.of(owner))
    return plan.plan_rules(ls, allowed, restriction)


@settings(max_examples=300, deadline=None)
@given(rules=rules, default=policy_sources, owner=owner_sources, ls=listeners)
def test_planned_rules_never_admit_a_source_outside_policy_and_owner(rules, default, owner, ls):
    document = {"mode": "enforce", "rules": rules, "default_sources": default}
    policy = Policy.from_document(document)
    chosen = policy.sources_for(cluster="prod", namespace="shop", scheme=LB.scheme, kind="ingress")
    allowed_by_policy = [s for s in chosen if s != "vpc"] + (VPC if "vpc" in chosen else [])

    planned = _plan(document, owner, ls).rules

    for rule in planned:
        assert _admitted_by(rule.source, allowed_by_policy), rule
        assert owner is None or _admitted_by(rule.source, owner), rule
        assert rule.port in {listener.port for listener in ls}
        assert rule.protocol in {p for listener in ls for p in plan.listener_protocols(listener)}


existing_rules = st.frozensets(
    st.builds(
        PermissionRule,
        st.sampled_from(["tcp", "udp"]),
        st.sampled_from([22, 80, 443]),
        st.one_of(networks, st.sampled_from(IDS)),
    ),
    max_size=6,
)


def _model_converge(
    group: aws.SecurityGroup, planned: frozenset[PermissionRule]
) -> aws.SecurityGroup:
    """What EC2 does with converge_rules' revoke + authorize: a pure model of the SG."""
    changes = aws.rule_changes(group, planned)
    rules = (group.rules - changes.removed) | changes.added
    return aws.SecurityGroup(group.id, group.name, group.vpc_id, group.tags, frozenset(rules))


@settings(max_examples=300, deadline=None)
@given(
    rules=rules, default=policy_sources, owner=owner_sources, ls=listeners, existing=existing_rules
)
def test_planning_and_converging_twice_equals_once(rules, default, owner, ls, existing):
    document = {"mode": "enforce", "rules": rules, "default_sources": default}
    group = aws.SecurityGroup("sg-0000000000000000a", "fg", "vpc-1", {}, existing)

    once = _model_converge(group, _plan(document, owner, ls).rules)
    twice = _model_converge(once, _plan(document, owner, ls).rules)

    assert once.rules == _plan(document, owner, ls).rules
    assert twice == once
    assert not aws.rule_changes(once, _plan(document, owner, ls).rules).changed

    obj = {"metadata": {"namespace": "shop", "name": "web", "annotations": {}}}
    patch = plan.annotation_patch(obj, annotation_keys(OWNER), [once.id])
    assert patch is not None
    patched = {
        "metadata": {
            **obj["metadata"],
            "annotations": {k: v for k, v in patch.items() if v is not None},
        }
    }
    assert plan.annotation_patch(patched, annotation_keys(OWNER), [once.id]) is None


def test_converging_twice_against_the_sandbox_changes_nothing_the_second_time(
    sandbox: Sandbox, record: Record
):
    ec2 = sandbox.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    examples = [
        ({"default_sources": ["203.0.113.0/24", "2001:db8::/32"]}, None, [Listener(443, "HTTPS")]),
        (
            {"default_sources": ["0.0.0.0/0"]},
            ["203.0.113.10/32", "198.51.100.0/24"],
            [Listener(53, "TCP_UDP")],
        ),
        (
            {"default_sources": ["pl-0123456789abcdef0", "10.0.0.0/8"]},
            ["10.1.0.0/16"],
            [Listener(80, "HTTP"), Listener(443, "HTTPS")],
        ),
    ]
    second_changes = 0
    for index, (document, owner, ls) in enumerate(examples):
        planned = _plan({"mode": "enforce", **document}, owner, ls).rules
        group_id = ec2.create_security_group(GroupName=f"fg-{index}", Description="t", VpcId=vpc)[
            "GroupId"
        ]
        ec2.authorize_security_group_ingress(  # a stale rule to revoke
            GroupId=group_id, IpProtocol="tcp", FromPort=22, ToPort=22, CidrIp="0.0.0.0/0"
        )
        for _ in range(2):
            [raw] = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
            changes = aws.converge_rules(ec2, aws.parse_security_group(raw), planned)
        [raw] = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
        assert aws.parse_security_group(raw).rules == planned
        second_changes += int(changes.changed)
    record(
        "Properties",
        "plan + converge twice against moto (3 examples)",
        "second converge: no change",
        f"second converge changed {second_changes} of 3",
    )
    assert second_changes == 0
