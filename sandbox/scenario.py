"""The sandbox as tests and the demo use it: an account, clusters, and builders for situations.

::

    with Sandbox() as sb:
        prod = sb.cluster("prod")   # VPC, subnets, EKS cluster, Kubernetes emulator, LBC, class "alb"
        web = prod.ingress("shop/web", scheme="internet-facing", ports=[80, 443])
        grp = prod.ingress_group("shared", members=["a/one", "b/two"], ports=[443])
        api = prod.service("legacy/api", ports=[("TCP", 443)], security_groups=False)
        gw = prod.gateway("edge/public", lb="alb", ports=[443], config={"scheme": "internal"})
        auto = prod.auto_mode_ingress("shop/auto")  # tagged as EKS Auto Mode tags its LBs
        ext = sb.foreign_load_balancer("terraform-lb")
        web.lb_arn, web.event            # the LB and its CloudTrail CreateLoadBalancer event
        prod.lbc.reconcile()             # the controller reacts to annotation changes

`Sandbox` owns one moto server (boto3 reaches it through ``AWS_ENDPOINT_URL``, set while the
sandbox is entered), one CA, and one `Cluster` per ``cluster()`` call, each with its own
Kubernetes emulator thread. ``reset()`` stops the clusters and empties moto, so a test-session
can share one sandbox (see ``tests/conftest.py``). moto keeps its state per process, so two
sandboxes in one process would share an account: use one at a time.

Normal builders go through boto3 (over HTTP, like production code); ``Cluster.bulk_services``
and ``Cluster.bulk_ingresses`` seed thousands of LBs straight into moto's backends.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import boto3

from sandbox.aws import REGION, MotoServer, published_messages, set_cluster_endpoint
from sandbox.kube import (
    DEPLOYMENTS,
    EVENTS,
    GATEWAY_CLASSES,
    GATEWAYS,
    INGRESS_CLASS_PARAMS,
    INGRESS_CLASSES,
    INGRESSES,
    LB_CONFIGURATIONS,
    LB_CONFIGURATIONS_V1BETA1,
    SERVICES,
    KubeServer,
    resource_for,
)
from sandbox.lbc import (
    AUTO_MODE_ALB_CONTROLLER,
    AUTO_MODE_NLB_CLASS,
    CONFIG_GROUP,
    CONFIG_KIND,
    GATEWAY_ALB,
    GATEWAY_NLB,
    INGRESS,
    SERVICE,
    LoadBalancer,
    LoadBalancerController,
    Stack,
    cloudtrail_create_load_balancer,
)
from sandbox.lbc_rules import (
    ALB_CONTROLLER,
    DEFAULT_CLASS_ANNOTATION,
    ING_CERTIFICATE_ARN,
    ING_CLASS_ANNOTATION,
    ING_FRONTEND_NLB,
    ING_GROUP,
    ING_INBOUND_CIDRS,
    ING_LISTEN_PORTS,
    ING_PREFIX_LISTS,
    ING_SCHEME,
    NLB_CLASS,
    SVC_SCHEME,
    SVC_TARGET_TYPE,
    SVC_TYPE,
)
from sandbox.lbc_rules import (
    ref as object_ref,
)
from sandbox.models import shared_service_models
from sandbox.tls import CertificateAuthority, create_ca

if TYPE_CHECKING:
    import kubernetes.client

JSON = dict[str, Any]

#: A bearer token of the EKS shape (``k8s-aws-v1.`` + base64url of a presigned STS URL).
SANDBOX_TOKEN = "k8s-aws-v1." + base64.urlsafe_b64encode(
    f"https://sts.{REGION}.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15"
    "&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id"
    "&X-Amz-Signature=sandbox".encode()
).decode().rstrip("=")

ServiceHandling = Literal["class", "annotation", "none"]
GatewayPorts = Sequence[int | tuple[str, int]]


def _split_ref(ref: str) -> tuple[str, str]:
    namespace, _, name = ref.partition("/")
    if not name:
        raise ValueError(f"expected 'namespace/name', got {ref!r}")
    return namespace, name


def _listen_ports(ports: Iterable[int]) -> str:
    return json.dumps([{"HTTPS" if port == 443 else "HTTP": port} for port in ports])


@dataclass(frozen=True)
class ControllerOptions:
    """The controller flags the simulator honours (defaults as the controller's)."""

    ingress_class: str = "alb"  # --ingress-class
    enable_backend_security_group: bool = True  # --enable-backend-security-group
    enable_manage_backend_security_group_rules: bool = False
    # Not a flag: the controller's IAM role carries fail-closed mode's Deny
    # (infra/fail_closed.py), so its managed-SG creation is refused.
    deny_managed_security_groups: bool = False
    # --feature-gates=EnableCertificateManagement=true (pkg/config/feature_gates.go, off by
    # default): create-acm-cert makes the controller create a certificate and listen on 443.
    enable_certificate_management: bool = False


@dataclass
class Owned:
    """Kubernetes object(s) and the load balancer the controller made for them.

    ``stack`` is ``None`` when the controller does not handle the object(s).
    """

    cluster: Cluster
    kind: Literal["Ingress", "Service", "Gateway"]
    refs: list[tuple[str, str]]
    stack: Stack | None

    @property
    def _stack(self) -> Stack:
        if self.stack is None:
            raise LookupError(f"the controller made no load balancer for {self.refs}")
        return self.stack

    @property
    def load_balancer(self) -> LoadBalancer:
        return self._stack.load_balancer

    @property
    def lb_arn(self) -> str:
        return self._stack.load_balancer.arn

    @property
    def event(self) -> JSON:
        """The EventBridge event for the controller's ``CreateLoadBalancer`` call."""
        return self._stack.load_balancer.event

    @property
    def security_group_event(self) -> JSON:
        """The EventBridge event for the controller's ``CreateSecurityGroup`` of the stack's
        managed SG (made just before the load balancer, in the same reconcile)."""
        event = self._stack.managed_sg_event
        if event is None:
            raise LookupError(f"the controller made no managed SG for {self.refs}")
        return event

    @property
    def frontend_nlb(self) -> LoadBalancer | None:
        return self._stack.frontend_nlb

    @property
    def managed_sg_id(self) -> str | None:
        """The controller's own world-open SG, ``None`` once deleted or never made."""
        return self._stack.managed_sg_id

    @property
    def resource(self) -> str:
        return {"Ingress": INGRESSES, "Service": SERVICES, "Gateway": GATEWAYS}[self.kind]

    @property
    def object(self) -> JSON:
        """The (first) object as the emulator stores it now."""
        return self.objects[0]

    @property
    def objects(self) -> list[JSON]:
        found = [self.cluster.kube.get_object(self.resource, ns, name) for ns, name in self.refs]
        return [obj for obj in found if obj is not None]

    def annotate(self, annotations: dict[str, str | None]) -> None:
        """Merge-patch every object's annotations (``None`` removes one), as a user would."""
        for namespace, name in self.refs:
            self.cluster.kube.patch_object(
                self.resource, namespace, name, {"metadata": {"annotations": annotations}}
            )

    def security_groups(self, lb_arn: str | None = None) -> list[str]:
        """The SGs AWS reports for the LB (or for ``lb_arn``)."""
        elbv2 = self.cluster.sandbox.client("elbv2")
        described = elbv2.describe_load_balancers(LoadBalancerArns=[lb_arn or self.lb_arn])
        return list(described["LoadBalancers"][0].get("SecurityGroups", []))

    def events(self, reason: str | None = None) -> list[JSON]:
        """Events recorded on the object(s), optionally only those with ``reason``
        (the controller records a Normal ``SuccessfullyReconciled`` after each good reconcile)."""
        return [
            event
            for event in self.cluster.kube.list_objects(EVENTS)
            if (event["involvedObject"]["namespace"], event["involvedObject"]["name"]) in self.refs
            and event["involvedObject"]["kind"] == self.kind
            and reason in (None, event["reason"])
        ]

    def warnings(self) -> list[JSON]:
        """The Warning Events on the object(s)."""
        return [event for event in self.events() if event["type"] == "Warning"]

    def hostnames(self) -> list[str]:
        """The hostnames the controller wrote into the (first) object's status."""
        status = self.object.get("status") or {}
        if self.kind == "Gateway":
            return [a["value"] for a in status.get("addresses") or []]
        return [i["hostname"] for i in (status.get("loadBalancer") or {}).get("ingress") or []]


@dataclass
class Queue:
    url: str
    arn: str
    sandbox: Sandbox

    def receive(self) -> list[JSON]:
        """Receive and delete every message now in the queue; returns their bodies (JSON)."""
        sqs = self.sandbox.client("sqs")
        bodies: list[JSON] = []
        while messages := sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            for message in messages:
                bodies.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        return bodies


@dataclass
class Topic:
    arn: str

    def messages(self) -> list[JSON]:
        """Published messages: ``MessageId``, ``Subject``, ``Message`` (the raw body)."""
        return published_messages(self.arn)


class Cluster:
    """An EKS cluster in its own VPC, with its Kubernetes emulator and controller."""

    def __init__(
        self,
        sandbox: Sandbox,
        name: str,
        *,
        cidr: str,
        controller: ControllerOptions,
        kubernetes_version: str | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.name = name
        self.vpc_cidr = cidr
        ec2 = sandbox.client("ec2")
        self.vpc_id = ec2.create_vpc(
            CidrBlock=cidr,
            TagSpecifications=[
                {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": f"{name}-vpc"}]}
            ],
        )["Vpc"]["VpcId"]
        prefix = cidr.split(".")[:2]
        self.subnet_ids = [
            ec2.create_subnet(
                VpcId=self.vpc_id,
                CidrBlock=f"{prefix[0]}.{prefix[1]}.{index}.0/24",
                AvailabilityZone=f"{REGION}{zone}",
                TagSpecifications=[
                    {
                        "ResourceType": "subnet",
                        "Tags": [
                            {"Key": "kubernetes.io/role/elb", "Value": "1"},
                            {"Key": f"kubernetes.io/cluster/{name}", "Value": "shared"},
                        ],
                    }
                ],
            )["Subnet"]["SubnetId"]
            for index, zone in enumerate("abc")
        ]
        self.kube = KubeServer(name, sandbox.ca.server_context())
        self.kube.start()
        eks = sandbox.client("eks")
        self.arn = eks.create_cluster(
            name=name,
            roleArn=f"arn:aws:iam::123456789012:role/{name}-eks-cluster",
            resourcesVpcConfig={"subnetIds": self.subnet_ids},
            **({"version": kubernetes_version} if kubernetes_version else {}),
        )["cluster"]["arn"]
        set_cluster_endpoint(name, self.kube.url, sandbox.ca.ca_data)
        self.lbc = LoadBalancerController(
            cluster=name,
            kube=self.kube,
            vpc_id=self.vpc_id,
            subnet_ids=self.subnet_ids,
            ec2=ec2,
            elbv2=sandbox.client("elbv2"),
            ingress_class=controller.ingress_class,
            enable_backend_security_group=controller.enable_backend_security_group,
            enable_manage_backend_security_group_rules=(
                controller.enable_manage_backend_security_group_rules
            ),
            deny_managed_security_groups=controller.deny_managed_security_groups,
            enable_certificate_management=controller.enable_certificate_management,
        )
        self.ingress_class("alb")

    @property
    def endpoint(self) -> str:
        return self.kube.url

    def api_client(self, token: str | None = SANDBOX_TOKEN) -> kubernetes.client.ApiClient:
        """An official Kubernetes client for this cluster, verifying TLS with the sandbox CA."""
        import kubernetes.client

        configuration = kubernetes.client.Configuration(
            host=self.endpoint,
            ssl_ca_cert=str(self.sandbox.ca.ca_file),
            api_key={"authorization": f"Bearer {token}"} if token else {},
        )
        return kubernetes.client.ApiClient(configuration)

    # -- Kubernetes objects ---------------------------------------------------------------

    def install_controller(self, *, args: Sequence[str] = (), ready: bool = True) -> JSON:
        """The controller's Deployment as its Helm chart installs it (kube-system/
        aws-load-balancer-controller; the chart passes ``--cluster-name`` and
        ``--ingress-class``), plus ``args``."""
        deployment: JSON = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "aws-load-balancer-controller", "namespace": "kube-system"},
            "spec": {
                "replicas": 2,
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "aws-load-balancer-controller",
                                "image": "public.ecr.aws/eks/aws-load-balancer-controller:v2.13.4",
                                "args": [
                                    f"--cluster-name={self.name}",
                                    "--ingress-class=alb",
                                    *args,
                                ],
                            }
                        ]
                    }
                },
            },
            "status": {"readyReplicas": 2 if ready else 0, "replicas": 2},
        }
        return self.kube.put_object(DEPLOYMENTS, deployment)

    def apply(self, documents: Iterable[JSON]) -> None:
        """``kubectl apply`` of documents of any kind the emulator serves (e.g. infra/rbac.yaml,
        the output of ``frontguard render born-protected``): each replaces the stored one."""
        for document in documents:
            self.kube.put_object(resource_for(document["apiVersion"], document["kind"]), document)

    def ingress_class(
        self,
        name: str,
        *,
        controller: str = ALB_CONTROLLER,
        params: str | None = None,
        default: bool = False,
    ) -> JSON:
        """An IngressClass; ``default`` marks it the cluster's default class."""
        spec: JSON = {"controller": controller}
        if params is not None:
            spec["parameters"] = {
                "apiGroup": "elbv2.k8s.aws",
                "kind": "IngressClassParams",
                "name": params,
            }
        metadata: JSON = {"name": name}
        if default:
            metadata["annotations"] = {DEFAULT_CLASS_ANNOTATION: "true"}
        return self.kube.put_object(INGRESS_CLASSES, {"metadata": metadata, "spec": spec})

    def ingress_class_params(self, name: str, *, spec: JSON) -> JSON:
        return self.kube.put_object(
            INGRESS_CLASS_PARAMS, {"metadata": {"name": name}, "spec": spec}
        )

    def _ingress_object(
        self,
        ref: str,
        *,
        scheme: str,
        ports: Sequence[int] | None,
        ingress_class: str | None,
        group: str | None,
        inbound_cidrs: Sequence[str] | None,
        frontend_nlb: bool,
        annotations: dict[str, str] | None,
        labels: dict[str, str] | None,
        spec: JSON | None,
        class_annotation: str | None = None,
        certificate: str | None = None,
        prefix_lists: Sequence[str] | None = None,
    ) -> JSON:
        namespace, name = _split_ref(ref)
        backend = {"service": {"name": name, "port": {"number": 80}}}
        notes = {ING_SCHEME: scheme}
        if ports is not None:
            notes[ING_LISTEN_PORTS] = _listen_ports(ports)
        if class_annotation is not None:
            notes[ING_CLASS_ANNOTATION] = class_annotation
        if certificate is not None:
            notes[ING_CERTIFICATE_ARN] = certificate
        if group is not None:
            notes[ING_GROUP] = group
        if inbound_cidrs:
            notes[ING_INBOUND_CIDRS] = ",".join(inbound_cidrs)
        if prefix_lists:
            notes[ING_PREFIX_LISTS] = ",".join(prefix_lists)
        if frontend_nlb:
            notes[ING_FRONTEND_NLB] = "true"
        ingress_spec: JSON = {
            "rules": [
                {"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}
            ]
        }
        if ingress_class is not None:
            ingress_spec = {"ingressClassName": ingress_class, **ingress_spec}
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "annotations": notes | (annotations or {}),
                "labels": dict(labels or {}),
            },
            "spec": ingress_spec | (spec or {}),
        }

    def ingress(
        self,
        ref: str,
        *,
        scheme: str = "internet-facing",
        ports: Sequence[int] | None = (80,),
        ingress_class: str | None = "alb",
        class_annotation: str | None = None,
        certificate: str | None = None,
        group: str | None = None,
        inbound_cidrs: Sequence[str] | None = None,
        prefix_lists: Sequence[str] | None = None,
        frontend_nlb: bool = False,
        annotations: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
        spec: JSON | None = None,
    ) -> Owned:
        """An Ingress ``ns/name``; the controller makes (or joins) its ALB when it handles it.

        ``ports``: the ``listen-ports`` annotation (443 HTTPS, others HTTP); ``None`` leaves it
        out (the controller then listens on 443 with a ``certificate``, else 80).
        ``ingress_class``: ``spec.ingressClassName`` (``None``: unset, so the default class
        applies); ``class_annotation``: the legacy ``kubernetes.io/ingress.class`` annotation
        (given alone, ``spec.ingressClassName`` is left out). ``group``: the ``group.name``
        annotation. ``inbound_cidrs`` / ``prefix_lists``: this Ingress's source restrictions.
        """
        if class_annotation is not None and ingress_class == "alb":
            ingress_class = None
        obj = self._ingress_object(
            ref,
            scheme=scheme,
            ports=ports,
            ingress_class=ingress_class,
            group=group,
            inbound_cidrs=inbound_cidrs,
            frontend_nlb=frontend_nlb,
            annotations=annotations,
            labels=labels,
            spec=spec,
            class_annotation=class_annotation,
            certificate=certificate,
            prefix_lists=prefix_lists,
        )
        self.kube.put_object(INGRESSES, obj)
        return Owned(self, "Ingress", [_split_ref(ref)], self._reconcile_owner(INGRESS, ref))

    def ingress_group(
        self,
        name: str,
        members: Sequence[str],
        *,
        scheme: str = "internet-facing",
        ports: Sequence[int] = (443,),
        via_params: bool = False,
        frontend_nlb: bool = False,
        annotations: dict[str, str] | None = None,
        member_annotations: dict[str, dict[str, str]] | None = None,
    ) -> Owned:
        """An IngressGroup ``name`` of ``members`` (``ns/name``), sharing one ALB.

        The group is named by the ``group.name`` annotation, or ``via_params`` by an
        IngressClass ``name`` whose IngressClassParams set ``spec.group.name``.
        ``annotations`` go on every member, ``member_annotations[ref]`` on one.
        """
        ingress_class = "alb"
        if via_params:
            ingress_class = name
            self.ingress_class_params(name, spec={"group": {"name": name}})
            self.ingress_class(name, params=name)
        for ref in members:
            obj = self._ingress_object(
                ref,
                scheme=scheme,
                ports=ports,
                ingress_class=ingress_class,
                group=None if via_params else name,
                inbound_cidrs=None,
                frontend_nlb=frontend_nlb,
                annotations=(annotations or {}) | (member_annotations or {}).get(ref, {}),
                labels=None,
                spec=None,
            )
            self.kube.put_object(INGRESSES, obj)
        refs = [_split_ref(ref) for ref in members]
        return Owned(self, "Ingress", refs, self._reconcile(INGRESS, name))

    def _service_object(
        self,
        ref: str,
        *,
        ports: Sequence[tuple[str, int]],
        scheme: str,
        handled_by: ServiceHandling,
        source_ranges: Sequence[str] | None,
        annotations: dict[str, str] | None,
        labels: dict[str, str] | None,
        spec: JSON | None,
    ) -> JSON:
        namespace, name = _split_ref(ref)
        notes = {SVC_SCHEME: scheme}
        service_spec: JSON = {
            "type": "LoadBalancer",
            "selector": {"app": name},
            "ports": [
                {"name": f"{protocol.lower()}-{port}", "protocol": protocol, "port": port}
                for protocol, port in ports
            ],
        }
        if handled_by == "class":
            service_spec["loadBalancerClass"] = NLB_CLASS
        elif handled_by == "annotation":
            notes[SVC_TYPE] = "external"
            notes[SVC_TARGET_TYPE] = "ip"
        if source_ranges:
            service_spec["loadBalancerSourceRanges"] = list(source_ranges)
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "annotations": notes | (annotations or {}),
                "labels": dict(labels or {}),
            },
            "spec": service_spec | (spec or {}),
        }

    def service(
        self,
        ref: str,
        *,
        ports: Sequence[tuple[str, int]] = (("TCP", 80),),
        scheme: str = "internet-facing",
        security_groups: bool = True,
        handled_by: ServiceHandling = "class",
        source_ranges: Sequence[str] | None = None,
        annotations: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
        spec: JSON | None = None,
        admission: Callable[[JSON], JSON] | None = None,
    ) -> Owned:
        """A LoadBalancer Service ``ns/name`` and, when handled, its NLB.

        ``security_groups=False`` makes an NLB without SGs (it can never get one).
        ``handled_by``: ``"class"`` (``loadBalancerClass``), ``"annotation"``
        (``aws-load-balancer-type: external`` with ``aws-load-balancer-nlb-target-type: ip``)
        or ``"none"`` (not the controller's).
        ``admission``: what the API server's admission makes of the object before it is
        stored. The emulator runs none itself: a test that needs it passes its own.
        """
        obj = self._service_object(
            ref,
            ports=ports,
            scheme=scheme,
            handled_by=handled_by,
            source_ranges=source_ranges,
            annotations=annotations,
            labels=labels,
            spec=spec,
        )
        if admission is not None:
            obj = admission(obj)
        self.kube.put_object(SERVICES, obj)
        stack = self._reconcile(SERVICE, ref, security_groups=security_groups)
        return Owned(self, "Service", [_split_ref(ref)], stack)

    # -- Gateway API ------------------------------------------------------------------------

    def load_balancer_configuration(
        self, ref: str, *, spec: JSON, version: Literal["v1", "v1beta1"] = "v1"
    ) -> JSON:
        """A ``LoadBalancerConfiguration`` ``ns/name`` (group ``gateway.k8s.aws``)."""
        namespace, name = _split_ref(ref)
        resource = LB_CONFIGURATIONS if version == "v1" else LB_CONFIGURATIONS_V1BETA1
        return self.kube.put_object(
            resource,
            {
                "apiVersion": f"{CONFIG_GROUP}/{version}",
                "kind": CONFIG_KIND,
                "metadata": {"name": name, "namespace": namespace},
                "spec": spec,
            },
        )

    def configuration(self, ref: str) -> JSON | None:
        """The configuration ``ns/name`` as stored now (``v1``, else ``v1beta1``), or None."""
        namespace, name = _split_ref(ref)
        for resource in (LB_CONFIGURATIONS, LB_CONFIGURATIONS_V1BETA1):
            found = self.kube.get_object(resource, namespace, name)
            if found is not None:
                return found
        return None

    def gateway_class(
        self,
        name: str,
        *,
        lb: Literal["alb", "nlb"] = "alb",
        config: JSON | None = None,
        config_version: Literal["v1", "v1beta1"] = "v1",
    ) -> JSON:
        """A GatewayClass served by the controller; ``config`` makes its class-level
        configuration ``gateway-system/<name>-config``."""
        spec: JSON = {"controllerName": f"gateway.k8s.aws/{lb}"}
        if config is not None:
            self.load_balancer_configuration(
                f"gateway-system/{name}-config", spec=config, version=config_version
            )
            spec["parametersRef"] = {
                "group": CONFIG_GROUP,
                "kind": CONFIG_KIND,
                "name": f"{name}-config",
                "namespace": "gateway-system",
            }
        return self.kube.put_object(GATEWAY_CLASSES, {"metadata": {"name": name}, "spec": spec})

    def gateway(
        self,
        ref: str,
        *,
        lb: Literal["alb", "nlb"] = "alb",
        ports: GatewayPorts = (80,),
        config: JSON | None = None,
        class_config: JSON | None = None,
        config_version: Literal["v1", "v1beta1"] = "v1",
        gateway_class: str | None = None,
        annotations: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
    ) -> Owned:
        """A Gateway ``ns/name`` and the ALB/NLB the controller makes for it.

        ``config``: the spec of the Gateway's own LoadBalancerConfiguration
        ``ns/<name>-config``, referenced by ``spec.infrastructure.parametersRef`` (none when
        ``None``). ``class_config``: the spec of a class-level configuration on a GatewayClass
        of this Gateway's own (``<ns>-<name>``); otherwise the shared class ``<lb>-gateways``.
        ``ports``: ints (HTTPS for 443 and HTTP otherwise on an ALB, TCP on an NLB) or
        ``(protocol, port)``. Without ``scheme`` in a configuration, the LB is internal.
        """
        namespace, name = _split_ref(ref)
        if gateway_class is None:
            if class_config is not None:
                gateway_class = f"{namespace}-{name}"
                self.gateway_class(
                    gateway_class, lb=lb, config=class_config, config_version=config_version
                )
            else:
                gateway_class = f"{lb}-gateways"
                if self.kube.get_object(GATEWAY_CLASSES, None, gateway_class) is None:
                    self.gateway_class(gateway_class, lb=lb)
        listeners: list[JSON] = []
        for port in ports:
            if isinstance(port, tuple):
                protocol, number = port
            elif lb == "nlb":
                protocol, number = "TCP", port
            else:
                protocol, number = ("HTTPS" if port == 443 else "HTTP"), port
            name_ = f"{protocol.lower()}-{number}"
            if any(existing["name"] == name_ for existing in listeners):
                name_ = f"{name_}-{len(listeners)}"  # listener names are unique in a Gateway
            listeners.append({"name": name_, "port": number, "protocol": protocol})
        spec: JSON = {"gatewayClassName": gateway_class, "listeners": listeners}
        if config is not None:
            self.load_balancer_configuration(
                f"{namespace}/{name}-config", spec=config, version=config_version
            )
            spec["infrastructure"] = {
                "parametersRef": {
                    "group": CONFIG_GROUP,
                    "kind": CONFIG_KIND,
                    "name": f"{name}-config",
                }
            }
        self.kube.put_object(
            GATEWAYS,
            {
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "Gateway",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "annotations": dict(annotations or {}),
                    "labels": dict(labels or {}),
                },
                "spec": spec,
            },
        )
        prefix = GATEWAY_ALB if lb == "alb" else GATEWAY_NLB
        return Owned(self, "Gateway", [(namespace, name)], self._reconcile(prefix, ref))

    # -- EKS Auto Mode ----------------------------------------------------------------------

    def auto_mode_ingress(
        self,
        ref: str,
        *,
        scheme: str = "internet-facing",
        ports: Sequence[int] = (80,),
        inbound_cidrs: Sequence[str] | None = None,
        annotations: dict[str, str] | None = None,
    ) -> Owned:
        """An Ingress of Auto Mode's class ``eks-alb`` and the ALB its built-in controller
        makes, tagged ``eks:eks-cluster-name`` / ``ingress.eks.amazonaws.com/stack``."""
        if self.kube.get_object(INGRESS_CLASSES, None, "eks-alb") is None:
            self.ingress_class("eks-alb", controller=AUTO_MODE_ALB_CONTROLLER)
        obj = self._ingress_object(
            ref,
            scheme=scheme,
            ports=ports,
            ingress_class="eks-alb",
            group=None,
            inbound_cidrs=inbound_cidrs,
            frontend_nlb=False,
            annotations=annotations,
            labels=None,
            spec=None,
        )
        self.kube.put_object(INGRESSES, obj)
        stack = self._reconcile(INGRESS, ref, auto_mode=True)
        return Owned(self, "Ingress", [_split_ref(ref)], stack)

    def auto_mode_service(
        self,
        ref: str,
        *,
        ports: Sequence[tuple[str, int]] = (("TCP", 80),),
        scheme: str = "internet-facing",
    ) -> Owned:
        """A Service of ``loadBalancerClass: eks.amazonaws.com/nlb`` and its Auto Mode NLB."""
        obj = self._service_object(
            ref,
            ports=ports,
            scheme=scheme,
            handled_by="none",
            source_ranges=None,
            annotations=None,
            labels=None,
            spec={"loadBalancerClass": AUTO_MODE_NLB_CLASS},
        )
        self.kube.put_object(SERVICES, obj)
        stack = self._reconcile(SERVICE, ref, auto_mode=True)
        return Owned(self, "Service", [_split_ref(ref)], stack)

    def _reconcile_owner(self, prefix: str, owner: str) -> Stack | None:
        """Reconcile the stack whose members include ``owner`` (``ns/name``)."""
        for model in self.lbc.models():
            if model.prefix == prefix and owner in {object_ref(m) for m in model.members}:
                return self.lbc.reconcile_model(model)
        return None

    def _reconcile(
        self, prefix: str, name: str, *, security_groups: bool = True, auto_mode: bool = False
    ) -> Stack | None:
        for model in self.lbc.models():
            if (model.prefix, model.name, model.auto_mode) == (prefix, name, auto_mode):
                return self.lbc.reconcile_model(model, security_groups=security_groups)
        return None

    # -- bulk seeding (benchmarks) ----------------------------------------------------------

    def bulk_services(
        self, count: int, *, namespace: str = "bulk", security_groups: bool = True
    ) -> list[Owned]:
        """``count`` handled Services with NLBs, created straight in moto's backends."""
        refs = [f"{namespace}/svc-{index:05d}" for index in range(count)]
        for ref in refs:
            self.kube.put_object(
                SERVICES,
                self._service_object(
                    ref,
                    ports=(("TCP", 443),),
                    scheme="internet-facing",
                    handled_by="class",
                    source_ranges=None,
                    annotations=None,
                    labels=None,
                    spec=None,
                ),
            )
        return self._bulk_reconcile(SERVICE, "Service", refs, security_groups=security_groups)

    def bulk_ingresses(self, count: int, *, namespace: str = "bulk") -> list[Owned]:
        """``count`` Ingresses with their ALBs, created straight in moto's backends."""
        refs = [f"{namespace}/ing-{index:05d}" for index in range(count)]
        for ref in refs:
            self.kube.put_object(
                INGRESSES,
                self._ingress_object(
                    ref,
                    scheme="internet-facing",
                    ports=(80, 443),
                    ingress_class="alb",
                    group=None,
                    inbound_cidrs=None,
                    frontend_nlb=False,
                    annotations=None,
                    labels=None,
                    spec=None,
                ),
            )
        return self._bulk_reconcile(INGRESS, "Ingress", refs, security_groups=True)

    def _bulk_reconcile(
        self,
        prefix: str,
        kind: Literal["Ingress", "Service"],
        refs: list[str],
        *,
        security_groups: bool,
    ) -> list[Owned]:
        wanted = set(refs)
        owned: list[Owned] = []
        for model in self.lbc.models():
            if model.prefix == prefix and model.name in wanted:
                stack = self.lbc.reconcile_model(
                    model, in_process=True, security_groups=security_groups
                )
                owned.append(Owned(self, kind, [_split_ref(model.name)], stack))
        return owned

    def stop(self) -> None:
        self.kube.stop()


