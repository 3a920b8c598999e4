import copy
from typing import Any

import pytest
from frontguard.errors import InvalidEventError
from frontguard.handlers.intake import (
    Ignored,
    ManagedSecurityGroupCreated,
    NewLoadBalancer,
    parse_create_load_balancer,
    parse_event,
)

ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/k8s-shop-web/abc"
EVENT: dict[str, Any] = {
    "version": "0",
    "id": "e-1",
    "detail-type": "AWS API Call via CloudTrail",
    "source": "aws.elasticloadbalancing",
    "account": "123456789012",
    "region": "eu-west-1",
    "detail": {
        "eventSource": "elasticloadbalancing.amazonaws.com",
        "eventName": "CreateLoadBalancer",
        "apiVersion": "2015-12-01",
        "eventID": "ct-1",
        "userAgent": "elbv2.k8s.aws/v2.14.1",
        "requestParameters": {
            "name": "k8s-shop-web",
            "tags": [{"key": "elbv2.k8s.aws/cluster", "value": "prod"}],
        },
        "responseElements": {"loadBalancers": [{"loadBalancerArn": ARN}]},
    },
}


def event_with(**detail_changes):
    event = copy.deepcopy(EVENT)
    for key, value in detail_changes.items():
        if value is None:
            event["detail"].pop(key, None)
        else:
            event["detail"][key] = value
    return event


def test_controller_create_load_balancer_is_accepted():
    parsed = parse_create_load_balancer(EVENT)
    assert parsed == NewLoadBalancer(ARN, "123456789012", "eu-west-1", "ct-1", "prod")


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"errorCode": "AccessDenied"}, "failed"),
        ({"apiVersion": "2012-06-01"}, "Classic"),
        ({"eventName": "DeleteLoadBalancer"}, "eventName"),
        (
            {"requestParameters": {"tags": [{"key": "team", "value": "x"}]}},
            "elbv2.k8s.aws/cluster",
        ),
        # A console-made ALB: CloudTrail's requestParameters carry no tags at all.
        (
            {"requestParameters": {"name": "console-alb", "type": "application"}},
            "elbv2.k8s.aws/cluster",
        ),
    ],
)
def test_events_frontguard_does_not_act_on_are_ignored_with_reason(changes, reason):
    parsed = parse_create_load_balancer(event_with(**changes))
    assert isinstance(parsed, Ignored)
    assert reason in parsed.reason


def test_other_detail_types_are_ignored():
    event = copy.deepcopy(EVENT)
    event["detail-type"] = "Scheduled Event"
    assert isinstance(parse_create_load_balancer(event), Ignored)


@pytest.mark.parametrize(
    ("event", "missing"),
    [
        ("not an object", "not a JSON object"),
        ({}, "detail-type"),
        ({"detail-type": "AWS API Call via CloudTrail"}, "detail"),
        (event_with(responseElements=None), "responseElements"),
        (event_with(responseElements={"loadBalancers": []}), "loadBalancers[0]"),
        (event_with(responseElements={"loadBalancers": [{}]}), "loadBalancerArn"),
        (event_with(responseElements={"loadBalancers": [{"loadBalancerArn": 7}]}), "valid string"),
        (
            event_with(responseElements={"loadBalancers": [{"loadBalancerArn": "my-lb"}]}),
            "not an ARN",
        ),
    ],
)
def test_malformed_events_name_what_is_missing(event, missing):
    with pytest.raises(InvalidEventError) as raised:
        parse_create_load_balancer(event)
    assert missing in str(raised.value)


def test_auto_mode_create_load_balancer_is_accepted_with_its_cluster_tag():
    event = event_with(
        requestParameters={
            "name": "k8s-shop-auto",
            "tags": [
                {"key": "eks:eks-cluster-name", "value": "auto"},
                {"key": "ingress.eks.amazonaws.com/stack", "value": "shop/auto"},
            ],
        }
    )
    parsed = parse_create_load_balancer(event)
    assert parsed == NewLoadBalancer(ARN, "123456789012", "eu-west-1", "ct-1", "auto")


# --- the controller's CreateSecurityGroup of a managed SG (issue 17 item 4) -------------------

