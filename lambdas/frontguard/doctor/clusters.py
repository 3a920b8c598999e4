"""The doctor's cluster area: the cluster exists and admits access entries, frontguard's
roles have their entries and exactly the Kubernetes rights they need, and the controller runs
with the flags frontguard depends on. Kubernetes reads go through EKS (DescribeCluster + a
presigned STS token), as the functions do."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import quote

from botocore.exceptions import ClientError

from frontguard.adapters.kube import KubeClient
from frontguard.doctor.deployment import Client, Deployment, paged
from frontguard.doctor.report import Check, failed, passed
from frontguard.errors import FrontguardError

# Access-entry modes that admit access entries:
# https://docs.aws.amazon.com/eks/latest/userguide/grant-k8s-access.html#set-cam
ACCESS_ENTRY_MODES: Final = frozenset({"API", "API_AND_CONFIG_MAP"})
REMEDIATING_GROUP: Final = "frontguard"
READ_ONLY_GROUP: Final = "frontguard-readonly"
# (verb, API group, resource) each Kubernetes group needs (infra/rbac.yaml), and rights it
# must not have: "exactly what they need".
READS: Final = (
    ("get", "", "services"),
    ("list", "", "services"),
    ("get", "networking.k8s.io", "ingresses"),
    ("list", "networking.k8s.io", "ingresses"),
    ("list", "networking.k8s.io", "ingressclasses"),
    ("get", "elbv2.k8s.aws", "ingressclassparams"),
    ("get", "gateway.networking.k8s.io", "gateways"),
    ("get", "gateway.networking.k8s.io", "gatewayclasses"),
    ("get", "gateway.k8s.aws", "loadbalancerconfigurations"),
    ("list", "", "events"),
)
WRITES: Final = (
    ("patch", "", "services"),
    ("patch", "networking.k8s.io", "ingresses"),
    ("patch", "gateway.networking.k8s.io", "gateways"),
    ("create", "gateway.k8s.aws", "loadbalancerconfigurations"),
    ("delete", "gateway.k8s.aws", "loadbalancerconfigurations"),
)
NEVER: Final = (("get", "", "secrets"), ("delete", "", "services"), ("update", "", "services"))
NEEDED: Final[Mapping[str, tuple[tuple[str, str, str], ...]]] = {
    REMEDIATING_GROUP: (*READS, *WRITES),
    READ_ONLY_GROUP: READS,
}
FORBIDDEN: Final[Mapping[str, tuple[tuple[str, str, str], ...]]] = {
    REMEDIATING_GROUP: NEVER,
    READ_ONLY_GROUP: (*WRITES, *NEVER),
}
ROLE_GROUPS: Final = {
    "Events": REMEDIATING_GROUP,
    "Scan": REMEDIATING_GROUP,
    "Remediate": REMEDIATING_GROUP,
    "Verify": READ_ONLY_GROUP,
}
# The controller: its Deployment (Helm chart defaults) and the flags frontguard depends on
# (pkg/config/controller_config.go: --enable-backend-security-group, default true;
# pkg/config/ingress_config.go: --ingress-class, default "alb";
# pkg/config/service_config.go: --load-balancer-class, default "service.k8s.aws/nlb").
CONTROLLER_NAMESPACE: Final = "kube-system"
CONTROLLER_NAME: Final = "aws-load-balancer-controller"
CONTROLLER_FLAGS: Final = {
    "enable-backend-security-group": "true",
    "ingress-class": "alb",
    "load-balancer-class": "service.k8s.aws/nlb",
}


def check_cluster(
    eks: Client,
    connect: Callable[[str], KubeClient],
    deployment: Deployment,
    cluster: str,
) -> list[Check]:
    area = f"cluster {cluster}"
    try:
        described = eks.describe_cluster(name=cluster)["cluster"]
    except ClientError as error:
        return [
            failed(
                area,
                "exists",
                f"DescribeCluster: {error.response['Error'].get('Code')}",
                "name the target's clusters as EKS knows them in this region, and redeploy",
            )
        ]
    checks = [
        passed(
            area,
            "exists",
            f"{described.get('status', 'ACTIVE')}, Kubernetes {described.get('version', '?')}",
        )
    ]
    mode = (described.get("accessConfig") or {}).get("authenticationMode", "CONFIG_MAP")
    if mode not in ACCESS_ENTRY_MODES:
        checks.append(
            failed(
                area,
                "authentication mode",
                f"{mode}: access entries are not admitted",
                f"`aws eks update-cluster-config --name {cluster} --access-config "
                "authenticationMode=API_AND_CONFIG_MAP`",
            )
        )
        return checks
    checks.append(passed(area, "authentication mode", mode))
    checks.extend(_access_entries(eks, deployment, cluster, area))
    try:
        kube = connect(cluster)
        checks.extend(_access_reviews(kube, area))
        checks.append(_controller(kube, area))
    except FrontguardError as error:
        checks.append(
            failed(
                area,
                "kubernetes",
                f"cannot reach the API server: {error}",
                "check the endpoint's network access (private clusters need the `vpc` "
                "section) and your own access entry",
            )
        )
    return checks


def _access_entries(eks: Client, deployment: Deployment, cluster: str, area: str) -> list[Check]:
    entries = set(paged(eks, "list_access_entries", "accessEntries", clusterName=cluster))
    checks = []
    for name in deployment.functions:
        group = ROLE_GROUPS[name]
        role = deployment.role(name)
        if role not in entries:
            checks.append(
                failed(
                    area,
                    f"access entry {name}",
                    f"no access entry for {role}",
                    "redeploy the stack (it creates the entries); check that CloudFormation "
                    "did not roll them back",
                )
            )
            continue
        entry = eks.describe_access_entry(clusterName=cluster, principalArn=role)["accessEntry"]
        groups = entry.get("kubernetesGroups", [])
        if groups != [group]:
            checks.append(
                failed(
                    area,
                    f"access entry {name}",
                    f"groups {groups}, expected [{group}]",
                    "redeploy the stack",
                )
            )
        else:
            checks.append(
                passed(area, f"access entry {name}", f"{role.rsplit('/', 1)[-1]} -> {group}")
            )
    return checks


def _access_reviews(kube: KubeClient, area: str) -> list[Check]:
    """SubjectAccessReviews for each group: every right it needs, none it must not have.
    https://kubernetes.io/docs/reference/access-authn-authz/authorization/#checking-api-access"""
    checks = []
    for group in (REMEDIATING_GROUP, READ_ONLY_GROUP):
        missing = [r for r in NEEDED[group] if not _allowed(kube, group, r)]
        extra = [r for r in FORBIDDEN[group] if _allowed(kube, group, r)]
        if missing or extra:
            parts = []
            if missing:
                parts.append("missing " + ", ".join(_right(r) for r in missing))
            if extra:
                parts.append("more than needed: " + ", ".join(_right(r) for r in extra))
            checks.append(
                failed(
                    area,
                    f"rights of {group}",
                    "; ".join(parts),
                    "`kubectl apply -f infra/rbac.yaml` and remove other bindings of the group",
                )
            )
        else:
            checks.append(
                passed(
                    area, f"rights of {group}", f"exactly the {len(NEEDED[group])} rights it needs"
                )
            )
    return checks


