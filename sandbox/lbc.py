"""A deterministic stand-in for the AWS Load Balancer Controller (LBC) of one cluster.

`LoadBalancerController.reconcile()` does, once and synchronously, what the real controller
does on every change of a Service, Ingress or Gateway. The rules are the simulator's own
reading of the controller's source (kubernetes-sigs/aws-load-balancer-controller v3.5.0+8,
identical at v2.14.1 for everything simulated); the pure ones live in `sandbox.lbc_rules`, each
citing the file it mirrors. It never imports frontguard.

- **Options** (the controller's flags): ``ingress_class`` (``--ingress-class``, default
  ``alb``), ``enable_backend_security_group`` (``--enable-backend-security-group``, default
  true), ``enable_manage_backend_security_group_rules`` (default false),
  ``load_balancer_class`` (``--load-balancer-class``, default ``service.k8s.aws/nlb``).
- **Which objects it handles**: Ingresses classified by the ``kubernetes.io/ingress.class``
  annotation (matched against ``--ingress-class``; no IngressClass, no params), else by
  ``spec.ingressClassName`` or the default IngressClass (controller ``ingress.k8s.aws/alb``);
  Services per ``service_utils.go``; Gateways of a GatewayClass ``gateway.k8s.aws/alb|nlb``.
  Objects being deleted are left alone.
- **Stacks**: one ALB per IngressGroup (explicit: params ``group.name`` beats the annotation;
  implicit: ``ns/name``), one NLB per Service, one LB per Gateway, tagged as the controller
  tags them. Listen ports default to 443/HTTPS with a certificate (``certificate-arn``, params
  ``certificateArn``, or ``create-acm-cert`` with ``enable_certificate_management``, the
  ``EnableCertificateManagement`` gate), else 80/HTTP.
- **Managed SG**: built per listen port: each Ingress's ``inbound-cidrs`` /
  ``security-group-prefix-lists`` (or its params' ``inboundCIDRs`` / ``prefixListsIDs``) apply
  to its own ports only; a port nobody restricts is open to the world; conflicting sources on
  one port fail the model build. A Service's ``loadBalancerSourceRanges`` (else
  ``load-balancer-source-ranges``) and ``aws-load-balancer-security-group-prefix-lists`` apply
  to all its ports; with neither, the world.
- **Security groups from annotations**: parsed as the controller parses them (split, trim,
  drop empties; Go booleans), group members compared in order; names resolved through the
  ``Name`` tag in the VPC. The LB gets exactly those SGs (plus the backend SG when
  manage-backend is true); the managed SG is then deleted, retried on ``DependencyViolation``
  for the controller's 10 s, after which the reconcile fails with ``FailedDeployModel``.
- **Events and status**: model-build errors → ``FailedBuildModel`` "Failed build model due to
  ..." on every member and nothing deployed; AWS errors while deploying →
  ``FailedDeployModel`` "Failed deploy model due to ..."; success → the LB's DNS name in the
  owners' status and a Normal ``SuccessfullyReconciled`` Event.
- **Frontend NLB** (``enable-frontend-nlb``): ``frontend-nlb-security-groups`` gives exactly
  those SGs (no backend SG), else the ALB's SGs; scheme ``frontend-nlb-scheme`` or the
  controller default (internal).
- **Gateway API**: the GatewayClass's ``LoadBalancerConfiguration`` (its ``parametersRef``
  must carry a namespace) merged with the Gateway's own (same namespace) per
  ``mergingMode``; group/kind of the references are not checked; a missing configuration
  stops the Gateway's reconcile. Listeners one per port (TLS passthrough is TCP, TCP + UDP is
  TCP_UDP); the managed SG per Gateway listener: ``sourceRanges`` (nil: the world; ``[]``: no
  CIDR), IPv6 CIDRs only on a dualstack LB, ``securityGroupPrefixes``, ``enableICMP``.
- **EKS Auto Mode**: Ingresses of an IngressClass with controller ``eks.amazonaws.com/alb``
  and Services with ``loadBalancerClass: eks.amazonaws.com/nlb`` get LBs tagged as Auto Mode
  tags them. The simulator honours the SG annotations for them as the LBC does; whether Auto
  Mode really does is not documented.

Deleting an owner (every member of an IngressGroup) deletes its load balancers and managed SG
on the next reconcile.

Not simulated: target groups and node/pod rules (listeners answer a fixed 404), finalizers,
routes and Gateway conditions, scheme or listener changes after creation, ``namespaceSelector`` of IngressClassParams, the 5-SG limit of ELB.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from botocore.exceptions import ClientError
from moto.ec2.models import ec2_backends
from moto.elbv2.models import elbv2_backends

from sandbox.aws import ACCOUNT_ID, REGION, ec2_backend, elbv2_backend
from sandbox.kube import (
    EVENTS,
    GATEWAY_CLASSES,
    GATEWAYS,
    INGRESS_CLASS_PARAMS,
    INGRESS_CLASSES,
    INGRESSES,
    LB_CONFIGURATIONS,
    LB_CONFIGURATIONS_V1BETA1,
    SERVICES,
)
from sandbox.lbc_rules import (
    ALB_CONTROLLER,
    DEFAULT_INGRESS_CLASS_FLAG,
    DEFAULT_SCHEME,
    ICMP_PATH_MTU,
    ING_FRONTEND_NLB,
    ING_FRONTEND_NLB_SGS,
    ING_GROUP,
    ING_INBOUND_CIDRS,
    ING_LISTEN_PORTS,
    ING_MANAGE_BACKEND,
    ING_SCHEME,
    ING_SECURITY_GROUPS,
    NLB_CLASS,
    PARAMS_API_GROUP,
    SVC_DISABLE_NLB_SG,
    SVC_ICMP_PATH_MTU,
    SVC_MANAGE_BACKEND,
    SVC_PREFIX_LISTS,
    SVC_SCHEME,
    SVC_SECURITY_GROUPS,
    SVC_SOURCE_RANGES,
    SVC_TARGET_TYPE,
    SVC_TYPE,
    WORLD_V4,
    BuildError,
    ClassifiedIngress,
    LoadError,
    annotations_of,
    bool_annotation,
    classify_ingress,
    exclusive_list,
    frontend_nlb_enabled,
    frontend_nlb_scheme,
    gateway_listeners,
    gateway_managed_sg_rules,
    group_id,
    group_manage_backend,
    group_port_configs,
    group_scheme,
    ipv6_rules,
    merge_gateway_configs,
    path_mtu_rules,
    ref,
    service_handled,
    sort_members,
    split_list,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import IpPermissionTypeDef
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client

    from sandbox.kube import KubeServer

JSON = dict[str, Any]

__all__ = [
    "ALB_CONTROLLER",
    "ING_FRONTEND_NLB",
    "ING_FRONTEND_NLB_SGS",
    "ING_GROUP",
    "ING_INBOUND_CIDRS",
    "ING_LISTEN_PORTS",
    "ING_MANAGE_BACKEND",
    "ING_SCHEME",
    "ING_SECURITY_GROUPS",
    "NLB_CLASS",
    "SVC_MANAGE_BACKEND",
    "SVC_PREFIX_LISTS",
    "SVC_SCHEME",
    "SVC_SECURITY_GROUPS",
    "SVC_TARGET_TYPE",
    "SVC_TYPE",
    "LoadBalancerController",
]

LBC_VERSION = "v2.14.1"
USER_AGENT = (
    f"elbv2.k8s.aws/{LBC_VERSION} aws-sdk-go-v2/1.36.3 ua/2.1 os/linux lang/go#1.24.2 "
    "md/GOOS#linux md/GOARCH#amd64 api/elasticloadbalancingv2#1.45.2"
)

CLUSTER_TAG = "elbv2.k8s.aws/cluster"
StackPrefix = Literal[
    "ingress.k8s.aws", "service.k8s.aws", "gateway.k8s.aws.alb", "gateway.k8s.aws.nlb"
]
INGRESS: StackPrefix = "ingress.k8s.aws"
SERVICE: StackPrefix = "service.k8s.aws"
GATEWAY_ALB: StackPrefix = "gateway.k8s.aws.alb"
GATEWAY_NLB: StackPrefix = "gateway.k8s.aws.nlb"
GATEWAY_CONTROLLERS: dict[str, StackPrefix] = {
    "gateway.k8s.aws/alb": GATEWAY_ALB,
    "gateway.k8s.aws/nlb": GATEWAY_NLB,
}
CONFIG_GROUP = "gateway.k8s.aws"
CONFIG_KIND = "LoadBalancerConfiguration"
# EKS Auto Mode's built-in controller.
AUTO_MODE_CLUSTER_TAG = "eks:eks-cluster-name"
AUTO_MODE_ALB_CONTROLLER = "eks.amazonaws.com/alb"
AUTO_MODE_NLB_CLASS = "eks.amazonaws.com/nlb"
AUTO_MODE_PARAMS_GROUP = "eks.amazonaws.com"
AUTO_MODE_TAG_PREFIXES = {
    INGRESS: "ingress.eks.amazonaws.com",
    SERVICE: "service.eks.amazonaws.com",
}

MANAGED_SG_DESCRIPTION = "[k8s] Managed SecurityGroup for LoadBalancer"
# pkg/networking/backend_sg_provider.go
BACKEND_SG_DESCRIPTION = "[k8s] Shared Backend SecurityGroup for LoadBalancer"
# pkg/deploy/ec2/security_group_manager.go: DependencyViolation retried every 2 s for 10 s.
SG_DELETION_POLL_SECONDS = 2
SG_DELETION_TIMEOUT_SECONDS = 10

# Event texts: controllers/ingress/group_controller.go, controllers/service/service_controller.go,
# controllers/gateway/gateway_controller.go; reasons in pkg/k8s/events.go.
FAILED_BUILD_MODEL = "FailedBuildModel"
FAILED_DEPLOY_MODEL = "FailedDeployModel"
SUCCESSFULLY_RECONCILED = "SuccessfullyReconciled"
BACKEND_SG_REQUIRED = (
    "backendSG feature is required to manage worker node SG rules when frontendSG manually "
    "specified"
)
# pkg/service/model_build_load_balancer.go words it with "is".
BACKEND_SG_REQUIRED_SERVICE = (
    "backendSG feature is required to manage worker node SG rules when frontendSG is manually "
    "specified"
)

_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")


def _hash(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:10]


def _sha(*parts: str) -> str:
    """sha256 of the concatenated parts, as the controller's name builders write them."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
    return digest.hexdigest()


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def go_sdk_error(error: ClientError, service: str) -> str:
    """An AWS error as aws-sdk-go-v2 prints it (``operation error EC2: ...``)."""
    meta = error.response.get("ResponseMetadata", {})
    detail = error.response.get("Error", {})
    return (
        f"operation error {service}: {error.operation_name}, https response error StatusCode: "
        f"{meta.get('HTTPStatusCode')}, RequestID: {meta.get('RequestId')}, api error "
        f"{detail.get('Code')}: {detail.get('Message')}"
    )


