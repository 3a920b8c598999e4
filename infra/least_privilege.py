"""IAM statements for the actions a function's code declares in ``frontguard.permissions``.

Every action maps to exactly one scoping rule below; an action without one is an error, so a
new API call in the runtime cannot be granted by accident on "*". Statement ids start with
``Code`` (what the runtime calls) or ``Platform`` (what the Lambda service does with the
execution role: logs, event source, failure destination, VPC interfaces), which is how the
tests tell them apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from frontguard import permissions
from frontguard.permissions import partition_of
from frontguard.tags import MANAGED_BY_TAG, MANAGED_BY_VALUE

REQUEST_TAG: Final = {"StringEquals": {f"aws:RequestTag/{MANAGED_BY_TAG}": MANAGED_BY_VALUE}}
RESOURCE_TAG: Final = {"StringEquals": {f"aws:ResourceTag/{MANAGED_BY_TAG}": MANAGED_BY_VALUE}}
CREATE_ACTION: Final = {"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}}
CREATE_PREFIX_LIST_ACTION: Final = {"StringEquals": {"ec2:CreateAction": "CreateManagedPrefixList"}}
# Publishing to a KMS-encrypted topic needs the key: implied by sns:Publish.
TOPIC_KEY_ACTIONS: Final = ("kms:Decrypt", "kms:GenerateDataKey")


@dataclass(frozen=True)
class Scope:
    """The resources a function's code may touch, as ARNs."""

    account: str
    region: str
    clusters: Sequence[str]
    topic_arn: str
    topic_key_arn: str
    verify_queue_arn: str
    state_table_arn: str
    policy_parameter: str | None
    # The organization's central topic (infra/central_alerts.py): its key is known by alias.
    topic_key_alias: str | None = None
    # The scan's queue of repairs (infra/remediation.py): set for the scan function only.
    remediation_queue_arn: str | None = None
    # The scheduled canary's subscription to the alert topic (infra/canary.py).
    canary_queue_arn: str | None = None

    @property
    def partition(self) -> str:
        return partition_of(self.region)

    def arn(self, service: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account}:{resource}"

    def ec2_arn(self, resource: str) -> str:
        return self.arn("ec2", resource)

    @property
    def cluster_arns(self) -> list[str]:
        return [self.arn("eks", f"cluster/{name}") for name in self.clusters]

    @property
    def policy_parameter_arn(self) -> str | None:
        if self.policy_parameter is None:
            return None
        return self.arn("ssm", f"parameter/{self.policy_parameter.lstrip('/')}")


Conditions = dict[str, dict[str, str]]
Grant = tuple[Sequence[str], Conditions | None]


@dataclass(frozen=True)
class _Rule:
    """Actions that share one scoping: the resources (and conditions) they are granted on."""

    sid: str
    actions: tuple[str, ...]
    grants: Callable[[Scope, tuple[str, ...]], list[Grant]]  # (scope, actions granted)
    names: tuple[str, ...] = ()  # one statement id per grant, when the default reads badly

    def build(
        self, actions: list[str], scope: Scope, wanted: tuple[str, ...] = ()
    ) -> list[iam.PolicyStatement]:
        return [
            iam.PolicyStatement(
                sid=self.names[index] if self.names else f"{self.sid}{index or ''}",
                actions=actions,
                resources=list(resources),
                conditions=conditions,
            )
            for index, (resources, conditions) in enumerate(
                self.grants(scope, wanted or tuple(actions))
            )
        ]


def _security_groups(scope: Scope) -> str:
    return scope.ec2_arn("security-group/*")


def _prefix_lists(scope: Scope) -> str:
    return scope.ec2_arn("prefix-list/*")


def _tag_on_create(scope: Scope, actions: Sequence[str]) -> list[Grant]:
    grants: list[Grant] = [([_security_groups(scope)], CREATE_ACTION)]
    if "ec2:CreateManagedPrefixList" in actions:
        grants.append(([_prefix_lists(scope)], CREATE_PREFIX_LIST_ACTION))
    return grants