MANAGED_TAGS = [
    {"key": "elbv2.k8s.aws/cluster", "value": "prod"},
    {"key": "ingress.k8s.aws/stack", "value": "shop/web"},
    {"key": "ingress.k8s.aws/resource", "value": "ManagedLBSecurityGroup"},
]
SG_EVENT: dict[str, Any] = {
    "version": "0",
    "id": "e-2",
    "detail-type": "AWS API Call via CloudTrail",
    "source": "aws.ec2",
    "account": "123456789012",
    "region": "eu-west-1",
    "detail": {
        "eventSource": "ec2.amazonaws.com",
        "eventName": "CreateSecurityGroup",
        "eventID": "ct-2",
        "requestParameters": {
            "groupName": "k8s-shop-web-4e1e34cae5",
            "groupDescription": "[k8s] Managed SecurityGroup for LoadBalancer",
            "vpcId": "vpc-0123",
            "tagSpecificationSet": {
                "items": [{"resourceType": "security-group", "tags": MANAGED_TAGS}]
            },
        },
        "responseElements": {"_return": True, "groupId": "sg-0abc"},
    },
}


def sg_event_with(tags=None, **detail_changes):
    event = copy.deepcopy(SG_EVENT)
    if tags is not None:
        spec = event["detail"]["requestParameters"]["tagSpecificationSet"]["items"][0]
        spec["tags"] = tags
    for key, value in detail_changes.items():
        event["detail"][key] = value
    return event


def test_managed_sg_is_parsed_into_cluster_stack_group_and_vpc():
    parsed = parse_event(SG_EVENT)
    assert parsed == ManagedSecurityGroupCreated(
        cluster="prod",
        prefix="ingress.k8s.aws",
        stack="shop/web",
        group_id="sg-0abc",
        group_name="k8s-shop-web-4e1e34cae5",
        vpc_id="vpc-0123",
        account="123456789012",
        region="eu-west-1",
        event_id="ct-2",
    )
    assert parsed.stack_tag == "ingress.k8s.aws/stack"


@pytest.mark.parametrize(
    "prefix", ["service.k8s.aws", "gateway.k8s.aws.alb", "gateway.k8s.aws.nlb"]
)
def test_every_controller_prefix_is_recognised(prefix):
    tags = [
        {"key": "elbv2.k8s.aws/cluster", "value": "prod"},
        {"key": f"{prefix}/stack", "value": "edge/public"},
        {"key": f"{prefix}/resource", "value": "ManagedLBSecurityGroup"},
    ]
    parsed = parse_event(sg_event_with(tags))
    assert isinstance(parsed, ManagedSecurityGroupCreated)
    assert (parsed.prefix, parsed.stack) == (prefix, "edge/public")


@pytest.mark.parametrize(
    ("tags", "reason"),
    [
        # the shared backend SG: the controller's, but no load balancer of its own
        (
            [
                {"key": "elbv2.k8s.aws/cluster", "value": "prod"},
                {"key": "elbv2.k8s.aws/resource", "value": "backend-sg"},
            ],
            "not a managed load balancer SG",
        ),
        # key and value of the managed tag in different tags (EventBridge may match it)
        (
            [
                {"key": "elbv2.k8s.aws/cluster", "value": "ManagedLBSecurityGroup"},
                {"key": "ingress.k8s.aws/resource", "value": "shop"},
            ],
            "not a managed load balancer SG",
        ),
        # Auto Mode's prefix is not the controller's (its LBs are reported, never patched)
        (
            [
                {"key": "eks:eks-cluster-name", "value": "prod"},
                {"key": "ingress.eks.amazonaws.com/resource", "value": "ManagedLBSecurityGroup"},
            ],
            "not a managed load balancer SG",
        ),
        ([MANAGED_TAGS[0], MANAGED_TAGS[2]], "without its elbv2.k8s.aws/cluster or"),
        ([MANAGED_TAGS[1], MANAGED_TAGS[2]], "without its elbv2.k8s.aws/cluster or"),
        ([], "not a managed load balancer SG"),
    ],
)
def test_security_groups_that_are_not_a_managed_sg_are_ignored(tags, reason):
    parsed = parse_event(sg_event_with(tags))
    assert isinstance(parsed, Ignored)
    assert reason in parsed.reason


def test_tags_of_another_resource_type_do_not_count():
    event = copy.deepcopy(SG_EVENT)
    event["detail"]["requestParameters"]["tagSpecificationSet"]["items"][0]["resourceType"] = (
        "instance"
    )
    assert isinstance(parse_event(event), Ignored)


def test_a_denied_managed_sg_keeps_its_error_code_and_has_no_group():
    parsed = parse_event(
        sg_event_with(errorCode="Client.UnauthorizedOperation", responseElements=None)
    )
    assert isinstance(parsed, ManagedSecurityGroupCreated)
    assert parsed.error_code == "Client.UnauthorizedOperation"
    assert parsed.group_id is None


