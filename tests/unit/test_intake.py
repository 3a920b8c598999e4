import copy
from typing import Any

import pytest
from frontguard.errors import InvalidEventError
from frontguard.handlers.intake import Ignored, NewLoadBalancer, parse_create_load_balancer

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
        (event_with(responseElements={"loadBalancers": [{"loadBalancerArn": 7}]}), "not an ARN"),
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
