"""Wiring: boto3 clients, the policy and the engine, built once per process on first use.

Handlers and the CLI call :func:`build_runtime`; tests build their own with a session of
their choosing. Nothing here runs at import.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

from frontguard.adapters.aws import CLIENT_CONFIG
from frontguard.adapters.aws_errors import translate
from frontguard.adapters.eks import bearer_token, describe_cluster
from frontguard.adapters.kube import KubeClient
from frontguard.adapters.remediation_queue import RemediationSink, SqsRemediationQueue
from frontguard.adapters.securityhub import SecurityHubFindings
from frontguard.adapters.state import DedupedAlerts, StateTable
from frontguard.adapters.tagging import TaggingClient
from frontguard.adapters.verify_queue import SqsVerifyQueue
from frontguard.alerts import AlertSink, FanOutAlerts, LogOnlyAlerts, SnsAlerts
from frontguard.engine.decision import Engine
from frontguard.errors import ConfigurationError
from frontguard.policy import Policy
from frontguard.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_eks import EKSClient
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_sts import STSClient


class ClusterConnector:
    """Kubernetes clients per cluster, cached for the life of the process.

    Each client refreshes its EKS token shortly before it expires.
    """

    def __init__(self, eks: EKSClient, sts: STSClient) -> None:
        self._eks = eks
        self._sts = sts
        self._clients: dict[str, KubeClient] = {}

    def __call__(self, cluster: str) -> KubeClient:
        client = self._clients.get(cluster)
        if client is None:
            endpoint = describe_cluster(self._eks, cluster)
            client = KubeClient(endpoint, functools.partial(bearer_token, self._sts, cluster))
            self._clients[cluster] = client
        return client

    def calls(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for client in self._clients.values():
            for method, count in client.calls.items():
                totals[method] = totals.get(method, 0) + count
        return totals


def load_policy(settings: Settings, ssm: SSMClient | None) -> Policy:
    if settings.policy_json is not None:
        return Policy.from_json(settings.policy_json)
    assert settings.policy_parameter is not None and ssm is not None
    try:
        value = ssm.get_parameter(Name=settings.policy_parameter)["Parameter"]["Value"]
    except ClientError as error:
        raise translate(error, f"read policy parameter {settings.policy_parameter}") from error
    return Policy.from_json(value)


@dataclass
class Runtime:
    settings: Settings
    session: boto3.Session
    engine: Engine
    connector: ClusterConnector
    account: str
    region: str
    findings: SecurityHubFindings | None = None
    remediations: RemediationSink | None = None
    # The Resource Groups Tagging API: the event path finds a new managed SG's load balancer.
    tagging: TaggingClient | None = None


def _where(session: boto3.Session, sts: Any) -> tuple[str, str]:
    """The account (STS GetCallerIdentity) and region this runtime acts in."""
    region = session.region_name
    if not region:
        raise ConfigurationError("no AWS region configured (AWS_REGION / AWS_DEFAULT_REGION)")
    try:
        account = sts.get_caller_identity()["Account"]
    except ClientError as error:
        raise translate(error, "GetCallerIdentity") from error
    return str(account), region


def _alert_sinks(
    session: boto3.Session,
    settings: Settings,
    policy: Policy,
    state: StateTable | None,
    findings: SecurityHubFindings | None,
    *,
    account: str,
    region: str,
) -> AlertSink:
    """SNS (or the log), deduplicated per alert period through the state table, then fanned
    out to Security Hub."""
    alerts: AlertSink
    if settings.alert_topic_arn:
        alerts = SnsAlerts(
            session.client("sns", config=CLIENT_CONFIG),
            settings.alert_topic_arn,
            account=account,
            region=region,
        )
    else:
        alerts = LogOnlyAlerts()
    if state is not None:
        alerts = DedupedAlerts(alerts, state, policy.alert_period_hours * 3600)
    if findings is not None:
        # Outside the dedupe: a finding reopened within the alert period must reach Security
        # Hub even though humans were told about it already.
        alerts = FanOutAlerts(alerts, findings)
    return alerts


def build_runtime(
    settings: Settings,
    *,
    session: boto3.Session | None = None,
    policy: Policy | None = None,
    sleep: Callable[[float], None] | None = None,
) -> Runtime:
    session = session or boto3.Session()
    sts = session.client("sts", config=CLIENT_CONFIG)
    account, region = _where(session, sts)
    if policy is None:
        ssm = session.client("ssm", config=CLIENT_CONFIG) if settings.policy_parameter else None
        policy = load_policy(settings, ssm)
    state = (
        StateTable(session.client("dynamodb", config=CLIENT_CONFIG), settings.state_table)
        if settings.state_table
        else None
    )
    findings = (
        SecurityHubFindings(
            session.client("securityhub", config=CLIENT_CONFIG), account=account, region=region
        )
        if settings.security_hub
        else None
    )
    alerts = _alert_sinks(
        session, settings, policy, state, findings, account=account, region=region
    )
    sqs = session.client("sqs", config=CLIENT_CONFIG)
    verify = SqsVerifyQueue(sqs, settings.verify_queue_url) if settings.verify_queue_url else None
    connector = ClusterConnector(session.client("eks", config=CLIENT_CONFIG), sts)
    engine = Engine(
        policy=policy,
        elbv2=session.client("elbv2", config=CLIENT_CONFIG),
        ec2=session.client("ec2", config=CLIENT_CONFIG),
        kube=connector,
        alerts=alerts,
        verify=verify,
        state=state,
        discovery_delays=settings.discovery_delays,
        findings=findings,
    )
    if sleep is not None:
        engine.sleep = sleep
    queue_url = settings.remediation_queue_url
    remediations = SqsRemediationQueue(sqs, queue_url) if queue_url else None
    return Runtime(
        settings,
        session,
        engine,
        connector,
        account,
        region,
        findings=findings,
        remediations=remediations,
        tagging=session.client("resourcegroupstaggingapi", config=CLIENT_CONFIG),
    )