# --- AWS access: through boto3 (normal) or straight into moto's backends (bulk seeding) -------


Rule = tuple[str, int, str]  # (protocol, port, CIDR or prefix-list ID) of a managed-SG rule


def _permission(rule: Rule) -> IpPermissionTypeDef:
    protocol, port, source = rule
    # An ICMP rule's "port" is its type; ToPort is the code (pkg/shared_constants/icmp.go).
    to_port = ICMP_PATH_MTU[protocol][1] if protocol in ICMP_PATH_MTU else port
    permission: IpPermissionTypeDef = {
        "IpProtocol": protocol,
        "FromPort": port,
        "ToPort": to_port,
    }
    if source.startswith("pl-"):
        permission["PrefixListIds"] = [{"PrefixListId": source}]
    elif ":" in source:
        permission["Ipv6Ranges"] = [{"CidrIpv6": source}]
    else:
        permission["IpRanges"] = [{"CidrIp": source}]
    return permission


class AwsApi(Protocol):
    """The AWS calls the simulated controller makes when it creates a stack."""

    def create_security_group(
        self, name: str, vpc_id: str, tags: dict[str, str], description: str
    ) -> str: ...

    def authorize_ingress(self, group_id: str, rule: Rule) -> None: ...

    def create_load_balancer(
        self,
        *,
        name: str,
        lb_type: str,
        scheme: str,
        subnets: list[str],
        security_groups: list[str],
        tags: dict[str, str],
    ) -> JSON:
        """Returns ``LoadBalancerArn``, ``DNSName``, ``VpcId`` and ``CreatedTime``."""
        ...

    def create_listener(self, lb_arn: str, protocol: str, port: int) -> None: ...


@dataclass
class Boto3Aws:
    """`AwsApi` through boto3, so the calls go over HTTP and meet moto's fidelity fixes."""

    ec2: EC2Client
    elbv2: ElasticLoadBalancingv2Client

    def create_security_group(
        self, name: str, vpc_id: str, tags: dict[str, str], description: str
    ) -> str:
        return self.ec2.create_security_group(
            GroupName=name,
            Description=description,
            VpcId=vpc_id,
            TagSpecifications=[
                {
                    "ResourceType": "security-group",
                    "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                }
            ],
        )["GroupId"]

    def authorize_ingress(self, group_id: str, rule: Rule) -> None:
        self.ec2.authorize_security_group_ingress(
            GroupId=group_id, IpPermissions=[_permission(rule)]
        )

    def revoke_ingress(self, group_id: str, rule: Rule) -> None:
        self.ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=[_permission(rule)])

    def create_load_balancer(
        self,
        *,
        name: str,
        lb_type: str,
        scheme: str,
        subnets: list[str],
        security_groups: list[str],
        tags: dict[str, str],
    ) -> JSON:
        created = self.elbv2.create_load_balancer(
            Name=name,
            Type=lb_type,  # type: ignore[arg-type]
            Scheme=scheme,  # type: ignore[arg-type]
            Subnets=subnets,
            SecurityGroups=security_groups,
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )["LoadBalancers"][0]
        return dict(created)

    def create_listener(self, lb_arn: str, protocol: str, port: int) -> None:
        self.elbv2.create_listener(
            LoadBalancerArn=lb_arn,
            Protocol=protocol,  # type: ignore[arg-type]
            Port=port,
            DefaultActions=[
                {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}
            ],
        )


