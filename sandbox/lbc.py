"""A deterministic stand-in for the AWS Load Balancer Controller (LBC) of one cluster.

`LoadBalancerController.reconcile()` does, once and synchronously, what the real controller
does on every change of a Service or Ingress (see DESIGN.md, "Facts about the controller"):

- **Which objects it handles**: a Service with ``spec.loadBalancerClass:
  service.k8s.aws/nlb`` or annotation ``service.beta.kubernetes.io/aws-load-balancer-type`` in
  (``external``, ``nlb-ip``); an Ingress whose class (``spec.ingressClassName``) is an
  IngressClass with ``spec.controller: ingress.k8s.aws/alb``. Everything else is ignored,
  annotations included.
- **Stacks**: one ALB per Ingress (stack ``ns/name``) or per IngressGroup (stack = group name,
  from ``alb.ingress.kubernetes.io/group.name`` or the class's IngressClassParams
  ``spec.group.name``); one NLB per Service. A missing stack is created: the LB, its
  listeners, its world-open managed SG (or the owner's ``inbound-cidrs`` /
  ``loadBalancerSourceRanges``) and the cluster's shared backend SG, all tagged exactly as the
  controller tags them. ``alb.ingress.kubernetes.io/enable-frontend-nlb: "true"`` adds a
  frontend NLB named ``<alb name>-nlb``.
- **Security groups**: with the SG annotation set, the LB gets exactly the annotated SG IDs
  (plus the backend SG when ``manage-backend-security-group-rules`` is ``"true"``) through
  ``SetSecurityGroups``, and the managed SG is deleted (a ``DependencyViolation`` leaves it for
  the next reconcile). Without the annotation the managed SG is (re)created and attached with
  the backend SG. IngressGroup members that carry different values, and annotated SGs that do
  not exist, produce a ``FailedDeployModel`` Warning Event on the object(s) and no change. A
  frontend NLB takes ``frontend-nlb-security-groups``, or the ALB's SGs when that is absent.
  An NLB created without SGs (``create_stack(..., security_groups=False)``, as with the
  controller's NLB SG feature turned off) keeps none: the annotation is ignored silently.

- **Gateway API**: a Gateway whose GatewayClass has ``controllerName`` ``gateway.k8s.aws/alb``
  (or ``/nlb``) gets an ALB (NLB) tagged ``gateway.k8s.aws.alb/stack`` (``.nlb``) =
  ``ns/name``, with one listener per ``spec.listeners`` entry. Its configuration is the
  GatewayClass's ``LoadBalancerConfiguration`` (``spec.parametersRef``) merged with the
  Gateway's own (``spec.infrastructure.parametersRef``, same namespace), both read at
  ``gateway.k8s.aws/v1`` then ``v1beta1``; the class-level value of each field wins unless
  its ``mergingMode`` is ``prefer-gateway``. ``securityGroups`` replaces the managed SG (plus
  the backend SG with ``manageBackendSecurityGroupRules: true``), ``sourceRanges`` opens the
  managed SG, ``scheme`` defaults to ``internal``.
- **EKS Auto Mode**: Ingresses of an IngressClass with controller ``eks.amazonaws.com/alb``
  and Services with ``loadBalancerClass: eks.amazonaws.com/nlb`` get LBs tagged as Auto Mode
  tags them (``eks:eks-cluster-name``, ``ingress.eks.amazonaws.com/stack``,
  ``service.eks.amazonaws.com/stack``). The simulator honours the SG annotations for them as
  the LBC does; whether Auto Mode really does is not documented.

Not simulated: target groups and node/pod rules (listeners answer a fixed 404), deleting LBs
of deleted objects, ``SuccessfullyReconciled`` events, SG names in the annotation (only IDs),
routes and Gateway status, scheme or listener changes after creation.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import uuid
from dataclasses import dataclass
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

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import IpPermissionTypeDef
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client

    from sandbox.kube import KubeServer

JSON = dict[str, Any]

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
ALB_CONTROLLER = "ingress.k8s.aws/alb"
NLB_CLASS = "service.k8s.aws/nlb"
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
AUTO_MODE_TAG_PREFIXES = {
    INGRESS: "ingress.eks.amazonaws.com",
    SERVICE: "service.eks.amazonaws.com",
}

A_ALB = "alb.ingress.kubernetes.io/"
A_SVC = "service.beta.kubernetes.io/"
ING_SECURITY_GROUPS = A_ALB + "security-groups"
ING_MANAGE_BACKEND = A_ALB + "manage-backend-security-group-rules"
ING_FRONTEND_NLB = A_ALB + "enable-frontend-nlb"
ING_FRONTEND_NLB_SGS = A_ALB + "frontend-nlb-security-groups"
ING_GROUP = A_ALB + "group.name"
ING_SCHEME = A_ALB + "scheme"
ING_LISTEN_PORTS = A_ALB + "listen-ports"
ING_INBOUND_CIDRS = A_ALB + "inbound-cidrs"
SVC_SECURITY_GROUPS = A_SVC + "aws-load-balancer-security-groups"
SVC_MANAGE_BACKEND = A_SVC + "aws-load-balancer-manage-backend-security-group-rules"
SVC_TYPE = A_SVC + "aws-load-balancer-type"
SVC_SCHEME = A_SVC + "aws-load-balancer-scheme"
SVC_SOURCE_RANGES = A_SVC + "load-balancer-source-ranges"


def _hash(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:10]


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _annotations(obj: JSON) -> dict[str, str]:
    return dict(obj.get("metadata", {}).get("annotations") or {})


def _ref(obj: JSON) -> str:
    return f"{obj['metadata'].get('namespace')}/{obj['metadata']['name']}"


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


# --- AWS access: through boto3 (normal) or straight into moto's backends (bulk seeding) -------


class AwsApi(Protocol):
    """The AWS calls the simulated controller makes."""

    def create_security_group(self, name: str, vpc_id: str, tags: dict[str, str]) -> str: ...

    def authorize_ingress(self, group_id: str, protocol: str, port: int, cidr: str) -> None: ...

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

    def create_security_group(self, name: str, vpc_id: str, tags: dict[str, str]) -> str:
        return self.ec2.create_security_group(
            GroupName=name,
            Description="[k8s] Managed SecurityGroup for LoadBalancer",
            VpcId=vpc_id,
            TagSpecifications=[
                {
                    "ResourceType": "security-group",
                    "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                }
            ],
        )["GroupId"]

    def authorize_ingress(self, group_id: str, protocol: str, port: int, cidr: str) -> None:
        permission: IpPermissionTypeDef = {
            "IpProtocol": protocol.lower(),
            "FromPort": port,
            "ToPort": port,
        }
        if ":" in cidr:
            permission["Ipv6Ranges"] = [{"CidrIpv6": cidr}]
        else:
            permission["IpRanges"] = [{"CidrIp": cidr}]
        self.ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[permission])

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

    def create_security_group(self, name: str, vpc_id: str, tags: dict[str, str]) -> str:
        group = self._ec2().create_security_group(
            name, "[k8s] Managed SecurityGroup for LoadBalancer", vpc_id=vpc_id, tags=tags
        )
        return str(group.id)

    def authorize_ingress(self, group_id: str, protocol: str, port: int, cidr: str) -> None:
        ranges = [{"CidrIpv6": cidr}] if ":" in cidr else [{"CidrIp": cidr}]
        self._ec2().authorize_security_group_ingress(
            group_id, protocol.lower(), str(port), str(port), ranges
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
    """What the controller wants for one stack, built from the Kubernetes objects."""

    prefix: StackPrefix
    name: str  # "ns/name", or the IngressGroup's name
    members: list[JSON]
    scheme: str
    listeners: list[tuple[str, int]]  # (protocol, port)
    source_cidrs: list[str]
    frontend_nlb: bool = False
    auto_mode: bool = False
    # Gateways: the merged configuration's securityGroups (None: not set) and backend rules.
    gateway_security_groups: list[str] | None = None
    gateway_backend_rules: bool = False

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


@dataclass
class LoadBalancer:
    """An LB the controller created, with its CloudTrail ``CreateLoadBalancer`` event."""

    arn: str
    name: str
    lb_type: str
    event: JSON


@dataclass
class Stack:
    """What the controller owns for one stack."""

    model: StackModel
    load_balancer: LoadBalancer
    managed_sg_id: str | None
    sg_less: bool = False
    frontend_nlb: LoadBalancer | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.model.tag_prefix, self.model.name)


class DeployError(Exception):
    """The controller cannot deploy the model: recorded as a ``FailedDeployModel`` Event."""


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
        account: str = ACCOUNT_ID,
        region: str = REGION,
    ) -> None:
        self.cluster = cluster
        self.account = account
        self.region = region
        self.kube = kube
        self.vpc_id = vpc_id
        self.subnet_ids = subnet_ids
        self.ec2 = ec2
        self.elbv2 = elbv2
        self.stacks: dict[tuple[str, str], Stack] = {}
        self._boto3 = Boto3Aws(ec2, elbv2)
        self._backend_sg_id: str | None = None

    # -- reading the cluster --------------------------------------------------------------

    def models(self) -> list[StackModel]:
        """The stacks the controller wants, from the handled Services and Ingresses."""
        models = [self._service_model(svc) for svc in self._handled_services()]
        groups: dict[str, list[JSON]] = {}
        for ingress in self._handled_ingresses():
            groups.setdefault(self._group_of(ingress) or _ref(ingress), []).append(ingress)
        models += [self._ingress_model(name, members) for name, members in groups.items()]
        models += [
            self._service_model(svc, auto_mode=True)
            for svc in self.kube.list_objects(SERVICES)
            if svc.get("spec", {}).get("loadBalancerClass") == AUTO_MODE_NLB_CLASS
        ]
        models += [
            self._ingress_model(_ref(ing), [ing], auto_mode=True)
            for ing in self._handled_ingresses(AUTO_MODE_ALB_CONTROLLER)
        ]
        models += [self._gateway_model(gw, prefix) for gw, prefix in self._handled_gateways()]
        return models

    def _handled_services(self) -> list[JSON]:
        return [
            svc
            for svc in self.kube.list_objects(SERVICES)
            if svc.get("spec", {}).get("loadBalancerClass") == NLB_CLASS
            or _annotations(svc).get(SVC_TYPE) in ("external", "nlb-ip")
        ]

    def _handled_ingresses(self, controller: str = ALB_CONTROLLER) -> list[JSON]:
        alb_classes = {
            cls["metadata"]["name"]
            for cls in self.kube.list_objects(INGRESS_CLASSES)
            if cls.get("spec", {}).get("controller") == controller
        }
        return [
            ing
            for ing in self.kube.list_objects(INGRESSES)
            if ing.get("spec", {}).get("ingressClassName") in alb_classes
        ]

    # -- Gateway API ------------------------------------------------------------------------

    def _handled_gateways(self) -> list[tuple[JSON, StackPrefix]]:
        classes = {
            cls["metadata"]["name"]: GATEWAY_CONTROLLERS[controller]
            for cls in self.kube.list_objects(GATEWAY_CLASSES)
            if (controller := cls.get("spec", {}).get("controllerName")) in GATEWAY_CONTROLLERS
        }
        return [
            (gw, classes[gw.get("spec", {}).get("gatewayClassName")])
            for gw in self.kube.list_objects(GATEWAYS)
            if gw.get("spec", {}).get("gatewayClassName") in classes
        ]

    def _configuration(self, ref: JSON | None, namespace: str | None) -> JSON:
        """The spec of the LoadBalancerConfiguration ``ref`` names ({} when none or missing)."""
        if not ref or ref.get("group") != CONFIG_GROUP or ref.get("kind") != CONFIG_KIND:
            return {}
        for resource in (LB_CONFIGURATIONS, LB_CONFIGURATIONS_V1BETA1):
            found = self.kube.get_object(resource, namespace, str(ref.get("name")))
            if found is not None:
                return dict(found.get("spec") or {})
        return {}

    def gateway_configuration(self, gateway: JSON) -> JSON:
        """The configuration the controller builds the Gateway's LB from: the class-level
        configuration merged with the Gateway's own, the class winning field by field unless
        its ``mergingMode`` is ``prefer-gateway``."""
        spec = gateway.get("spec", {})
        gateway_class = self.kube.get_object(GATEWAY_CLASSES, None, spec["gatewayClassName"])
        class_ref = (gateway_class or {}).get("spec", {}).get("parametersRef")
        class_config = self._configuration(class_ref, (class_ref or {}).get("namespace"))
        own_ref = (spec.get("infrastructure") or {}).get("parametersRef")
        own_config = self._configuration(own_ref, gateway["metadata"].get("namespace"))
        if class_config.get("mergingMode") == "prefer-gateway":
            return {**class_config, **own_config}
        return {**own_config, **class_config}

    def _gateway_model(self, gateway: JSON, prefix: StackPrefix) -> StackModel:
        config = self.gateway_configuration(gateway)
        listeners = [
            (str(listener.get("protocol", "HTTP")), int(listener["port"]))
            for listener in gateway.get("spec", {}).get("listeners", [])
        ]
        groups = config.get("securityGroups")
        return StackModel(
            prefix=prefix,
            name=_ref(gateway),
            members=[gateway],
            scheme=str(config.get("scheme") or "internal"),
            listeners=listeners,
            source_cidrs=list(config.get("sourceRanges") or []) or ["0.0.0.0/0"],
            gateway_security_groups=[str(g) for g in groups] if groups else None,
            gateway_backend_rules=config.get("manageBackendSecurityGroupRules") is True,
        )

    def _class_params(self, ingress: JSON) -> JSON:
        class_name = str(ingress.get("spec", {}).get("ingressClassName"))
        ingress_class = self.kube.get_object(INGRESS_CLASSES, None, class_name)
        parameters = (ingress_class or {}).get("spec", {}).get("parameters") or {}
        if parameters.get("kind") != "IngressClassParams":
            return {}
        params = self.kube.get_object(INGRESS_CLASS_PARAMS, None, str(parameters.get("name")))
        return dict((params or {}).get("spec") or {})

    def _group_of(self, ingress: JSON) -> str | None:
        params_group = self._class_params(ingress).get("group", {}).get("name")
        return params_group or _annotations(ingress).get(ING_GROUP)

    def _ingress_model(
        self, name: str, members: list[JSON], *, auto_mode: bool = False
    ) -> StackModel:
        listeners: list[tuple[str, int]] = []
        cidrs: list[str] = []
        scheme = "internal"
        frontend_nlb = False
        for member in members:
            notes = _annotations(member)
            for entry in json.loads(notes.get(ING_LISTEN_PORTS, '[{"HTTP": 80}]')):
                for protocol, port in entry.items():
                    if (protocol, int(port)) not in listeners:
                        listeners.append((protocol, int(port)))
            cidrs += [c for c in _split(notes.get(ING_INBOUND_CIDRS, "")) if c not in cidrs]
            scheme = self._class_params(member).get("scheme") or notes.get(ING_SCHEME, scheme)
            frontend_nlb = frontend_nlb or notes.get(ING_FRONTEND_NLB) == "true"
        return StackModel(
            prefix=INGRESS,
            name=name,
            members=members,
            scheme=scheme,
            listeners=listeners,
            source_cidrs=cidrs or ["0.0.0.0/0"],
            frontend_nlb=frontend_nlb,
            auto_mode=auto_mode,
        )

    def _service_model(self, service: JSON, *, auto_mode: bool = False) -> StackModel:
        spec = service.get("spec", {})
        notes = _annotations(service)
        cidrs = list(spec.get("loadBalancerSourceRanges") or []) or _split(
            notes.get(SVC_SOURCE_RANGES, "")
        )
        return StackModel(
            prefix=SERVICE,
            name=_ref(service),
            members=[service],
            scheme=notes.get(SVC_SCHEME, "internal"),
            listeners=[(p.get("protocol", "TCP"), int(p["port"])) for p in spec.get("ports", [])],
            source_cidrs=cidrs or ["0.0.0.0/0"],
            auto_mode=auto_mode,
        )

    # -- reconciling ------------------------------------------------------------------------

    def reconcile(self, *, in_process: bool = False) -> None:
        """Bring AWS in line with every handled Service and Ingress, as the controller would.

        ``in_process`` creates missing stacks straight in moto's backends (bulk seeding).
        """
        for model in self.models():
            self.reconcile_model(model, in_process=in_process)

    def reconcile_model(
        self, model: StackModel, *, in_process: bool = False, security_groups: bool = True
    ) -> Stack | None:
        """Reconcile one stack; ``security_groups=False`` creates a missing NLB without SGs.

        Returns the stack, or ``None`` when it could not be created (Events say why).
        """
        stack = self.stacks.get((model.tag_prefix, model.name))
        if stack is None:
            aws: AwsApi = InProcessAws(self.account, self.region) if in_process else self._boto3
            try:
                stack = self._create(model, aws, security_groups=security_groups)
            except DeployError as error:
                self._record_failure(model, str(error))
                return None
            self.stacks[stack.key] = stack
            return stack
        stack.model = model
        if not stack.sg_less:
            try:
                self._apply_security_groups(stack)
            except DeployError as error:
                self._record_failure(model, str(error))
        return stack

    def _create(self, model: StackModel, aws: AwsApi, *, security_groups: bool) -> Stack:
        sg_less = model.lb_type == "network" and not security_groups
        managed_sg_id: str | None = None
        sgs: list[str] = []
        if not sg_less:
            annotated = self._annotated(model)
            if annotated is None:
                managed_sg_id = self._create_managed_sg(model, aws)
                sgs = [managed_sg_id, self._backend_sg(aws)]
            else:
                sgs = annotated
        load_balancer = self._create_load_balancer(
            model,
            aws,
            name=self._lb_name(model),
            lb_type=model.lb_type,
            sgs=sgs,
            resource="LoadBalancer",
            listeners=model.listeners,
        )
        stack = Stack(model, load_balancer, managed_sg_id, sg_less=sg_less)
        if model.frontend_nlb:
            stack.frontend_nlb = self._create_load_balancer(
                model,
                aws,
                name=f"{load_balancer.name}-nlb",
                lb_type="network",
                sgs=self._frontend_nlb_sgs(model, sgs),
                resource="FrontendNlb",
                listeners=[("TCP", port) for _, port in model.listeners],
            )
        return stack

    def _apply_security_groups(self, stack: Stack) -> None:
        model = stack.model
        annotated = self._annotated(model)
        if annotated is None:
            if stack.managed_sg_id is None:
                stack.managed_sg_id = self._create_managed_sg(model, self._boto3)
            wanted = [stack.managed_sg_id, self._backend_sg(self._boto3)]
        else:
            wanted = annotated
        self._set_security_groups(stack.load_balancer.arn, wanted)
        if stack.frontend_nlb is not None:
            self._set_security_groups(stack.frontend_nlb.arn, self._frontend_nlb_sgs(model, wanted))
        if annotated is not None and stack.managed_sg_id is not None:
            try:
                self.ec2.delete_security_group(GroupId=stack.managed_sg_id)
                stack.managed_sg_id = None
            except ClientError as error:
                if error.response["Error"]["Code"] != "DependencyViolation":
                    raise

    def _set_security_groups(self, lb_arn: str, wanted: list[str]) -> None:
        current = self.elbv2.describe_load_balancers(LoadBalancerArns=[lb_arn])["LoadBalancers"]
        if not current or not current[0].get("SecurityGroups"):
            return  # an NLB created without SGs: the controller leaves it alone
        if set(current[0]["SecurityGroups"]) != set(wanted):
            self.elbv2.set_security_groups(LoadBalancerArn=lb_arn, SecurityGroups=wanted)

    # -- security groups from annotations ------------------------------------------------

    def _annotation_value(self, model: StackModel, key: str) -> str | None:
        """The value all members agree on; DeployError when members conflict."""
        values = {
            _ref(member): _annotations(member)[key]
            for member in model.members
            if key in _annotations(member)
        }
        distinct = sorted(set(values.values()))
        if len(distinct) > 1:
            detail = ", ".join(f"{ref}: {value}" for ref, value in sorted(values.items()))
            name = key.rsplit("/", 1)[1]
            kind = "securityGroups" if name == "security-groups" else name
            raise DeployError(
                f"Failed deploy model due to failed to build LoadBalancer configuration due to "
                f"conflicting {kind}: {detail}"
            )
        return distinct[0] if distinct else None

    def _with_backend(self, model: StackModel, ids: list[str]) -> list[str]:
        key = ING_MANAGE_BACKEND if model.prefix == INGRESS else SVC_MANAGE_BACKEND
        if (self._annotation_value(model, key) or "").lower() == "true":
            return [*ids, self._backend_sg(self._boto3)]
        return ids

    def _annotated(self, model: StackModel) -> list[str] | None:
        """The annotated SGs (+ backend SG), ``None`` without the annotation.

        For a Gateway: its configuration's ``securityGroups`` instead of the annotation.
        """
        if model.is_gateway:
            if model.gateway_security_groups is None:
                return None
            self._check_exist(model.gateway_security_groups)
            backend = [self._backend_sg(self._boto3)] if model.gateway_backend_rules else []
            return [*model.gateway_security_groups, *backend]
        key = ING_SECURITY_GROUPS if model.prefix == INGRESS else SVC_SECURITY_GROUPS
        value = self._annotation_value(model, key)
        if value is None:
            return None
        ids = _split(value)
        self._check_exist(ids)
        return self._with_backend(model, ids)

    def _frontend_nlb_sgs(self, model: StackModel, alb_sgs: list[str]) -> list[str]:
        value = self._annotation_value(model, ING_FRONTEND_NLB_SGS)
        if value is None:
            return alb_sgs
        ids = _split(value)
        self._check_exist(ids)
        return self._with_backend(model, ids)

    def _check_exist(self, ids: list[str]) -> None:
        try:
            self.ec2.describe_security_groups(GroupIds=ids)
        except ClientError as error:
            raise DeployError(f"Failed deploy model due to {error}") from error

    # -- creating AWS resources -----------------------------------------------------------

    def _lb_name(self, model: StackModel) -> str:
        digest = _hash(self.cluster, model.tag_prefix, model.name)
        if "/" in model.name:
            namespace, name = model.name.split("/", 1)
            return f"k8s-{namespace[:8]}-{name[:8]}-{digest}"
        return f"k8s-{model.name[:17]}-{digest}"

    def _stack_tags(self, model: StackModel, resource: str) -> dict[str, str]:
        return {
            AUTO_MODE_CLUSTER_TAG if model.auto_mode else CLUSTER_TAG: self.cluster,
            f"{model.tag_prefix}/stack": model.name,
            f"{model.tag_prefix}/resource": resource,
        }

    def _backend_sg(self, aws: AwsApi) -> str:
        if self._backend_sg_id is None:
            self._backend_sg_id = aws.create_security_group(
                f"k8s-traffic-{self.cluster[:20]}-{_hash(self.cluster, 'backend-sg')}",
                self.vpc_id,
                {CLUSTER_TAG: self.cluster, "elbv2.k8s.aws/resource": "backend-sg"},
            )
        return self._backend_sg_id

    def _create_managed_sg(self, model: StackModel, aws: AwsApi) -> str:
        group_id = aws.create_security_group(
            self._lb_name(model),
            self.vpc_id,
            self._stack_tags(model, "ManagedLBSecurityGroup"),
        )
        for protocol, port in model.listeners:
            for cidr in model.source_cidrs:
                aws.authorize_ingress(group_id, "udp" if protocol == "UDP" else "tcp", port, cidr)
        return group_id

    def _create_load_balancer(
        self,
        model: StackModel,
        aws: AwsApi,
        *,
        name: str,
        lb_type: str,
        sgs: list[str],
        resource: str,
        listeners: list[tuple[str, int]],
    ) -> LoadBalancer:
        tags = self._stack_tags(model, resource)
        created = aws.create_load_balancer(
            name=name,
            lb_type=lb_type,
            scheme=model.scheme,
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
            scheme=model.scheme,
            subnets=self.subnet_ids,
            security_groups=sgs,
            tags=tags,
            arn=arn,
            vpc_id=str(created["VpcId"]),
            dns_name=str(created["DNSName"]),
        )
        return LoadBalancer(arn, name, lb_type, event)

    # -- Kubernetes Events ----------------------------------------------------------------

    def _record_failure(self, model: StackModel, message: str) -> None:
        for member in model.members:
            self.record_event(member, model.owner_kind, "FailedDeployModel", message)

    def record_event(self, obj: JSON, kind: str, reason: str, message: str) -> JSON:
        """Record a Warning Event on ``obj`` as the controller does (repeats bump ``count``)."""
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
                "type": "Warning",
                "source": {"component": kind.lower() if kind != "Service" else "service"},
                "reportingComponent": "",
                "count": 1,
                "firstTimestamp": now,
                "lastTimestamp": now,
            },
        )


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
    session = f"{cluster}-aws-load-balancer-controller"
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
            "userIdentity": {
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
            },
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
