import pytest
from frontguard.model import OwnerKind, OwnerRef, classify


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (
            {"elbv2.k8s.aws/cluster": "prod", "service.k8s.aws/stack": "legacy/api"},
            OwnerRef(OwnerKind.SERVICE, "legacy", "api"),
        ),
        (
            {"elbv2.k8s.aws/cluster": "prod", "ingress.k8s.aws/stack": "shop/web"},
            OwnerRef(OwnerKind.INGRESS, "shop", "web"),
        ),
        (
            {"elbv2.k8s.aws/cluster": "prod", "ingress.k8s.aws/stack": "shared"},
            OwnerRef(OwnerKind.INGRESS_GROUP, group="shared"),
        ),
        (
            {
                "elbv2.k8s.aws/cluster": "prod",
                "ingress.k8s.aws/stack": "shop/web",
                "ingress.k8s.aws/resource": "FrontendNlb",
            },
            OwnerRef(OwnerKind.INGRESS, "shop", "web", frontend_nlb=True),
        ),
    ],
)
def test_owner_resolved_from_stack_tag(tags, expected):
    assert classify(tags).owner == expected


def test_load_balancer_without_controller_tags_is_not_ours():
    result = classify({"Name": "terraform-lb"})
    assert result.owner is None
    assert "not created by the AWS Load Balancer Controller" in (result.skip_reason or "")


def test_gateway_and_auto_mode_are_recognised_and_skipped():
    gateway = classify({"elbv2.k8s.aws/cluster": "prod", "gateway.k8s.aws.alb/stack": "gw/main"})
    assert gateway.owner == OwnerRef(OwnerKind.GATEWAY, "gw", "main")
    assert gateway.skip_reason
    auto = classify({"eks:eks-cluster-name": "auto", "ingress.eks.amazonaws.com/stack": "a/b"})
    assert auto.owner is not None and auto.owner.kind is OwnerKind.AUTO_MODE
    assert auto.skip_reason


def test_malformed_service_stack_tag_is_skipped_with_reason():
    result = classify({"elbv2.k8s.aws/cluster": "prod", "service.k8s.aws/stack": "no-slash"})
    assert result.owner is None
    assert "malformed" in (result.skip_reason or "")