class InProcessAws:
    """`AwsApi` straight into moto's in-process backends: no HTTP, for seeding thousands of LBs.

    The backend methods are the same ones the HTTP API calls, fidelity fixes included.
    ``account``/``region`` default to the sandbox's own (an organization seeds members too).
    """

    def __init__(self, account: str = ACCOUNT_ID, region: str = REGION) -> None:
        self.account = account
        self.region = region

    def _ec2(self) -> Any:
        if (self.account, self.region) == (ACCOUNT_ID, REGION):
            return ec2_backend()
        return ec2_backends[self.account][self.region]

    def _elbv2(self) -> Any:
        if (self.account, self.region) == (ACCOUNT_ID, REGION):
            return elbv2_backend()
        return elbv2_backends[self.account][self.region]

    def create_security_group(
        self, name: str, vpc_id: str, tags: dict[str, str], description: str
    ) -> str:
        group = self._ec2().create_security_group(name, description, vpc_id=vpc_id, tags=tags)
        return str(group.id)

    def authorize_ingress(self, group_id: str, rule: Rule) -> None:
        protocol, port, source = rule
        ranges = [{"CidrIpv6": source}] if ":" in source else [{"CidrIp": source}]
        to_port = ICMP_PATH_MTU[protocol][1] if protocol in ICMP_PATH_MTU else port
        self._ec2().authorize_security_group_ingress(
            group_id, protocol, str(port), str(to_port), ranges
        )

    def create_load_balancer(
        self,
        *,
        name: str,
        lb_type: str,
        scheme: str,
        subnets: list[str],
        security_groups: list[str],
        tags: dict[str, str],
    ) -> JSON:
        balancer = self._elbv2().create_load_balancer(
            name=name,
            security_groups=security_groups,
            subnet_ids=subnets,
            scheme=scheme,
            loadbalancer_type=lb_type,
            tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )
        return {
            "LoadBalancerArn": balancer.arn,
            "DNSName": balancer.dns_name,
            "VpcId": balancer.vpc_id,
            "CreatedTime": balancer.created_time,
        }

    def create_listener(self, lb_arn: str, protocol: str, port: int) -> None:
        self._elbv2().create_listener(
            lb_arn,
            protocol,
            str(port),
            "",
            None,
            [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}],
        )


# --- the model the controller builds from Kubernetes objects ----------------------------------


@dataclass
class StackModel:
    """The objects of one stack, as the controller groups them (before building)."""

    prefix: StackPrefix
    name: str  # "ns/name", or the IngressGroup's name
    members: list[JSON]
    auto_mode: bool = False
    classified: list[ClassifiedIngress] = field(default_factory=list)  # Ingresses, sorted
    gateway_config: JSON = field(default_factory=dict)  # Gateways: the merged configuration

    @property
    def lb_type(self) -> str:
        return "application" if self.prefix in (INGRESS, GATEWAY_ALB) else "network"

    @property
    def owner_kind(self) -> str:
        if self.is_gateway:
            return "Gateway"
        return "Ingress" if self.prefix == INGRESS else "Service"

    @property
    def is_gateway(self) -> bool:
        return self.prefix in (GATEWAY_ALB, GATEWAY_NLB)

    @property
    def tag_prefix(self) -> str:
        """The prefix of the stack tags: Auto Mode's own keys for its load balancers."""
        return AUTO_MODE_TAG_PREFIXES[self.prefix] if self.auto_mode else self.prefix

    @property
    def explicit_group(self) -> bool:
        return self.prefix == INGRESS and "/" not in self.name


@dataclass
class FrontendNlbSpec:
    scheme: str
    security_groups: list[str] | None  # None: the ALB's


@dataclass
class BuiltModel:
    """What the controller wants for one stack, built (and its SGs resolved) from the objects."""

    scheme: str
    listeners: list[tuple[str, int]]  # (protocol, port)
    rules: list[Rule]  # the managed SG's inbound rules
    security_groups: list[str] | None  # explicit SGs (+ backend SG); None: managed (+ backend)
    sg_less: bool = False  # an NLB without SGs
    frontend_nlb: FrontendNlbSpec | None = None


@dataclass
class LoadBalancer:
    """An LB the controller created, with its CloudTrail ``CreateLoadBalancer`` event."""

    arn: str
    name: str
    lb_type: str
    event: JSON
    dns_name: str = ""


@dataclass
class Stack:
    """What the controller owns for one stack."""

    model: StackModel
    load_balancer: LoadBalancer
    managed_sg_id: str | None
    sg_less: bool = False
    frontend_nlb: LoadBalancer | None = None
    managed_rules: list[Rule] = field(default_factory=list)
    listener_ports: list[int] = field(default_factory=list)
    #: The CloudTrail ``CreateSecurityGroup`` of the managed SG (None: none was created).
    managed_sg_event: JSON | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.model.tag_prefix, self.model.name)


class DeployError(Exception):
    """AWS refused while deploying the model: recorded as a ``FailedDeployModel`` Event."""


class ReconcileInterruptedError(Exception):
    """The reconcile stopped between two calls (`interrupt_after_security_group`)."""