@pytest.mark.parametrize(
    "response", [None, {"_return": True}, {"groupId": "i-0abc"}, {"groupId": 7}]
)
def test_a_successful_managed_sg_without_a_group_id_is_malformed(response):
    with pytest.raises(InvalidEventError):
        parse_event(sg_event_with(responseElements=response))


def test_parse_event_still_routes_create_load_balancer():
    assert isinstance(parse_event(EVENT), NewLoadBalancer)


# --- any shape: parsed, ignored, or InvalidEventError; never another exception ---------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


def _replaced(event: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copied = copy.deepcopy(event)
    target = copied
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return copied


def _parses_or_refuses(event: Any) -> None:
    try:
        result = parse_event(event)
    except InvalidEventError:
        return
    assert isinstance(result, NewLoadBalancer | ManagedSecurityGroupCreated | Ignored)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_field_of_any_shape_is_parsed_ignored_or_refused(data):
    """R2-9 and issue 22 item 3: one field of a valid record replaced by any JSON value."""
    base = data.draw(st.sampled_from([EVENT, SG_EVENT]))
    path = data.draw(st.sampled_from(_paths(base)))
    _parses_or_refuses(_replaced(base, path, data.draw(JSON_VALUES)))


@settings(max_examples=200, deadline=None)
@given(JSON_VALUES)
def test_any_json_document_is_parsed_ignored_or_refused(document):
    _parses_or_refuses(document)


@pytest.mark.parametrize(
    "event",
    [
        _replaced(EVENT, ("detail", "requestParameters", "tags"), 7),
        _replaced(EVENT, ("detail", "requestParameters"), "a string"),
        _replaced(EVENT, ("detail", "requestParameters"), [1, 2]),
        _replaced(EVENT, ("detail", "requestParameters"), 3),
        _replaced(
            SG_EVENT, ("detail", "requestParameters", "tagSpecificationSet", "items", 0, "tags"), 7
        ),
        _replaced(SG_EVENT, ("detail", "requestParameters"), "a string"),
    ],
)
def test_wrongly_typed_nested_fields_are_refused_or_ignored(event):
    """Security review r2, R2-9: the variants that raised TypeError/AttributeError."""
    _parses_or_refuses(event)


# --- wrong types at the edge (issue 22 item 3, security review R2-9) ------------------------

WRONG_SHAPES = [
    # (the event, the field path the error names)
    (event_with(requestParameters="tags=prod"), "detail.requestParameters"),
    (event_with(requestParameters=["tags"]), "detail.requestParameters"),
    (event_with(requestParameters={"tags": 7}), "detail.requestParameters.tags"),
    (event_with(requestParameters={"tags": ["x"]}), "detail.requestParameters.tags.0"),
    (
        event_with(requestParameters={"tags": [{"key": 3, "value": "prod"}]}),
        "detail.requestParameters.tags.0.key",
    ),
    (event_with(responseElements="loadBalancers"), "detail.responseElements"),
    (
        event_with(responseElements={"loadBalancers": {"0": {}}}),
        "detail.responseElements.loadBalancers",
    ),
    (event_with(eventName=["CreateLoadBalancer"]), "detail.eventName"),
    (event_with(userIdentity="root"), "detail.userIdentity"),
    ({**EVENT, "detail": ["x"]}, "detail"),
    ({**EVENT, "detail-type": 5}, "detail-type"),
    ({**EVENT, "account": 123456789012}, "account"),
    (sg_event_with(requestParameters="groupName"), "detail.requestParameters"),
    (
        sg_event_with([{"key": "elbv2.k8s.aws/cluster", "value": 7}]),
        "detail.requestParameters.tagSpecificationSet.items.0.tags.0.value",
    ),
    (
        sg_event_with(7),
        "detail.requestParameters.tagSpecificationSet.items.0.tags",
    ),
    (
        sg_event_with(requestParameters={"tagSpecificationSet": {"items": "security-group"}}),
        "detail.requestParameters.tagSpecificationSet.items",
    ),
    (sg_event_with(responseElements={"groupId": ["sg-1"]}), "detail.responseElements.groupId"),
]


@pytest.mark.parametrize(("event", "field"), WRONG_SHAPES)
def test_a_field_of_the_wrong_type_is_malformed_naming_its_path(event, field):
    with pytest.raises(InvalidEventError) as raised:
        parse_event(event)
    assert raised.value.field == field
    assert str(raised.value).startswith(field)


def test_a_missing_field_is_malformed_naming_its_path():
    with pytest.raises(InvalidEventError) as raised:
        parse_event(event_with(responseElements={"loadBalancers": [{}]}))
    assert raised.value.field == "detail.responseElements.loadBalancers.0.loadBalancerArn"
