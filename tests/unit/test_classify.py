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


def test_gateway_stack_tags_name_the_gateway():
    alb = classify({"elbv2.k8s.aws/cluster": "prod", "gateway.k8s.aws.alb/stack": "gw/main"})
    nlb = classify({"elbv2.k8s.aws/cluster": "prod", "gateway.k8s.aws.nlb/stack": "gw/tcp"})
    assert alb.owner == OwnerRef(OwnerKind.GATEWAY, "gw", "main")
    assert nlb.owner == OwnerRef(OwnerKind.GATEWAY, "gw", "tcp")
    malformed = classify({"elbv2.k8s.aws/cluster": "prod", "gateway.k8s.aws.alb/stack": "x"})
    assert malformed.owner is None and "malformed" in (malformed.skip_reason or "")


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (
            {"eks:eks-cluster-name": "auto", "ingress.eks.amazonaws.com/stack": "a/b"},
            OwnerRef(OwnerKind.INGRESS, "a", "b", auto_mode=True),
        ),
        (
            {"eks:eks-cluster-name": "auto", "ingress.eks.amazonaws.com/stack": "shared"},
            OwnerRef(OwnerKind.INGRESS_GROUP, group="shared", auto_mode=True),
        ),
        (
            {"eks:eks-cluster-name": "auto", "service.eks.amazonaws.com/stack": "a/svc"},
            OwnerRef(OwnerKind.SERVICE, "a", "svc", auto_mode=True),
        ),
        (
            {"eks:eks-cluster-name": "auto", "gateway.eks.amazonaws.com.alb/stack": "a/gw"},
            OwnerRef(OwnerKind.GATEWAY, "a", "gw", auto_mode=True),
        ),
    ],
)
def test_auto_mode_load_balancers_get_their_owner_kind_marked_auto_mode(tags, expected):
    result = classify(tags)
    assert result.owner == expected
    assert result.owner is not None and "EKS Auto Mode" in result.owner.describe()
    assert OwnerRef.from_dict(result.owner.as_dict()) == expected


def test_auto_mode_cluster_tag_without_stack_tag_is_not_ours():
    assert classify({"eks:eks-cluster-name": "auto"}).owner is None


def test_malformed_service_stack_tag_is_skipped_with_reason():
    result = classify({"elbv2.k8s.aws/cluster": "prod", "service.k8s.aws/stack": "no-slash"})
    assert result.owner is None
    assert "malformed" in (result.skip_reason or "")
