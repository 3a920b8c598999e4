"""moto in server mode, in-process, with the fidelity fixes frontguard depends on.

`MotoServer` serves moto's backends over HTTP on a free 127.0.0.1 port in a background
thread; boto3 reaches it through ``AWS_ENDPOINT_URL`` (see `MotoServer.environment`). Because
the server runs in this process, the sandbox can patch and read moto's backends directly.

Fidelity fixes (`install_fidelity_fixes`, moto 5.2.5), each a small wrapper of one backend
method, documented with the real AWS behaviour:

- `_set_security_groups`: ``SetSecurityGroups`` on a Network Load Balancer created without
  security groups fails with ``InvalidConfigurationRequest`` (moto accepts it), and removing
  every SG from an NLB created with SGs fails the same way.
- `_delete_security_group`: ``DeleteSecurityGroup`` fails with ``DependencyViolation`` while
  the group is attached to an ELBv2 load balancer or referenced by another group's
  ingress/egress rule (moto deletes it).
- `_create_load_balancer`: NLB ARNs read ``loadbalancer/net/...`` (moto writes ``/app/`` for
  every type).
- `_describe_security_groups_paged`: ``DescribeSecurityGroups`` honours ``MaxResults`` and
  ``NextToken`` (moto returns everything in one page).
- `_get_security_group_from_id`, `_describe_load_balancers`, `_get_tags` (speed only):
  lookups by ID/ARN and tag reads stop scanning (and copying) every SG, LB or tag, which made
  thousands of LBs quadratic.
- `_test_event_pattern`: ``TestEventPattern`` answers with moto's own pattern matcher (moto's
  server leaves it unimplemented).
- `_matches_event`: EventBridge patterns match *into* arrays of objects, as Event Ruler
  (EventBridge's matcher) does: the array is "crushed out" and a pattern's fields must come
  from the same element (aws/event-ruler README, "JSON Array Matching"; moto only matches
  arrays of scalars). Needed for ``requestParameters.tagSpecificationSet.items[].tags[]``.
- `_create_cluster`: EKS clusters report ``resourcesVpcConfig.vpcId``, the VPC of their
  subnets (moto omits it). The endpoint and CA are set per cluster by
  `set_cluster_endpoint` to the cluster's Kubernetes emulator and the sandbox CA.

Security Hub (`sandbox.securityhub`) and cross-account STS/Organizations
(`sandbox.organization`) have fixes of their own, installed with these.

EKS access entries and authentication modes are served by `sandbox.eks_access` in front of
moto; Lambda's GetAccountSettings by `sandbox.lambda_account`; alarm actions and their
history by `sandbox.alarms`. Remaining gaps (measured; tests
must not rely on them): EventBridge schedules never fire; no error
injection (use a botocore ``before-send`` hook).
"""

from __future__ import annotations

import functools
import json
import os
import threading
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.exceptions import DependencyViolationError
from moto.ec2.models import ec2_backends
from moto.ec2.models.core import TaggedEC2Resource
from moto.ec2.models.security_groups import SecurityGroupBackend
from moto.ec2.responses.security_groups import SecurityGroups as SecurityGroupsResponse
from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix
from moto.eks.models import EKSBackend, eks_backends
from moto.elbv2.exceptions import InvalidConfigurationRequest, LoadBalancerNotFoundError
from moto.elbv2.models import ELBv2Backend, FakeLoadBalancer, elbv2_backends
from moto.events.models import EventPattern
from moto.events.responses import EventsHandler
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.sns.models import sns_backends
from moto.sqs.models import sqs_backends
from werkzeug.serving import BaseWSGIServer, make_server

from sandbox import alarms, securityhub, sts
from sandbox.eks_access import EksAccess
from sandbox.lambda_account import LambdaAccount

ACCOUNT_ID = "123456789012"
REGION = "eu-west-1"

Method = Callable[..., Any]

_ENVIRONMENT_KEYS = (
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_PROFILE",
    "MOTO_EC2_LOAD_DEFAULT_AMIS",
)


class MotoServerError(RuntimeError):
    """The moto server could not be started."""