def _right(right: tuple[str, str, str]) -> str:
    verb, group, resource = right
    return f"{verb} {resource}{'.' + group if group else ''}"


def _allowed(kube: KubeClient, group: str, right: tuple[str, str, str]) -> bool:
    verb, api_group, resource = right
    review = kube.call(
        "POST",
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        body={
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": f"frontguard-doctor:{group}",
                "groups": [group],
                "resourceAttributes": {"verb": verb, "group": api_group, "resource": resource},
            },
        },
    )
    return bool((review.get("status") or {}).get("allowed"))


def _controller(kube: KubeClient, area: str) -> Check:
    path = f"/apis/apps/v1/namespaces/{CONTROLLER_NAMESPACE}/deployments/{quote(CONTROLLER_NAME)}"
    try:
        deployment = kube.call("GET", path)
    except FrontguardError:
        return failed(
            area,
            "controller",
            f"no Deployment {CONTROLLER_NAMESPACE}/{CONTROLLER_NAME}",
            "install the AWS Load Balancer Controller (Helm chart eks/aws-load-balancer-controller)",
        )
    flags = controller_flags(deployment)
    backend = flags.get("enable-backend-security-group", "true")
    described = ", ".join(f"--{k}={v}" for k, v in sorted(flags.items()) if k in CONTROLLER_FLAGS)
    if backend.lower() != "true":
        return failed(
            area,
            "controller",
            "--enable-backend-security-group=false: the controller does not add rules for "
            "frontguard's SG to the targets, so traffic through it would be dropped",
            "install the controller with enableBackendSecurityGroup=true (the chart default)",
        )
    ready = (deployment.get("status") or {}).get("readyReplicas", 0)
    if not ready:
        return failed(
            area,
            "controller",
            f"installed but no ready replica ({described})",
            "`kubectl -n kube-system describe deployment aws-load-balancer-controller`",
        )
    return passed(area, "controller", f"ready; {described or 'default flags'}")


def controller_flags(deployment: Mapping[str, Any]) -> dict[str, str]:
    """The controller container's ``--name=value`` flags, defaults filled in."""
    containers = (((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
        "containers"
    ) or []
    args: list[str] = []
    for container in containers:
        args.extend(container.get("args") or [])
    flags = dict(CONTROLLER_FLAGS)
    for arg in args:
        name, _, value = arg.lstrip("-").partition("=")
        flags[name] = value or "true"
    return flags