_RULES: Final = (
    # Describe* calls cannot be scoped to resources: AWS requires "*".
    _Rule(
        "CodeRead",
        (*permissions.ELBV2_READ, *permissions.EC2_READ),
        lambda _s, _w: [(["*"], None)],
    ),
    # AWS authorises CreateSecurityGroup against the new SG (which must carry frontguard's tag
    # in the request) and against the VPC it goes into (which carries no frontguard tag).
    _Rule(
        "CodeCreateSecurityGroup",
        ("ec2:CreateSecurityGroup",),
        lambda s, _w: [([_security_groups(s)], REQUEST_TAG), ([s.ec2_arn("vpc/*")], None)],
    ),
    _Rule("CodeTagOnCreate", ("ec2:CreateTags",), _tag_on_create),
    _Rule(
        "CodeMutateOwnSecurityGroups",
        (*permissions.EC2_CONVERGE_SG, *permissions.EC2_DELETE_SG),
        lambda s, _w: [([_security_groups(s)], RESOURCE_TAG)],
    ),
    _Rule(
        "CodeCreatePrefixList",
        ("ec2:CreateManagedPrefixList",),
        lambda s, _w: [([_prefix_lists(s)], REQUEST_TAG)],
    ),
    _Rule(
        "CodeModifyOwnPrefixLists",
        permissions.EC2_MODIFY_PREFIX_LIST,
        lambda s, _w: [([_prefix_lists(s)], RESOURCE_TAG)],
    ),
    # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonresourcegrouptaggingapi.html:
    # GetResources has no resource types, so it is granted on "*".
    _Rule("CodeFindByTags", permissions.TAGGING_READ, lambda _s, _w: [(["*"], None)]),
    _Rule("CodeDescribeClusters", permissions.EKS_READ, lambda s, _w: [(s.cluster_arns, None)]),
    _Rule("CodePublishAlert", permissions.ALERTS, lambda s, _w: [([s.topic_arn], None)]),
    _Rule(
        "CodeEnqueueVerification",
        permissions.VERIFY_QUEUE_SEND,
        lambda s, _w: [
            ([s.verify_queue_arn], None),
            *([([s.remediation_queue_arn], None)] if s.remediation_queue_arn else []),
        ],
        names=("CodeEnqueueVerification", "CodeEnqueueRemediation"),
    ),
    _Rule(
        "CodeReadCanaryAlerts",
        permissions.CANARY_QUEUE_READ,
        lambda s, _w: [([s.canary_queue_arn or ""], None)],
    ),
    _Rule(
        "CodeStateTable",
        (*permissions.STATE_TABLE, *permissions.CREATION_RECORDS, *permissions.SCAN_STATE),
        lambda s, _w: [([s.state_table_arn], None)],
    ),
    # Service Authorization Reference for Security Hub
    # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecurityhub.html):
    # BatchImportFindings is authorised on the product the findings are imported for (the
    # account's own "default" custom-integration product), the reads and workflow updates on
    # the hub.
    _Rule(
        "CodeImportFindings",
        ("securityhub:BatchImportFindings",),
        lambda s, _w: [([s.arn("securityhub", f"product/{s.account}/default")], None)],
    ),
    _Rule(
        "CodeFindingsWorkflow",
        ("securityhub:BatchUpdateFindings", "securityhub:GetFindings"),
        lambda s, _w: [([s.arn("securityhub", "hub/default")], None)],
    ),
    _Rule(
        "CodeReadPolicyParameter",
        permissions.POLICY_PARAMETER,
        lambda s, _w: [([s.policy_parameter_arn or ""], None)],
    ),
)
# Why each statement with a wildcard resource cannot be narrower (cdk-nag acknowledgements).
WILDCARD_REASONS: Final = {
    "CodeRead": "ELBv2 and EC2 Describe calls support no resource-level permissions: AWS "
    "requires '*' for them",
    "CodeCreateSecurityGroup": "a new security group has no ID before it exists; the grant "
    f"requires frontguard's tag in the request (aws:RequestTag/{MANAGED_BY_TAG})",
    "CodeCreateSecurityGroup1": "AWS also authorises CreateSecurityGroup against the VPC, "
    "which carries no frontguard tag; the security-group side is tag-conditioned",
    "CodeTagOnCreate": "tagging only as part of CreateSecurityGroup (ec2:CreateAction)",
    "CodeFindByTags": "tag:GetResources supports no resource-level permissions; it reads "
    "tags only (the events function finds a new managed SG's load balancer by its stack tags)",
    "CodeDescribeClusters": "organization roll-out: the clusters differ per account, so "
    "DescribeCluster covers the account's clusters; the policy's cluster globs select which "
    "are touched",
    "CodePublishAlertKey": "the organization's alert topic key, whose ID the member stacks "
    "cannot know: granted only for the key carrying the central alias (kms:ResourceAliases)",
    "CodeTagOnCreate1": "tagging only as part of CreateManagedPrefixList (ec2:CreateAction)",
    "CodeCreatePrefixList": "a new prefix list has no ID before it exists; the grant requires "
    f"frontguard's tag in the request (aws:RequestTag/{MANAGED_BY_TAG})",
    "CodeModifyOwnPrefixLists": "only prefix lists tagged "
    f"{MANAGED_BY_TAG}={MANAGED_BY_VALUE} (aws:ResourceTag)",
    "CodeMutateOwnSecurityGroups": "only security groups tagged "
    f"{MANAGED_BY_TAG}={MANAGED_BY_VALUE} (aws:ResourceTag)",
}
_RULES_BY_ACTION: Final = {action: rule for rule in _RULES for action in rule.actions}