class _QuietRequestHandler(MotoRequestHandler):
    """moto's request handler without werkzeug's one-line-per-request access log."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


class MotoServer:
    """moto's server on 127.0.0.1, in a daemon thread of this process.

    ``start()`` binds the port synchronously, so a failure to start raises `MotoServerError`
    right there, saying why; ``stop()`` shuts the server down and joins the thread.
    """

    def __init__(self, port: int = 0) -> None:
        self._requested_port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.eks_access: EksAccess | None = None
        self.lambda_account: LambdaAccount | None = None

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("moto server is not running")
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("moto server already started")
        install_fidelity_fixes()
        alarms.install()
        self.eks_access = EksAccess(
            DomainDispatcherApplication(create_backend_app), ACCOUNT_ID, REGION
        )
        self.lambda_account = LambdaAccount(self.eks_access)
        app = self.lambda_account
        try:
            self._server = make_server(
                "127.0.0.1", self._requested_port, app, True, request_handler=_QuietRequestHandler
            )
        except (OSError, SystemExit) as error:  # werkzeug exits when the port is taken
            raise MotoServerError(
                f"moto server failed to start: cannot listen on 127.0.0.1:{self._requested_port}"
                " (address already in use, or not permitted)"
            ) from error
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="moto-server", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._server = None
        self._thread = None

    def reset(self) -> None:
        """Forget every AWS resource (moto's ``/moto-api/reset``)."""
        url = f"{self.endpoint_url}/moto-api/reset"  # always http://127.0.0.1
        request = urllib.request.Request(url, method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            response.read()
        if self.eks_access is not None:
            self.eks_access.reset()
        if self.lambda_account is not None:
            self.lambda_account.reset()
        alarms.reset()

    @contextmanager
    def environment(self) -> Iterator[None]:
        """Point boto3 at this server with fake credentials; restore ``os.environ`` on exit."""
        saved = {key: os.environ.get(key) for key in _ENVIRONMENT_KEYS}
        for key in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
            os.environ.pop(key, None)
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": self.endpoint_url,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                # ~2,600 sample AMIs cost 0.2 s per EC2 backend (after every reset); unused.
                "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
            }
        )
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def elbv2_backend() -> ELBv2Backend:
    return elbv2_backends[ACCOUNT_ID][REGION]


def ec2_backend() -> Any:
    return ec2_backends[ACCOUNT_ID][REGION]


def set_cluster_endpoint(cluster_name: str, endpoint: str, ca_data: str) -> None:
    """Make ``DescribeCluster`` return ``endpoint`` and ``ca_data`` (base64 PEM)."""
    cluster = eks_backends[ACCOUNT_ID][REGION].clusters[cluster_name]
    cluster.endpoint = endpoint
    cluster.certificate_authority = {"data": ca_data}


def published_messages(topic_arn: str) -> list[dict[str, Any]]:
    """Messages published to an SNS topic: ``MessageId``, ``Subject``, ``Message``."""
    region = topic_arn.split(":")[3]
    topic = sns_backends[ACCOUNT_ID][region].topics[topic_arn]
    return [
        {"MessageId": message_id, "Subject": subject, "Message": message}
        for message_id, message, subject, _attributes, _group in topic.sent_notifications
    ]


def queued_messages(queue_url: str) -> list[dict[str, Any]]:
    """What an SQS queue holds, read in the emulator without receiving it: ``MessageId``,
    ``Body``, ``ReceiptHandle`` (moto's receive scans the whole queue per call, which makes
    draining 10,000 messages take half an hour; the benchmarks read them here instead)."""
    queue = sqs_backends[ACCOUNT_ID][REGION].queues[queue_url.rsplit("/", 1)[-1]]
    return [
        {"MessageId": m.id, "Body": m.body, "ReceiptHandle": f"unreceived-{m.id}"}
        for m in queue.messages  # visible and not delayed: what a receive would return
    ]


# --- fidelity fixes --------------------------------------------------------------------------


def _set_security_groups(original: Method) -> Method:
    """Real AWS refuses SGs on an NLB created without them, and refuses to remove them all.

    AWS: "You cannot set security groups on a Network Load Balancer which was created without
    any security groups." (``InvalidConfigurationRequest``). An NLB's SGs can never be
    emptied, so an NLB without SGs is exactly one that was created without any.
    """

    @functools.wraps(original)
    def wrapper(self: ELBv2Backend, arn: str, sec_groups: list[str]) -> None:
        balancer: FakeLoadBalancer | None = self.load_balancers.get(arn)
        if balancer is not None and balancer.type == "network":
            if not balancer.security_groups:
                raise InvalidConfigurationRequest(
                    "You cannot set security groups on a Network Load Balancer which was "
                    "created without any security groups."
                )
            if not sec_groups:
                raise InvalidConfigurationRequest(
                    "You cannot remove all security groups from a Network Load Balancer "
                    "which was created with security groups."
                )
        original(self, arn, sec_groups)

    return wrapper


