"""IAM actions each Lambda function calls, declared next to the code that calls them.

The CDK stack grants exactly these (with the conditions in ``infra/``), and a test checks
that each function's role grants no more and no less. When an adapter starts calling a new
AWS API, add the action here first.
"""

from __future__ import annotations

from typing import Final

# Reads that AWS does not allow to scope by resource: granted on "*". Verification reads the
# LB (with its tags) and the SGs only; remediation also reads listeners (ports) and VPCs
# (their CIDRs are the "vpc" source). A test checks that each granted action is called.
ELB_READ_LB: Final = (
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeTags",
)
ELB_READ_LISTENERS: Final = ("elasticloadbalancing:DescribeListeners",)
EC2_READ_SG: Final = ("ec2:DescribeSecurityGroups",)
EC2_READ_VPC: Final = ("ec2:DescribeVpcs",)
# Does an NLB back a VPC endpoint service (PrivateLink consumers)?
EC2_READ_ENDPOINT_SERVICES: Final = ("ec2:DescribeVpcEndpointServiceConfigurations",)
# frontguard's own prefix lists (born protected): read by the engine and the scan.
EC2_READ_PREFIX_LISTS: Final = (
    "ec2:DescribeManagedPrefixLists",
    "ec2:GetManagedPrefixListEntries",
)
ELBV2_READ: Final = (*ELB_READ_LB, *ELB_READ_LISTENERS)
EC2_READ: Final = (
    *EC2_READ_SG,
    *EC2_READ_VPC,
    *EC2_READ_ENDPOINT_SERVICES,
    *EC2_READ_PREFIX_LISTS,
)
# Mutations, always conditioned on frontguard's own tag (infra/ adds the conditions):
# CreateSecurityGroup on aws:RequestTag, CreateTags only with ec2:CreateAction =
# CreateSecurityGroup, the rest on aws:ResourceTag.
EC2_CREATE_SG: Final = ("ec2:CreateSecurityGroup", "ec2:CreateTags")
EC2_CONVERGE_SG: Final = (
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:RevokeSecurityGroupIngress",
)
EC2_DELETE_SG: Final = ("ec2:DeleteSecurityGroup",)
# The scan keeps frontguard's prefix lists equal to the policy: created with frontguard's tag
# in the request (tag-on-create), modified only when they carry it.
EC2_CREATE_PREFIX_LIST: Final = ("ec2:CreateManagedPrefixList", "ec2:CreateTags")
EC2_MODIFY_PREFIX_LIST: Final = ("ec2:ModifyManagedPrefixList",)
# The event path finds the load balancer a new managed SG announces by the stack's tags
# (adapters/tagging.py); the Tagging API supports no resource-level permissions.
TAGGING_READ: Final = ("tag:GetResources",)
EKS_READ: Final = ("eks:DescribeCluster",)  # scoped to the configured clusters
ALERTS: Final = ("sns:Publish",)
VERIFY_QUEUE_SEND: Final = ("sqs:SendMessage",)
POLICY_PARAMETER: Final = ("ssm:GetParameter",)  # the policy parameter (always, when deployed)
STATE_TABLE: Final = ("dynamodb:PutItem", "dynamodb:UpdateItem")  # conditional writes only
# frontguard's prefix lists are proven by the record of their creation (adapters/state.py).
CREATION_RECORDS: Final = ("dynamodb:GetItem",)
# The scheduled scan reads its findings in one Query and writes them in batches
# (adapters/findings.py).
SCAN_STATE: Final = ("dynamodb:Query", "dynamodb:BatchWriteItem")
# The scan also sends remediation requests (SendMessageBatch, authorised as sqs:SendMessage):
# infra/ adds the remediation queue to the scan's sqs:SendMessage grant only.
# Only when the deployment switches Security Hub findings on (adapters/securityhub.py).
SECURITY_HUB: Final = (
    "securityhub:BatchImportFindings",
    "securityhub:BatchUpdateFindings",
    "securityhub:GetFindings",
)

# What `frontguard scan` reads in audit mode (the cross-account scan's member role): no
# mutation, no alert channel. Kubernetes reads come from the role's EKS access policy.
AUDIT_SCAN: Final = (*ELBV2_READ, *EC2_READ, *EKS_READ)

# Applies one load balancer's remediation (the remediate function runs only this).
_REMEDIATION: Final = (
    *ELBV2_READ,
    *EC2_READ,
    *EC2_CREATE_SG,
    *EC2_CONVERGE_SG,
    *EKS_READ,
    *ALERTS,
    *VERIFY_QUEUE_SEND,
    *STATE_TABLE,
    *CREATION_RECORDS,
)
EVENTS_FUNCTION: Final = (*_REMEDIATION, *TAGGING_READ)
VERIFY_FUNCTION: Final = (
    *ELB_READ_LB,
    *EC2_READ_SG,
    *EKS_READ,
    *ALERTS,
    *VERIFY_QUEUE_SEND,
    *STATE_TABLE,
)
SCAN_FUNCTION: Final = (
    *ELBV2_READ,
    *EC2_READ,
    *EC2_CREATE_SG,
    *EC2_CONVERGE_SG,
    *EC2_DELETE_SG,
    *EC2_CREATE_PREFIX_LIST,
    *EC2_MODIFY_PREFIX_LIST,
    *EKS_READ,
    *ALERTS,
    *VERIFY_QUEUE_SEND,
    *STATE_TABLE,
    *CREATION_RECORDS,
    *SCAN_STATE,
)
# Applies the scan's queued repairs through the event path's engine: the same actions.
REMEDIATE_FUNCTION: Final = _REMEDIATION
# The scheduled canary (frontguard/canary/) reads only: the load balancer (found by its stack
# tags), its SGs and the cluster's endpoint; its own alert subscription; and publishes
# canary-failed. Nothing that changes a load balancer or a security group: the controller and
# frontguard do the work it measures. Its Kubernetes rights are a namespaced Role
# (infra/rbac.yaml, group frontguard-canary).
CANARY_QUEUE_READ: Final = ("sqs:ReceiveMessage", "sqs:DeleteMessage")
CANARY_FUNCTION: Final = (
    *ELB_READ_LB,
    *EC2_READ_SG,
    *TAGGING_READ,
    *EKS_READ,
    *ALERTS,
    *CANARY_QUEUE_READ,
)


def partition_of(region: str) -> str:
    """The AWS partition of a region, for ARNs (aws, aws-cn, aws-us-gov:
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"