def code_statements(actions: Iterable[str], scope: Scope) -> list[iam.PolicyStatement]:
    """The statements granting exactly ``actions``, each under its scoping rule."""
    wanted = tuple(actions)
    unknown = set(wanted) - set(_RULES_BY_ACTION)
    if unknown:
        raise ValueError(f"no IAM scoping rule for {sorted(unknown)}: add one to {__name__}")
    if "ssm:GetParameter" in wanted and scope.policy_parameter_arn is None:
        raise ValueError("ssm:GetParameter is granted only with a policy parameter")
    statements = []
    for rule in _RULES:
        granted = [action for action in rule.actions if action in wanted]
        if granted:
            statements.extend(rule.build(granted, scope, wanted))
    return statements


def topic_key_statement(scope: Scope) -> iam.PolicyStatement:
    """What sns:Publish needs from the topic's customer-managed key: the stack's own key, or
    the key behind the central topic's alias (its ID is unknown to the member stacks)."""
    if scope.topic_key_alias is None:
        return iam.PolicyStatement(
            sid="CodePublishAlertKey",
            actions=list(TOPIC_KEY_ACTIONS),
            resources=[scope.topic_key_arn],
        )
    _, partition, _, region, account, _ = scope.topic_arn.split(":", 5)
    return iam.PolicyStatement(
        sid="CodePublishAlertKey",
        actions=list(TOPIC_KEY_ACTIONS),
        resources=[f"arn:{partition}:kms:{region}:{account}:key/*"],
        conditions={"ForAnyValue:StringEquals": {"kms:ResourceAliases": scope.topic_key_alias}},
    )


def nag_resource(resource: str) -> str:
    """A resource as cdk-nag names it in a finding id: pseudo parameters (the StackSet's
    account and region) read ``<AWS::Region>``, ``<AWS::AccountId>``, ``<AWS::Partition>``."""
    return (
        resource.replace(Aws.REGION, "<AWS::Region>")
        .replace(Aws.ACCOUNT_ID, "<AWS::AccountId>")
        .replace(Aws.PARTITION, "<AWS::Partition>")
    )