def _security_group_dependents(ec2: Any, group_id: str) -> list[str]:
    """What keeps ``group_id`` from being deleted: attached LBs and referencing SGs."""
    dependents = [
        balancer.arn
        for balancer in elbv2_backends[ec2.account_id][ec2.region_name].load_balancers.values()
        if group_id in (balancer.security_groups or [])
    ]
    for groups in ec2.groups.values():
        for group in groups.values():
            if group.id == group_id:
                continue
            rules = [*group.ingress_rules, *group.egress_rules]
            if any(rule.source_group.get("GroupId") == group_id for rule in rules):
                dependents.append(group.id)
    return dependents


def _delete_security_group(original: Method) -> Method:
    """Real AWS refuses to delete an SG that is in use.

    AWS: ``DependencyViolation`` "resource sg-... has a dependent object" while the group is
    attached to a network interface (an ELBv2 load balancer's) or referenced by a rule of
    another group. A group's rules referencing itself do not count.
    """

    @functools.wraps(original)
    def wrapper(self: Any, name: str | None = None, group_id: str | None = None) -> None:
        group = (
            self.get_security_group_by_name_or_id(group_id or name) if group_id or name else None
        )
        if group is not None and _security_group_dependents(self, group.id):
            raise DependencyViolationError(f"resource {group.id} has a dependent object")
        original(self, name=name, group_id=group_id)

    return wrapper


def _create_load_balancer(original: Method) -> Method:
    """Real NLB ARNs read ``:loadbalancer/net/<name>/<id>`` (ALBs ``/app/``); moto says ``/app/``."""

    @functools.wraps(original)
    def wrapper(self: ELBv2Backend, *args: Any, **kwargs: Any) -> FakeLoadBalancer:
        balancer: FakeLoadBalancer = original(self, *args, **kwargs)
        if balancer.type == "network" and "/app/" in balancer.arn:
            old_arn = balancer.arn
            balancer.arn = old_arn.replace(":loadbalancer/app/", ":loadbalancer/net/")
            self.load_balancers[balancer.arn] = self.load_balancers.pop(old_arn)
            tags = self.tagging_service.tags
            if old_arn in tags:
                tags[balancer.arn] = tags.pop(old_arn)
        return balancer

    return wrapper


def _create_cluster(original: Method) -> Method:
    """Real EKS reports ``resourcesVpcConfig.vpcId``: the VPC of the cluster's subnets."""

    @functools.wraps(original)
    def wrapper(self: EKSBackend, *args: Any, **kwargs: Any) -> Any:
        cluster = original(self, *args, **kwargs)
        config = cluster.resources_vpc_config
        subnet_ids = config.get("subnetIds") or []
        if subnet_ids and "vpcId" not in config:
            subnet = ec2_backends[self.account_id][self.region_name].get_subnet(subnet_ids[0])
            config["vpcId"] = subnet.vpc_id
        return cluster

    return wrapper


def _get_security_group_from_id(original: Method) -> Method:
    """Speed, not fidelity: find an SG by ID with one dict lookup per VPC.

    moto copies every group of every VPC on each lookup, which every SG call makes: seeding
    thousands of LBs becomes quadratic. Same result, without the copies.
    """

    @functools.wraps(original)
    def wrapper(self: Any, group_id: str) -> Any:
        for groups in list(self.groups.values()):
            group = groups.get(group_id)
            if group is not None:
                return group
        return None

    return wrapper


def _describe_load_balancers(original: Method) -> Method:
    """Speed, not fidelity: describe LBs by ARN with a dict lookup, not a scan per ARN."""

    @functools.wraps(original)
    def wrapper(
        self: ELBv2Backend, arns: list[str] | None, names: list[str] | None
    ) -> list[FakeLoadBalancer]:
        if not arns or names:
            return list(original(self, arns, names))
        found: list[FakeLoadBalancer] = []
        for arn in arns:
            balancer = self.load_balancers.get(arn)
            if balancer is None:
                raise LoadBalancerNotFoundError()
            balancer.activate()
            if balancer not in found:
                found.append(balancer)
        return found

    return wrapper