class LoadBalancerController:
    """The AWS Load Balancer Controller of one cluster, run one reconcile at a time."""

    def __init__(
        self,
        *,
        cluster: str,
        kube: KubeServer,
        vpc_id: str,
        subnet_ids: list[str],
        ec2: EC2Client,
        elbv2: ElasticLoadBalancingv2Client,
        ingress_class: str = DEFAULT_INGRESS_CLASS_FLAG,
        enable_backend_security_group: bool = True,
        enable_manage_backend_security_group_rules: bool = False,
        load_balancer_class: str = NLB_CLASS,
        account: str = ACCOUNT_ID,
        region: str = REGION,
        deny_managed_security_groups: bool = False,
        enable_certificate_management: bool = False,
    ) -> None:
        self.cluster = cluster
        #: The ``EnableCertificateManagement`` feature gate (pkg/config/feature_gates.go,
        #: default off): ``create-acm-cert`` Ingresses get a certificate, hence 443.
        self.enable_certificate_management = enable_certificate_management
        #: The controller's role carries fail-closed mode's Deny: its managed SG is refused.
        self.deny_managed_security_groups = deny_managed_security_groups
        self.account = account
        self.region = region
        self.kube = kube
        self.vpc_id = vpc_id
        self.subnet_ids = subnet_ids
        self.ec2 = ec2
        self.elbv2 = elbv2
        self.ingress_class = ingress_class
        self.enable_backend_security_group = enable_backend_security_group
        self.enable_manage_backend_security_group_rules = enable_manage_backend_security_group_rules
        self.load_balancer_class = load_balancer_class
        self.stacks: dict[tuple[str, str], Stack] = {}
        self._boto3 = Boto3Aws(ec2, elbv2)
        self._backend_sg_id: str | None = None
        #: Every CloudTrail record of the controller's creating calls, in order, as EventBridge
        #: delivers them (CreateSecurityGroup, CreateLoadBalancer).
        self.cloudtrail: list[JSON] = []
        #: Stop the next stack creation right after its managed SG, before the load balancer
        #: (the moment between the two calls of one reconcile, when the SG's event can already
        #: be delivered). The next reconcile finds the SG by its tags and goes on.
        self.interrupt_after_security_group = False
        # Managed SGs created for stacks whose LB does not exist yet: stack key → (ID, event).
        self._pending_managed_sgs: dict[tuple[str, str], tuple[str, JSON]] = {}

    # -- reading the cluster --------------------------------------------------------------

    def models(self) -> list[StackModel]:
        """The stacks the controller wants, from the objects it handles."""
        services = self.kube.list_objects(SERVICES)
        models = [
            StackModel(SERVICE, ref(svc), [svc])
            for svc in services
            if service_handled(svc, load_balancer_class=self.load_balancer_class)
        ]
        models += self._ingress_models()
        models += [
            StackModel(SERVICE, ref(svc), [svc], auto_mode=True)
            for svc in services
            if service_handled(svc, load_balancer_class=AUTO_MODE_NLB_CLASS)
            and (svc.get("spec") or {}).get("loadBalancerClass") == AUTO_MODE_NLB_CLASS
        ]
        models += self._ingress_models(auto_mode=True)
        models += self._gateway_models()
        return models

    def classify(self, ingress: JSON, *, auto_mode: bool = False) -> ClassifiedIngress | None:
        """Whether (and with which IngressClassParams) the controller manages ``ingress``."""
        return self._classifier(auto_mode=auto_mode)(ingress)

    def _classifier(self, *, auto_mode: bool) -> Callable[[JSON], ClassifiedIngress | None]:
        classes = {c["metadata"]["name"]: c for c in self.kube.list_objects(INGRESS_CLASSES)}
        params = {p["metadata"]["name"]: p for p in self.kube.list_objects(INGRESS_CLASS_PARAMS)}
        return functools.partial(
            classify_ingress,
            classes=classes,
            params=params,
            ingress_class_flag=self.ingress_class,
            controller=AUTO_MODE_ALB_CONTROLLER if auto_mode else ALB_CONTROLLER,
            params_group=AUTO_MODE_PARAMS_GROUP if auto_mode else PARAMS_API_GROUP,
            class_annotation_path=not auto_mode,
        )

    def _ingress_models(self, *, auto_mode: bool = False) -> list[StackModel]:
        """IngressGroups: only Ingresses this controller manages are members
        (pkg/ingress/group_loader.go ``Load``, ``checkGroupMembershipType``)."""
        classify = self._classifier(auto_mode=auto_mode)
        groups: dict[str, list[ClassifiedIngress]] = {}
        for ingress in self.kube.list_objects(INGRESSES):
            classified = classify(ingress)
            if classified is None:
                continue
            name = ref(ingress) if auto_mode else group_id(classified)
            if name is not None:
                groups.setdefault(name, []).append(classified)
        models = []
        for name, members in groups.items():
            try:
                ordered = sort_members(members)
            except LoadError:
                continue  # the group cannot load: no reconcile, no Event
            models.append(
                StackModel(
                    INGRESS,
                    name,
                    [m.ingress for m in ordered],
                    auto_mode=auto_mode,
                    classified=ordered,
                )
            )
        return models

    # -- Gateway API ------------------------------------------------------------------------

    def _gateway_models(self) -> list[StackModel]:
        classes = {
            cls["metadata"]["name"]: cls
            for cls in self.kube.list_objects(GATEWAY_CLASSES)
            if cls.get("spec", {}).get("controllerName") in GATEWAY_CONTROLLERS
        }
        models = []
        for gateway in self.kube.list_objects(GATEWAYS):
            gateway_class = classes.get(gateway.get("spec", {}).get("gatewayClassName"))
            if gateway_class is None or (gateway.get("metadata") or {}).get("deletionTimestamp"):
                continue
            config = self.gateway_configuration(gateway)
            if config is None:
                continue
            prefix = GATEWAY_CONTROLLERS[gateway_class["spec"]["controllerName"]]
            models.append(StackModel(prefix, ref(gateway), [gateway], gateway_config=config))
        return models

    def _configuration(self, ref_: JSON, namespace: str | None) -> JSON | None:
        """The spec of the LoadBalancerConfiguration named by ``ref_`` (``v1``, else
        ``v1beta1``), ``None`` when missing. Group and kind are not checked
        (pkg/gateway/gatewayutils/lb_config_utils.go ``ResolveLoadBalancerConfig``)."""
        for resource in (LB_CONFIGURATIONS, LB_CONFIGURATIONS_V1BETA1):
            found = self.kube.get_object(resource, namespace, str(ref_.get("name")))
            if found is not None:
                return dict(found.get("spec") or {})
        return None

    def gateway_configuration(self, gateway: JSON) -> JSON | None:
        """The configuration the controller builds the Gateway's LB from, or ``None`` when it
        cannot reconcile the Gateway (controllers/gateway/config_resolver.go
        ``getLoadBalancerConfigForGateway``):

        - the GatewayClass's ``parametersRef`` must name a namespace, else the class is not
          Accepted (controllers/gateway/gateway_class_controller.go ``handleUpdate``), and the
          configuration must exist;
        - the Gateway's own ``spec.infrastructure.parametersRef`` is looked up in the Gateway's
          namespace (pkg/gateway/gatewayutils/gateway_utils.go
          ``GetNamespacedParamRefForGateway``) and must exist;
        - both merged per ``merge_gateway_configs``.
        """
        spec = gateway.get("spec", {})
        gateway_class = self.kube.get_object(GATEWAY_CLASSES, None, spec["gatewayClassName"])
        class_ref = (gateway_class or {}).get("spec", {}).get("parametersRef")
        class_config: JSON | None = None
        if class_ref is not None:
            if not class_ref.get("namespace"):
                return None
            class_config = self._configuration(class_ref, class_ref["namespace"])
            if class_config is None:
                return None
        own_ref = (spec.get("infrastructure") or {}).get("parametersRef")
        own_config: JSON | None = None
        if own_ref is not None:
            own_config = self._configuration(own_ref, gateway["metadata"].get("namespace"))
            if own_config is None:
                return None
        return merge_gateway_configs(class_config, own_config)

    # -- building the model -------------------------------------------------------------------

    def build(self, model: StackModel, stack: Stack | None = None) -> BuiltModel:
        """The model as the controller builds it; `BuildError` when it cannot."""
        if model.prefix == INGRESS:
            return self._build_ingress(model)
        if model.is_gateway:
            return self._build_gateway(model)
        return self._build_service(model, stack)

    def _build_ingress(self, model: StackModel) -> BuiltModel:
        """pkg/ingress/model_builder.go ``run``: listen ports per member merged per port, then
        the LB (scheme, SGs), then the frontend NLB."""
        members = model.classified
        ports = group_port_configs(
            members, certificate_management=self.enable_certificate_management
        )
        scheme = group_scheme(members)
        with_ipv6 = ipv6_rules(members)
        rules: list[Rule] = []
        for port, config in ports.items():
            # pkg/ingress/model_build_managed_sg.go buildManagedSecurityGroupIngressPermissions
            rules += [("tcp", port, cidr) for cidr in config.cidrs_v4]
            rules += [("tcp", port, cidr) for cidr in config.cidrs_v6 if with_ipv6]
            rules += [("tcp", port, prefix) for prefix in config.prefix_lists]
        objects = model.members
        # pkg/ingress/model_build_load_balancer.go buildLoadBalancerSecurityGroups
        explicit = exclusive_list(objects, ING_SECURITY_GROUPS)
        security_groups: list[str] | None = None
        if explicit:
            manage = group_manage_backend(objects, self.enable_manage_backend_security_group_rules)
            security_groups = self.resolve_security_groups(explicit)
            if manage:
                if not self.enable_backend_security_group:
                    raise BuildError(BACKEND_SG_REQUIRED)
                security_groups.append(self._backend_sg(self._boto3))
        frontend: FrontendNlbSpec | None = None
        if frontend_nlb_enabled(members):
            # pkg/ingress/model_build_frontend_nlb.go: its own list, exactly, or the ALB's.
            nlb_scheme = frontend_nlb_scheme(members)
            nlb_list = exclusive_list(objects, ING_FRONTEND_NLB_SGS)
            nlb_sgs = self.resolve_security_groups(nlb_list) if nlb_list else None
            frontend = FrontendNlbSpec(nlb_scheme, nlb_sgs)
        return BuiltModel(
            scheme=scheme,
            listeners=[(config.protocol, port) for port, config in ports.items()],
            rules=rules,
            security_groups=security_groups,
            frontend_nlb=frontend,
        )

    def _build_service(self, model: StackModel, stack: Stack | None) -> BuiltModel:
        """pkg/service/model_build_load_balancer.go ``buildLoadBalancerSecurityGroups``."""
        [service] = model.members
        spec = service.get("spec", {})
        notes = annotations_of(service)
        ports = [(str(p.get("protocol", "TCP")), int(p["port"])) for p in spec.get("ports", [])]
        sources = list(spec.get("loadBalancerSourceRanges") or []) or split_list(
            notes.get(SVC_SOURCE_RANGES, "")
        )
        # pkg/service/model_build_managed_sg.go: each prefix list on every port; an annotation
        # that is present (even empty) stops the 0.0.0.0/0 default.
        prefix_lists = split_list(notes.get(SVC_PREFIX_LISTS, ""))
        default = [] if SVC_PREFIX_LISTS in notes else [WORLD_V4]
        rules: list[Rule] = [
            ("udp" if protocol == "UDP" else "tcp", port, source)
            for protocol, port in ports
            for source in [*(sources or default), *prefix_lists]
        ]
        # The path-MTU rules, on the value "on" exactly; the same rule per port is one rule.
        if notes.get(SVC_ICMP_PATH_MTU) == "on" and ports:
            rules += path_mtu_rules(sources or default)
        built = BuiltModel(
            scheme=notes.get(SVC_SCHEME, DEFAULT_SCHEME),
            listeners=ports,
            rules=rules,
            security_groups=None,
        )
        disabled = bool_annotation(service, SVC_DISABLE_NLB_SG)
        if stack is not None and stack.sg_less:
            built.sg_less = True
            return built
        if disabled:
            if stack is not None:
                raise BuildError("conflicting security groups configuration")
            built.sg_less = True
            return built
        explicit = split_list(notes.get(SVC_SECURITY_GROUPS, ""))
        if explicit:
            manage = bool_annotation(service, SVC_MANAGE_BACKEND)
            if manage is None:
                manage = self.enable_manage_backend_security_group_rules
            built.security_groups = self.resolve_security_groups(explicit)
            if manage:
                if not self.enable_backend_security_group:
                    raise BuildError(BACKEND_SG_REQUIRED_SERVICE)
                built.security_groups.append(self._backend_sg(self._boto3))
        return built

    def _build_gateway(self, model: StackModel) -> BuiltModel:
        """pkg/gateway/model/model_build_security_group.go ``buildSecurityGroups``: an empty
        ``securityGroups`` means the managed SG; explicit ones get the backend SG only with
        ``manageBackendSecurityGroupRules: true``."""
        [gateway] = model.members
        config = model.gateway_config
        gateway_listener_specs = list(gateway.get("spec", {}).get("listeners", []))
        built = BuiltModel(
            scheme=str(config.get("scheme") or DEFAULT_SCHEME),
            listeners=gateway_listeners(gateway_listener_specs),
            rules=gateway_managed_sg_rules(config, gateway_listener_specs),
            security_groups=None,
        )
        explicit = [str(g) for g in config.get("securityGroups") or []]
        if explicit:
            built.security_groups = self.resolve_security_groups(explicit)
            if config.get("manageBackendSecurityGroupRules") is True:
                if not self.enable_backend_security_group:
                    raise BuildError(BACKEND_SG_REQUIRED)
                built.security_groups.append(self._backend_sg(self._boto3))
        return built

    def resolve_security_groups(self, names_or_ids: list[str]) -> list[str]:
        """pkg/networking/security_group_resolver.go ``ResolveViaNameOrID``: entries starting
        ``sg-`` are IDs (described by ID, no VPC filter), others are ``Name`` tags looked up
        in the cluster's VPC; every one must be found. IDs come first, then names."""
        ids = [entry for entry in names_or_ids if entry.startswith("sg-")]
        names = [entry for entry in names_or_ids if not entry.startswith("sg-")]
        resolved: list[str] = []
        problems: list[str] = []
        if ids:
            try:
                found = self.ec2.describe_security_groups(GroupIds=ids)["SecurityGroups"]
            except ClientError as error:
                problems.append(go_sdk_error(error, "EC2"))
            else:
                found_ids = [group["GroupId"] for group in found]
                if len(found_ids) != len(ids):
                    problems.append(
                        f"requested ids [{', '.join(ids)}] but found [{', '.join(found_ids)}]"
                    )
                else:
                    resolved += found_ids
        if names:
            unique = list(dict.fromkeys(names))
            found = self.ec2.describe_security_groups(
                Filters=[
                    {"Name": "tag:Name", "Values": unique},
                    {"Name": "vpc-id", "Values": [self.vpc_id]},
                ]
            )["SecurityGroups"]
            found_names = list(
                dict.fromkeys(
                    tag["Value"]
                    for group in found
                    for tag in group.get("Tags", [])
                    if tag["Key"] == "Name"
                )
            )
            if len(found_names) != len(unique):
                problems.append(
                    f"requested names [{', '.join(unique)}] but found [{', '.join(found_names)}]"
                )
            else:
                resolved += [group["GroupId"] for group in found]
        if problems:
            raise BuildError(f"couldn't find all security groups: {', '.join(problems)}")
        return resolved

    # -- reconciling ------------------------------------------------------------------------

    def reconcile(self, *, in_process: bool = False) -> None:
        """Bring AWS in line with every handled object, as the controller would.

        ``in_process`` creates missing stacks straight in moto's backends (bulk seeding).
        """
        models = self.models()
        for model in models:
            self.reconcile_model(model, in_process=in_process)
        wanted = {(m.tag_prefix, m.name) for m in models}
        for key, stack in list(self.stacks.items()):
            if key not in wanted and self._owners_gone(stack.model):
                self._delete_stack(stack)

    def _owners_gone(self, model: StackModel) -> bool:
        """Every object of the stack is deleted from the API (only then is the stack deleted:
        a stack whose objects still exist but no longer build is left as it is)."""
        resource = (
            GATEWAYS if model.is_gateway else (INGRESSES if model.prefix == INGRESS else SERVICES)
        )
        return all(
            self.kube.get_object(
                resource, obj["metadata"].get("namespace"), obj["metadata"]["name"]
            )
            is None
            for obj in model.members
        )

    def _delete_stack(self, stack: Stack) -> None:
        """The owner is deleted: the controller deletes its load balancer(s), then its managed SG
        (controllers/service/service_controller.go ``cleanupLoadBalancerResources``;
        controllers/ingress/group_controller.go ``reconcile``, a group without active members
        deploys an empty stack; the Gateway reconciler likewise). SGs the controller did not
        create (frontguard's) are not its to delete."""
        for lb in (stack.load_balancer, stack.frontend_nlb):
            if lb is not None:
                self.elbv2.delete_load_balancer(LoadBalancerArn=lb.arn)
        if stack.managed_sg_id:
            self.ec2.delete_security_group(GroupId=stack.managed_sg_id)
        del self.stacks[stack.key]

    def reconcile_model(
        self, model: StackModel, *, in_process: bool = False, security_groups: bool = True
    ) -> Stack | None:
        """Reconcile one stack; ``security_groups=False`` creates a missing NLB without SGs.

        Returns the stack, or ``None`` when none exists (Events say why).
        """
        stack = self.stacks.get((model.tag_prefix, model.name))
        try:
            built = self.build(model, stack)
        except BuildError as error:
            self._record(model, "Warning", FAILED_BUILD_MODEL, f"Failed build model due to {error}")
            return stack
        try:
            if stack is None:
                aws: AwsApi = InProcessAws(self.account, self.region) if in_process else self._boto3
                if model.lb_type == "network" and not security_groups:
                    built.sg_less = True
                try:
                    stack = self._create(model, built, aws)
                except ReconcileInterruptedError:
                    return None
                self.stacks[stack.key] = stack
            else:
                stack.model = model
                if not stack.sg_less:
                    self._apply_security_groups(stack, built)
        except DeployError as error:
            self._record(
                model, "Warning", FAILED_DEPLOY_MODEL, f"Failed deploy model due to {error}"
            )
            return stack
        self._write_status(stack)
        self._record(model, "Normal", SUCCESSFULLY_RECONCILED, "Successfully reconciled")
        return stack

    def cloudtrail_events(self, event_name: str | None = None) -> list[JSON]:
        """The controller's CloudTrail records so far (optionally one ``eventName``)."""
        return [e for e in self.cloudtrail if event_name in (None, e["detail"]["eventName"])]

    def _create(self, model: StackModel, built: BuiltModel, aws: AwsApi) -> Stack:
        managed_sg_id: str | None = None
        managed_sg_event: JSON | None = None
        sgs: list[str] = []
        key = (model.tag_prefix, model.name)
        if not built.sg_less:
            if built.security_groups is None:
                # The SG synthesizer finds an SG it created before by its tags
                # (pkg/deploy/ec2/security_group_synthesizer.go), so an interrupted reconcile
                # goes on with it.
                pending = self._pending_managed_sgs.pop(key, None)
                if pending is None:
                    managed_sg_id = self._create_managed_sg(model, built.rules, aws)
                    managed_sg_event = self.cloudtrail[-1]
                else:
                    managed_sg_id, managed_sg_event = pending
                if self.interrupt_after_security_group:
                    self.interrupt_after_security_group = False
                    self._pending_managed_sgs[key] = (managed_sg_id, managed_sg_event)
                    raise ReconcileInterruptedError(
                        f"stopped after creating managed SG {managed_sg_id}"
                    )
                sgs = [managed_sg_id, *self._backend_for_managed(aws)]
            else:
                sgs = list(built.security_groups)
        load_balancer = self._create_load_balancer(
            model,
            aws,
            name=self._lb_name(model, built.scheme),
            lb_type=model.lb_type,
            scheme=built.scheme,
            sgs=sgs,
            resource="LoadBalancer",
            listeners=built.listeners,
        )
        stack = Stack(
            model,
            load_balancer,
            managed_sg_id,
            sg_less=built.sg_less,
            managed_rules=list(built.rules) if managed_sg_id else [],
            listener_ports=[port for _, port in built.listeners],
            managed_sg_event=managed_sg_event,
        )
        if built.frontend_nlb is not None:
            spec = built.frontend_nlb
            stack.frontend_nlb = self._create_load_balancer(
                model,
                aws,
                # pkg/ingress/model_build_frontend_nlb.go buildFrontendNlbName
                name=f"{load_balancer.name[:28]}-nlb",
                lb_type="network",
                scheme=spec.scheme,
                sgs=sgs if spec.security_groups is None else list(spec.security_groups),
                resource="FrontendNlb",
                listeners=[("TCP", port) for _, port in built.listeners],
            )
        return stack

    def _backend_for_managed(self, aws: AwsApi) -> list[str]:
        """With the managed SG the backend SG joins only when the feature is on
        (``buildLoadBalancerSecurityGroups``, ingress and service alike)."""
        return [self._backend_sg(aws)] if self.enable_backend_security_group else []

    def _apply_security_groups(self, stack: Stack, built: BuiltModel) -> None:
        model = stack.model
        if built.security_groups is None:
            if stack.managed_sg_id is None:
                stack.managed_sg_id = self._create_managed_sg(model, built.rules, self._boto3)
                stack.managed_rules = list(built.rules)
            elif stack.managed_rules != built.rules:
                self._reconcile_rules(stack, built.rules)
            wanted = [stack.managed_sg_id, *self._backend_for_managed(self._boto3)]
        else:
            wanted = list(built.security_groups)
        self._reconcile_listeners(stack, built)
        self._set_security_groups(stack.load_balancer.arn, wanted)
        if stack.frontend_nlb is not None and built.frontend_nlb is not None:
            nlb_sgs = built.frontend_nlb.security_groups
            self._set_security_groups(
                stack.frontend_nlb.arn, wanted if nlb_sgs is None else nlb_sgs
            )
        if built.security_groups is not None and stack.managed_sg_id is not None:
            self._delete_managed_sg(stack)

    def _reconcile_listeners(self, stack: Stack, built: BuiltModel) -> None:
        """New listen ports (e.g. a member joining the group) get listeners; listeners the
        simulator made for ports no longer in the model go (pkg/deploy/elbv2/
        listener_synthesizer.go). Listeners made by others are left alone here."""
        wanted = {port: protocol for protocol, port in built.listeners}
        if set(wanted) == set(stack.listener_ports):
            return
        arn = stack.load_balancer.arn
        for port in sorted(set(wanted) - set(stack.listener_ports)):
            self._boto3.create_listener(arn, wanted[port], port)
        gone = set(stack.listener_ports) - set(wanted)
        if gone:
            for listener in self.elbv2.describe_listeners(LoadBalancerArn=arn)["Listeners"]:
                if listener["Port"] in gone:
                    self.elbv2.delete_listener(ListenerArn=listener["ListenerArn"])
        stack.listener_ports = sorted(wanted)

    def _reconcile_rules(self, stack: Stack, wanted: list[Rule]) -> None:
        """The controller reconciles the managed SG's rules to the model's
        (pkg/deploy/ec2/security_group_manager.go ``Update``)."""
        assert stack.managed_sg_id is not None
        for rule in wanted:
            if rule not in stack.managed_rules:
                self._boto3.authorize_ingress(stack.managed_sg_id, rule)
        for rule in stack.managed_rules:
            if rule not in wanted:
                self._boto3.revoke_ingress(stack.managed_sg_id, rule)
        stack.managed_rules = list(wanted)

    def _delete_managed_sg(self, stack: Stack) -> None:
        """pkg/deploy/ec2/security_group_manager.go ``Delete``: ``DependencyViolation`` is
        retried every 2 s for 10 s (simulated without waiting), then the deploy fails with
        ``failed to delete securityGroup: timed out waiting for the condition: <error>``; the
        SG stays for the next reconcile."""
        attempts = SG_DELETION_TIMEOUT_SECONDS // SG_DELETION_POLL_SECONDS + 1
        last: ClientError | None = None
        for _ in range(attempts):
            try:
                self.ec2.delete_security_group(GroupId=str(stack.managed_sg_id))
            except ClientError as error:
                if error.response["Error"]["Code"] != "DependencyViolation":
                    raise DeployError(
                        f"failed to delete securityGroup: {go_sdk_error(error, 'EC2')}"
                    ) from error
                last = error
                continue
            stack.managed_sg_id = None
            stack.managed_rules = []
            return
        assert last is not None
        raise DeployError(
            "failed to delete securityGroup: timed out waiting for the condition: "
            + go_sdk_error(last, "EC2")
        )

    def _set_security_groups(self, lb_arn: str, wanted: list[str]) -> None:
        current = self.elbv2.describe_load_balancers(LoadBalancerArns=[lb_arn])["LoadBalancers"]
        if not current or not current[0].get("SecurityGroups"):
            return  # an NLB created without SGs: the controller leaves it alone
        if set(current[0]["SecurityGroups"]) != set(wanted):
            try:
                self.elbv2.set_security_groups(LoadBalancerArn=lb_arn, SecurityGroups=wanted)
            except ClientError as error:
                raise DeployError(go_sdk_error(error, "Elastic Load Balancing v2")) from error

    # -- status and events: controllers/{ingress,service,gateway}/*_controller.go ---------------

    def _write_status(self, stack: Stack) -> None:
        """After a successful deploy the controller writes the LB's DNS name (lower case) into
        every owner's status, only when it changed: Ingress (with its listen ports, and the
        frontend NLB's name after it; group_controller.go ``updateIngressStatus``), Service
        (with its ports; service_controller.go ``updateServiceStatus``), Gateway
        ``status.addresses``
        (gateway_controller.go)."""
        model = stack.model
        dns = stack.load_balancer.dns_name.lower()
        if not dns:
            return
        if model.is_gateway:
            status: JSON = {"addresses": [{"type": "Hostname", "value": dns}]}
        else:
            entry: JSON = {"hostname": dns}
            if model.prefix == INGRESS:
                # IngressPortStatus{Port: port}: Go writes the unset protocol as "".
                entry["ports"] = [
                    {"port": port, "protocol": ""} for port in sorted(stack.listener_ports)
                ]
            else:  # service_controller.go buildPortsForStatus: the Service's ports
                entry["ports"] = [
                    {"port": int(p["port"]), "protocol": p.get("protocol", "TCP")}
                    for p in (model.members[0].get("spec") or {}).get("ports", [])
                ]
            entries = [entry]
            if stack.frontend_nlb is not None and stack.frontend_nlb.dns_name:
                entries.append({"hostname": stack.frontend_nlb.dns_name.lower()})
            status = {"loadBalancer": {"ingress": entries}}
        resource = {"Ingress": INGRESSES, "Service": SERVICES, "Gateway": GATEWAYS}[
            model.owner_kind
        ]
        for member in model.members:
            metadata = member["metadata"]
            if {**(member.get("status") or {}), **status} == (member.get("status") or {}):
                continue
            self.kube.patch_object(
                resource, metadata.get("namespace"), metadata["name"], {"status": status}
            )

    def _record(self, model: StackModel, event_type: str, reason: str, message: str) -> None:
        """An Ingress group's Events go on every member (group_controller.go
        ``recordIngressGroupEvent``); a Service's or Gateway's on the object."""
        for member in model.members:
            self.record_event(member, model.owner_kind, reason, message, event_type=event_type)

    def record_event(
        self, obj: JSON, kind: str, reason: str, message: str, *, event_type: str = "Warning"
    ) -> JSON:
        """Record an Event on ``obj`` as the controller's recorder does (repeats bump
        ``count``)."""
        metadata = obj["metadata"]
        namespace = metadata.get("namespace", "default")
        name = f"{metadata['name']}.{_hash(kind, namespace, metadata['name'], reason, message)}"
        now = _now().strftime("%Y-%m-%dT%H:%M:%SZ")
        existing = self.kube.get_object(EVENTS, namespace, name)
        if existing is not None:
            return self.kube.patch_object(
                EVENTS,
                namespace,
                name,
                {"count": existing.get("count", 1) + 1, "lastTimestamp": now},
            )
        return self.kube.put_object(
            EVENTS,
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": name, "namespace": namespace},
                "involvedObject": {
                    "apiVersion": {
                        "Ingress": "networking.k8s.io/v1",
                        "Gateway": "gateway.networking.k8s.io/v1",
                    }.get(kind, "v1"),
                    "kind": kind,
                    "namespace": namespace,
                    "name": metadata["name"],
                    "uid": metadata.get("uid"),
                },
                "reason": reason,
                "message": message,
                "type": event_type,
                "source": {"component": kind.lower() if kind != "Service" else "service"},
                "reportingComponent": "",
                "count": 1,
                "firstTimestamp": now,
                "lastTimestamp": now,
            },
        )

    # -- creating AWS resources -----------------------------------------------------------

    def _lb_name(self, model: StackModel, scheme: str) -> str:
        """Ingress: pkg/ingress/model_build_load_balancer.go ``buildLoadBalancerName``
        (sha256 of cluster, group ID and scheme); others keep a simpler digest."""
        if model.prefix == INGRESS and not model.auto_mode:
            digest = _sha(self.cluster, model.name, scheme)
        else:
            digest = _hash(self.cluster, model.tag_prefix, model.name)
        return self._name(model, digest)

    def _name(self, model: StackModel, digest: str) -> str:
        if "/" in model.name:
            namespace, name = model.name.split("/", 1)
            return f"k8s-{_NOT_ALNUM.sub('', namespace)[:8]}-{_NOT_ALNUM.sub('', name)[:8]}-{digest[:10]}"
        return f"k8s-{_NOT_ALNUM.sub('', model.name)[:17]}-{digest[:10]}"

    def _stack_tags(self, model: StackModel, resource: str) -> dict[str, str]:
        return {
            AUTO_MODE_CLUSTER_TAG if model.auto_mode else CLUSTER_TAG: self.cluster,
            f"{model.tag_prefix}/stack": model.name,
            f"{model.tag_prefix}/resource": resource,
        }

    def backend_sg_name(self) -> str:
        """pkg/networking/backend_sg_provider.go ``getBackendSGName``."""
        sanitized = _NOT_ALNUM.sub("", self.cluster)
        return f"k8s-traffic-{sanitized[:232]}-{_sha(self.cluster)[:10]}"

    def _backend_sg(self, aws: AwsApi) -> str:
        if self._backend_sg_id is None:
            name = self.backend_sg_name()
            tags = {CLUSTER_TAG: self.cluster, "elbv2.k8s.aws/resource": "backend-sg"}
            self._backend_sg_id = aws.create_security_group(
                name, self.vpc_id, tags, BACKEND_SG_DESCRIPTION
            )
            self.cloudtrail.append(
                cloudtrail_create_security_group(
                    cluster=self.cluster,
                    name=name,
                    description=BACKEND_SG_DESCRIPTION,
                    vpc_id=self.vpc_id,
                    tags=tags,
                    group_id=self._backend_sg_id,
                )
            )
        return self._backend_sg_id

    def _create_managed_sg(self, model: StackModel, rules: list[Rule], aws: AwsApi) -> str:
        """Ingress: named as pkg/ingress/model_build_managed_sg.go
        ``buildManagedSecurityGroupName`` (sha256 of cluster and group ID)."""
        if model.prefix == INGRESS and not model.auto_mode:
            name = self._name(model, _sha(self.cluster, model.name))
        else:
            name = self._name(model, _hash(self.cluster, model.tag_prefix, model.name))
        tags = self._stack_tags(model, "ManagedLBSecurityGroup")
        if self.deny_managed_security_groups:
            self._refuse_managed_sg(name, tags)
        group_id = aws.create_security_group(name, self.vpc_id, tags, MANAGED_SG_DESCRIPTION)
        self.cloudtrail.append(
            cloudtrail_create_security_group(
                cluster=self.cluster,
                name=name,
                description=MANAGED_SG_DESCRIPTION,
                vpc_id=self.vpc_id,
                tags=tags,
                group_id=group_id,
            )
        )
        for rule in rules:
            aws.authorize_ingress(group_id, rule)
        return group_id

    def _refuse_managed_sg(self, name: str, tags: dict[str, str]) -> None:
        """What an explicit Deny on ``ec2:CreateTags`` for the managed SG's request tags does
        to the controller's call: EC2 answers ``UnauthorizedOperation`` (403) and creates
        nothing; CloudTrail records the call with ``errorCode``; the SG synthesizer returns
        the error as is (pkg/deploy/ec2/security_group_manager.go ``Create``), which stops the
        reconcile before the load balancer (pkg/deploy/stack_deployer.go) and becomes
        ``FailedDeployModel`` "Failed deploy model due to <error>"
        (controllers/ingress/group_controller.go, controllers/service/service_controller.go,
        controllers/gateway/gateway_controller.go ``deployModel``). The controller retries with back-off and
        on every change of the owner: here, on each reconcile."""
        session = controller_role_name(self.cluster)
        message = (
            "You are not authorized to perform this operation. User: "
            f"arn:aws:sts::{self.account}:assumed-role/{session}/{session} is not authorized "
            f"to perform: ec2:CreateTags on resource: arn:aws:ec2:{self.region}:{self.account}:"
            "security-group/* with an explicit deny in an identity-based policy"
        )
        error = ClientError(
            {
                "Error": {"Code": "UnauthorizedOperation", "Message": message},
                "ResponseMetadata": {
                    "HTTPStatusCode": 403,
                    "RequestId": str(uuid.uuid4()),
                    "HTTPHeaders": {},
                    "HostId": "",
                    "RetryAttempts": 0,
                },
            },
            "CreateSecurityGroup",
        )
        self.cloudtrail.append(
            cloudtrail_create_security_group(
                cluster=self.cluster,
                name=name,
                description=MANAGED_SG_DESCRIPTION,
                vpc_id=self.vpc_id,
                tags=tags,
                group_id=None,
                error=("Client.UnauthorizedOperation", message),
            )
        )
        raise DeployError(go_sdk_error(error, "EC2"))

    def _create_load_balancer(
        self,
        model: StackModel,
        aws: AwsApi,
        *,
        name: str,
        lb_type: str,
        scheme: str,
        sgs: list[str],
        resource: str,
        listeners: list[tuple[str, int]],
    ) -> LoadBalancer:
        tags = self._stack_tags(model, resource)
        created = aws.create_load_balancer(
            name=name,
            lb_type=lb_type,
            scheme=scheme,
            subnets=self.subnet_ids,
            security_groups=sgs,
            tags=tags,
        )
        arn = str(created["LoadBalancerArn"])
        for protocol, port in listeners:
            aws.create_listener(arn, protocol, port)
        event = cloudtrail_create_load_balancer(
            cluster=self.cluster,
            name=name,
            lb_type=lb_type,
            scheme=scheme,
            subnets=self.subnet_ids,
            security_groups=sgs,
            tags=tags,
            arn=arn,
            vpc_id=str(created["VpcId"]),
            dns_name=str(created["DNSName"]),
        )
        self.cloudtrail.append(event)
        return LoadBalancer(arn, name, lb_type, event, dns_name=str(created["DNSName"]))