class Sandbox:
    """moto + a CA + clusters. Enter it (or ``start()``) before use; ``reset()`` between tests."""

    def __init__(self) -> None:
        self.moto = MotoServer()
        self.ca: CertificateAuthority = create_ca()
        self.clusters: dict[str, Cluster] = {}
        self._exit_stack = ExitStack()
        self._clients: dict[str, Any] = {}

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        self._exit_stack.enter_context(shared_service_models())
        self.moto.start()
        self._exit_stack.callback(self.moto.stop)
        self._exit_stack.enter_context(self.moto.environment())

    def stop(self) -> None:
        """Stop the clusters and moto, emptying moto's backends (they are per process)."""
        self._stop_clusters()
        if self.moto.running:
            self.moto.reset()
        self._exit_stack.close()
        self._clients.clear()

    def reset(self) -> None:
        """Stop every cluster and forget every AWS resource."""
        self._stop_clusters()
        self.moto.reset()

    def _stop_clusters(self) -> None:
        for cluster in self.clusters.values():
            cluster.stop()
        self.clusters.clear()

    @property
    def endpoint_url(self) -> str:
        return self.moto.endpoint_url

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` pointed at the sandbox (cached per service)."""
        if service not in self._clients:
            self._clients[service] = boto3.client(
                service,  # type: ignore[call-overload]
                endpoint_url=self.endpoint_url,
                region_name=REGION,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",  # noqa: S106 - moto accepts anything
            )
        return self._clients[service]

    def cluster(
        self,
        name: str,
        *,
        cidr: str = "10.0.0.0/16",
        controller: ControllerOptions | None = None,
        kubernetes_version: str | None = None,
    ) -> Cluster:
        """An EKS cluster ``name`` with its VPC, emulator, controller and IngressClass ``alb``.

        ``controller``: the controller's flags (default: as installed by its Helm chart).
        ``kubernetes_version``: DescribeCluster's ``version`` (default: moto's, 1.19).
        """
        if name in self.clusters:
            raise ValueError(f"cluster {name!r} already exists")
        cluster = Cluster(
            self,
            name,
            cidr=cidr,
            controller=controller or ControllerOptions(),
            kubernetes_version=kubernetes_version,
        )
        self.clusters[name] = cluster
        return cluster

    def foreign_load_balancer(
        self,
        name: str,
        *,
        lb_type: Literal["application", "network"] = "application",
        scheme: Literal["internet-facing", "internal"] = "internet-facing",
        vpc_cidr: str = "172.16.0.0/16",
    ) -> LoadBalancer:
        """An LB made by something else (Terraform, the console): no controller tags."""
        ec2 = self.client("ec2")
        vpc_id = ec2.create_vpc(CidrBlock=vpc_cidr)["Vpc"]["VpcId"]
        prefix = ".".join(vpc_cidr.split(".")[:2])
        subnets = [
            ec2.create_subnet(
                VpcId=vpc_id, CidrBlock=f"{prefix}.{index}.0/24", AvailabilityZone=f"{REGION}{zone}"
            )["Subnet"]["SubnetId"]
            for index, zone in enumerate("ab")
        ]
        group_id = ec2.create_security_group(
            GroupName=f"{name}-sg", Description="terraform", VpcId=vpc_id
        )["GroupId"]
        tags = {"ManagedBy": "terraform"}
        created = self.client("elbv2").create_load_balancer(
            Name=name,
            Type=lb_type,
            Scheme=scheme,
            Subnets=subnets,
            SecurityGroups=[group_id],
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )["LoadBalancers"][0]
        event = cloudtrail_create_load_balancer(
            cluster="terraform",
            name=name,
            lb_type=lb_type,
            scheme=scheme,
            subnets=subnets,
            security_groups=[group_id],
            tags=tags,
            arn=created["LoadBalancerArn"],
            vpc_id=vpc_id,
            dns_name=created["DNSName"],
        )
        event["detail"]["userAgent"] = "APN/1.0 HashiCorp/1.0 Terraform/1.9.8"
        return LoadBalancer(created["LoadBalancerArn"], name, lb_type, event)

    def sqs_queue(self, name: str) -> Queue:
        sqs = self.client("sqs")
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        return Queue(url, arn, self)

    def sns_topic(self, name: str) -> Topic:
        return Topic(self.client("sns").create_topic(Name=name)["TopicArn"])
