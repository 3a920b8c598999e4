"""The doctor's run: every area in turn, each a module that takes the clients it needs and
returns :class:`~frontguard.doctor.report.Check` results (:mod:`~frontguard.doctor.trail`,
:mod:`~frontguard.doctor.rules`, :mod:`~frontguard.doctor.alerting`,
:mod:`~frontguard.doctor.functions`, :mod:`~frontguard.doctor.channels`,
:mod:`~frontguard.doctor.clusters`, :mod:`~frontguard.doctor.born`).

Every failure says what to fix. AWS reads use the caller's own credentials; Kubernetes reads
go through EKS (DescribeCluster + a presigned STS token), as the functions do.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

from botocore.exceptions import ClientError

from frontguard.adapters.kube import KubeClient
from frontguard.doctor import alerting, born, channels, clusters, functions, rules, trail
from frontguard.doctor.deployment import Client, Deployment
from frontguard.doctor.report import Check, failed
from frontguard.policy import Policy


def _born(
    expect: Callable[[Policy, str], born.Expected],
    policy: Callable[[], Policy | None],
    connect: Callable[[str], KubeClient],
    cluster: str,
) -> list[Check]:
    loaded = policy()
    if loaded is None:
        return []  # the functions area reports the policy that does not load
    return born.check_born_protected(connect, expect, loaded, cluster)


Area = tuple[str, Callable[[], list[Check]]]  # (area name, its checks)


def run_all(
    *,
    clients: Mapping[str, Client],
    connect: Callable[[str], KubeClient],
    deployment: Deployment,
    publish: bool,
    born_protected: Callable[[Policy, str], born.Expected] | None = None,
) -> list[Check]:
    """Every area in turn (``born_protected``: what `frontguard render born-protected` prints
    for a cluster, see :mod:`frontguard.doctor.born`); an AWS error in one area is that area's
    failure, not the end of the run (the other areas are still checked)."""
    areas = [
        *_deployment_areas(clients, deployment, publish=publish),
        *_cluster_areas(clients, connect, deployment, born_protected),
    ]
    checks: list[Check] = []
    for area, check in areas:
        try:
            checks += check()
        except ClientError as error:
            details = error.response.get("Error", {})
            operation = getattr(error, "operation_name", "an AWS call")
            checks.append(
                failed(
                    area,
                    "aws",
                    f"{operation}: {details.get('Code')}: {details.get('Message', '')}",
                    "if AccessDenied, give your credentials read access to the stack's "
                    "resources; otherwise the resource is missing: redeploy the stack",
                )
            )
    return checks


def _deployment_areas(
    clients: Mapping[str, Client], deployment: Deployment, *, publish: bool
) -> list[Area]:
    """The account's and the stack's areas, in the order the table shows them."""
    return [
        ("account", lambda: functions.check_account(clients["lambda"])),
        ("cloudtrail", lambda: trail.check_cloudtrail(clients["cloudtrail"], deployment.region)),
        ("eventbridge", lambda: rules.check_rules(clients["events"], deployment)),
        (
            "alerting",
            lambda: alerting.check_alerting(
                clients["sns"], clients["cloudwatch"], deployment, publish=publish
            ),
        ),
        (
            "functions",
            lambda: functions.check_functions(
                clients["lambda"], clients["cloudwatch"], clients["sqs"], clients["ssm"], deployment
            ),
        ),
        (
            channels.AREA,
            lambda: channels.check_channels(
                clients["sqs"],
                clients["sns"],
                clients["dynamodb"],
                account=deployment.account,
                queue_urls=deployment.queues,
                topic_arn=deployment.topic_arn,
                table_arn=deployment.state_table_arn,
                roles=deployment.roles,
            ),
        ),
    ]


def _cluster_areas(
    clients: Mapping[str, Client],
    connect: Callable[[str], KubeClient],
    deployment: Deployment,
    born_protected: Callable[[Policy, str], born.Expected] | None,
) -> list[Area]:
    """Each cluster's access and controller, then its born-protected objects (the deployed
    policy is read once, for all clusters)."""
    policy = functools.cache(
        lambda: functions.deployed_policy(clients["lambda"], clients["ssm"], deployment)
    )
    areas: list[Area] = []
    for c in deployment.clusters:
        areas.append(
            (
                f"cluster {c}",
                functools.partial(clusters.check_cluster, clients["eks"], connect, deployment, c),
            )
        )
        if born_protected is not None:
            areas.append(
                (f"cluster {c}", functools.partial(_born, born_protected, policy, connect, c))
            )
    return areas