def controller_role_name(cluster: str) -> str:
    """The IAM role the sandbox's controller of ``cluster`` runs as (IRSA / Pod Identity)."""
    return f"{cluster}-aws-load-balancer-controller"


def _controller_identity(cluster: str, event_time: str) -> JSON:
    session = controller_role_name(cluster)
    return {
        "type": "AssumedRole",
        "principalId": f"AROAEXAMPLEROLEID0001:{session}",
        "arn": f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{session}/{session}",
        "accountId": ACCOUNT_ID,
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROAEXAMPLEROLEID0001",
                "arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{session}",
                "accountId": ACCOUNT_ID,
                "userName": session,
            },
            "attributes": {"creationDate": event_time, "mfaAuthenticated": "false"},
        },
    }


def cloudtrail_create_security_group(
    *,
    cluster: str,
    name: str,
    description: str,
    vpc_id: str,
    tags: dict[str, str],
    group_id: str | None,
    error: tuple[str, str] | None = None,
) -> JSON:
    """``CreateSecurityGroup`` by the controller (pkg/deploy/ec2/security_group_manager.go
    ``Create``: name, description, VPC, tags in ``TagSpecifications``), as EventBridge delivers
    it from CloudTrail: EC2 requests in their query-API shape (``tagSpecificationSet.items``);
    a failed call carries ``errorCode``/``errorMessage`` and no response."""
    now = _now()
    event_time = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    request: JSON = {
        "groupName": name,
        "groupDescription": description,
        "vpcId": vpc_id,
        "tagSpecificationSet": {
            "items": [
                {
                    "resourceType": "security-group",
                    "tags": [{"key": key, "value": value} for key, value in tags.items()],
                }
            ]
        },
    }
    detail: JSON = {
        "eventVersion": "1.09",
        "userIdentity": _controller_identity(cluster, event_time),
        "eventTime": event_time,
        "eventSource": "ec2.amazonaws.com",
        "eventName": "CreateSecurityGroup",
        "awsRegion": REGION,
        "sourceIPAddress": "10.0.1.10",
        "userAgent": USER_AGENT.replace("api/elasticloadbalancingv2#1.45.2", "api/ec2#1.200.0"),
        "requestParameters": request,
        "responseElements": None,
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT_ID,
        "eventCategory": "Management",
    }
    if error is not None:
        detail["errorCode"], detail["errorMessage"] = error
    else:
        detail["responseElements"] = {
            "requestId": detail["requestID"],
            "_return": True,
            "groupId": group_id,
            "securityGroupArn": f"arn:aws:ec2:{REGION}:{ACCOUNT_ID}:security-group/{group_id}",
        }
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2",
        "account": ACCOUNT_ID,
        "time": event_time,
        "region": REGION,
        "resources": [],
        "detail": detail,
    }