def _get_tags(original: Method) -> Method:
    """Performance, not fidelity: moto looks an EC2 resource's tags up by scanning every tag
    in the region (O(n) per resource, O(n²) per filtered describe). Real AWS answers a
    filtered DescribeSecurityGroups over thousands of SGs in milliseconds; so must we."""

    @functools.wraps(original)
    def get_tags(self: Any) -> list[dict[str, str]]:
        if not getattr(self, "id", None):
            return []
        tags = self.ec2_backend.tags.get(self.id, {})
        resource_type = EC2_PREFIX_TO_RESOURCE.get(get_prefix(self.id), "")
        return [
            {"resource_id": self.id, "key": k, "value": v, "resource_type": resource_type}
            for k, v in tags.items()
        ]

    return get_tags


def _describe_security_groups_paged(original: Method) -> Method:
    """DescribeSecurityGroups honours MaxResults/NextToken like AWS (moto returns one page)."""

    @functools.wraps(original)
    def describe(self: Any) -> Any:
        max_results = self._get_param("MaxResults")
        token = self._get_param("NextToken")
        if max_results is None and token is None:
            return original(self)
        groups = self.ec2_backend.describe_security_groups(
            group_ids=self._get_param("GroupIds", []),
            groupnames=self._get_param("GroupNames", []),
            filters=self._filters_from_querystring(),
        )
        start = int(token or 0)
        size = int(max_results or 1000)
        result: dict[str, Any] = {"SecurityGroups": groups[start : start + size]}
        if start + size < len(groups):
            result["NextToken"] = str(start + size)
        return ActionResult(result)

    return describe


def _test_event_pattern(original: Method) -> Method:
    """TestEventPattern answers ``{"Result": bool}`` (moto's server answers nothing), from
    moto's own pattern matcher, which the EventBridge rules already use to route events.
    https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_TestEventPattern.html"""

    @functools.wraps(original)
    def test(self: Any) -> Any:
        pattern = EventPattern.load(self._get_param("EventPattern"))
        event = json.loads(self._get_param("Event"))
        return json.dumps({"Result": pattern.matches_event(event)}), self.response_headers

    return test


# Enough for the CloudTrail records frontguard matches (a handful of tags); bounded so that an
# event with many arrays cannot make matching quadratic.
MAX_ARRAY_VARIANTS = 4096


def _array_variants(node: Any) -> Iterator[Any]:
    """``node`` with every array of objects replaced by one of its elements, each choice in
    turn (Event Ruler's array-consistent matching: fields of one match come from one
    element). Arrays of scalars stay: moto already matches those by intersection."""
    if isinstance(node, dict):
        keys = list(node)
        partials: list[dict[str, Any]] = [{}]
        for key in keys:
            options = list(_array_variants(node[key]))
            partials = [{**p, key: o} for p in partials for o in options][:MAX_ARRAY_VARIANTS]
        yield from partials
    elif isinstance(node, list) and node and all(isinstance(v, dict | list) for v in node):
        for element in node:
            yield from _array_variants(element)
    else:
        yield node


def _matches_event(original: Method) -> Method:
    """Match into arrays of objects, as Event Ruler does (see `_array_variants`)."""

    @functools.wraps(original)
    def matches(self: EventPattern, event: Any) -> bool:
        if original(self, event):
            return True
        return any(original(self, variant) for variant in _array_variants(event))

    return matches


_FIXES: list[tuple[type, str, Callable[[Method], Method]]] = [
    (EventPattern, "matches_event", _matches_event),
    (TaggedEC2Resource, "get_tags", _get_tags),
    (SecurityGroupsResponse, "describe_security_groups", _describe_security_groups_paged),
    (ELBv2Backend, "describe_load_balancers", _describe_load_balancers),
    (SecurityGroupBackend, "get_security_group_from_id", _get_security_group_from_id),
    (ELBv2Backend, "set_security_groups", _set_security_groups),
    (ELBv2Backend, "create_load_balancer", _create_load_balancer),
    (SecurityGroupBackend, "delete_security_group", _delete_security_group),
    (EKSBackend, "create_cluster", _create_cluster),
    (EventsHandler, "test_event_pattern", _test_event_pattern),
]
_FIXED_MARK = "__frontguard_sandbox_fix__"
_install_lock = threading.Lock()


def install_fidelity_fixes() -> None:
    """Patch moto's backend classes (once per process; the fixes apply to every backend)."""
    securityhub.install()
    sts.install()
    with _install_lock:
        for cls, method, fix in _FIXES:
            original = getattr(cls, method)
            if not getattr(original, _FIXED_MARK, False):
                fixed = fix(original)
                setattr(fixed, _FIXED_MARK, True)
                setattr(cls, method, fixed)