def cloudtrail_create_load_balancer(
    *,
    cluster: str,
    name: str,
    lb_type: str,
    scheme: str,
    subnets: list[str],
    security_groups: list[str],
    tags: dict[str, str],
    arn: str,
    vpc_id: str,
    dns_name: str,
) -> JSON:
    """``CreateLoadBalancer`` by the controller, as EventBridge delivers it from CloudTrail."""
    now = _now()
    event_time = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    request: JSON = {
        "name": name,
        "subnets": list(subnets),
        "scheme": scheme,
        "type": lb_type,
        "ipAddressType": "ipv4",
        "tags": [{"key": key, "value": value} for key, value in tags.items()],
    }
    response_lb: JSON = {
        "loadBalancerArn": arn,
        "dNSName": dns_name,
        "canonicalHostedZoneId": "Z32O12XQLNTSW2" if lb_type == "application" else "Z2IFOLAFXWLO4F",
        "createdTime": now.strftime("%b %d, %Y, %I:%M:%S %p"),
        "loadBalancerName": name,
        "scheme": scheme,
        "vpcId": vpc_id,
        "state": {"code": "provisioning"},
        "type": lb_type,
        "availabilityZones": [{"subnetId": subnet} for subnet in subnets],
        "ipAddressType": "ipv4",
    }
    if security_groups:
        request["securityGroups"] = list(security_groups)
        response_lb["securityGroups"] = list(security_groups)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.elasticloadbalancing",
        "account": ACCOUNT_ID,
        "time": event_time,
        "region": REGION,
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": _controller_identity(cluster, event_time),
            "eventTime": event_time,
            "eventSource": "elasticloadbalancing.amazonaws.com",
            "eventName": "CreateLoadBalancer",
            "awsRegion": REGION,
            "sourceIPAddress": "10.0.1.10",
            "userAgent": USER_AGENT,
            "requestParameters": request,
            "responseElements": {"loadBalancers": [response_lb]},
            "requestID": str(uuid.uuid4()),
            "eventID": str(uuid.uuid4()),
            "readOnly": False,
            "eventType": "AwsApiCall",
            "apiVersion": "2015-12-01",
            "managementEvent": True,
            "recipientAccountId": ACCOUNT_ID,
            "eventCategory": "Management",
        },
    }
