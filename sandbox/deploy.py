"""Deploy a synthesized CDK template into the sandbox's CloudFormation (moto).

moto 5.2.5's CloudFormation has no model for some resource types the frontguard stack uses.
`prepare` filters exactly those out of the template, each with its reason in `UNSUPPORTED`,
and replaces references to them with the values CloudFormation would have given; `deploy`
then creates the stack and, where the doctor or the runtime needs the resource, creates it
through its service's API from the template's own properties (`MATERIALIZED`).

One fidelity fix: CloudFormation names an unnamed FIFO queue with the required ``.fifo``
suffix; moto generates a name without it and fails, so `prepare` gives such queues the name
CloudFormation would (``<stack>-<logical id>.fifo``). Nothing else of the template is changed.
"""

from __future__ import annotations

import copy
import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from sandbox.aws import ACCOUNT_ID, REGION

JSON = dict[str, Any]

# Resource types moto's CloudFormation cannot create, and what stands in for each.
UNSUPPORTED: Final[Mapping[str, str]] = {
    "AWS::CloudWatch::Alarm": "no moto model; created with PutMetricAlarm from the template's "
    "properties (the doctor reads the alarms)",
    "AWS::DynamoDB::GlobalTable": "no moto model; the state table is created with CreateTable, "
    "same keys and billing (the runtime writes to it)",
    "AWS::EKS::AccessEntry": "moto has no access-entry API; created through the sandbox's "
    "access-entry emulation (sandbox.eks_access) from the template's properties",
    "AWS::SNS::Subscription": "no moto model; subscribed with Subscribe from the template's "
    "properties",
    "AWS::Lambda::EventInvokeConfig": "no moto model; left out: nothing in the sandbox invokes "
    "a function asynchronously (tests/infra asserts the retry and failure destination)",
    "AWS::SNS::TopicPolicy": "no moto model; set with SetTopicAttributes Policy (moto stores "
    "it without enforcing it; tests/infra evaluates the statements, the doctor reads them)",
    "AWS::SQS::QueuePolicy": "no moto model; set with SetQueueAttributes Policy (moto stores "
    "it without enforcing it; tests/infra evaluates the statements, the doctor reads them)",
    "AWS::Chatbot::SlackChannelConfiguration": "no moto model and no Slack; left out",
}
MATERIALIZED: Final = frozenset(
    {
        "AWS::CloudWatch::Alarm",
        "AWS::DynamoDB::GlobalTable",
        "AWS::EKS::AccessEntry",
        "AWS::SNS::Subscription",
        "AWS::SNS::TopicPolicy",
        "AWS::SQS::QueuePolicy",
    }
)
# The template's CDK bootstrap check: a parameter read from SSM and a rule on it.
BOOTSTRAP_PARAMETER: Final = "BootstrapVersion"


@dataclass
class Prepared:
    template: JSON
    skipped: dict[str, JSON] = field(default_factory=dict)  # logical id -> resource
    values: dict[tuple[str, str], str] = field(default_factory=dict)  # (id, Ref|attr) -> value


def _physical(logical_id: str, resource: JSON, stack: str) -> dict[str, str]:
    kind = resource["Type"]
    if kind == "AWS::CloudWatch::Alarm":
        name = f"{stack}-{logical_id}"
        arn = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:{name}"
        return {"Ref": name, "Arn": arn}
    if kind == "AWS::DynamoDB::GlobalTable":
        name = f"{stack}-{logical_id}"
        return {"Ref": name, "Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}"}
    return {"Ref": f"{stack}-{logical_id}"}


def _substitute(node: Any, values: Mapping[tuple[str, str], str]) -> Any:
    if isinstance(node, dict):
        if set(node) == {"Ref"} and (node["Ref"], "Ref") in values:
            return values[(node["Ref"], "Ref")]
        if set(node) == {"Fn::GetAtt"}:
            target, attribute = node["Fn::GetAtt"][0], node["Fn::GetAtt"][1]
            if (target, attribute) in values:
                return values[(target, attribute)]
        return {k: _substitute(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, values) for v in node]
    return node


def prepare(template: JSON, stack: str) -> Prepared:
    """The template without the unsupported resources and the bootstrap check."""
    prepared = copy.deepcopy(template)
    prepared.get("Parameters", {}).pop(BOOTSTRAP_PARAMETER, None)
    if not prepared.get("Parameters"):
        prepared.pop("Parameters", None)
    prepared.pop("Rules", None)
    result = Prepared(template=prepared)
    resources: JSON = prepared["Resources"]
    for logical_id in [i for i, r in resources.items() if r["Type"] in UNSUPPORTED]:
        resource = resources.pop(logical_id)
        result.skipped[logical_id] = resource
        for attribute, value in _physical(logical_id, resource, stack).items():
            result.values[(logical_id, attribute)] = value
    for logical_id, resource in resources.items():
        properties = resource.get("Properties") or {}
        if (
            resource["Type"] == "AWS::SQS::Queue"
            and properties.get("FifoQueue")
            and "QueueName" not in properties
        ):
            properties["QueueName"] = f"{stack}-{logical_id}"[:75] + ".fifo"
    for resource in resources.values():
        depends = resource.get("DependsOn")
        if isinstance(depends, list):
            resource["DependsOn"] = [d for d in depends if d not in result.skipped]
            if not resource["DependsOn"]:
                del resource["DependsOn"]
        elif isinstance(depends, str) and depends in result.skipped:
            del resource["DependsOn"]
    prepared["Resources"] = _substitute(resources, result.values)
    prepared["Outputs"] = _substitute(prepared.get("Outputs", {}), result.values)
    return result


def _asset_locations(template: JSON) -> set[tuple[str, str]]:
    found = set()
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            code = resource["Properties"]["Code"]
            bucket = code["S3Bucket"]
            if isinstance(bucket, dict):
                bucket = bucket["Fn::Sub"]
            bucket = bucket.replace("${AWS::AccountId}", ACCOUNT_ID).replace(
                "${AWS::Region}", REGION
            )
            found.add((bucket, code["S3Key"]))
    return found


def placeholder_asset() -> bytes:
    """moto stores the code without running it: a small zip stands in for the 60 MB asset
    (the runtime is exercised in-process with the deployed functions' environment)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "frontguard asset placeholder for the sandbox\n")
    return buffer.getvalue()


class Resolver:
    """Ref/GetAtt of the deployed stack's resources, as CloudFormation resolves them."""

    def __init__(self, clients: Any, stack: str, values: Mapping[tuple[str, str], str]) -> None:
        self._clients = clients
        self._values = values
        summaries = clients("cloudformation").list_stack_resources(StackName=stack)[
            "StackResourceSummaries"
        ]
        self.physical = {s["LogicalResourceId"]: s for s in summaries}

    def __call__(self, node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Ref"}:
                return self._ref(node["Ref"])
            if set(node) == {"Fn::GetAtt"}:
                return self._get_att(*node["Fn::GetAtt"][:2])
            if set(node) == {"Fn::Join"}:
                separator, parts = node["Fn::Join"]
                return separator.join(str(self(p)) for p in parts)
            return {k: self(v) for k, v in node.items()}
        if isinstance(node, list):
            return [self(v) for v in node]
        return node

    def _ref(self, logical_id: str) -> str:
        if (logical_id, "Ref") in self._values:
            return self._values[(logical_id, "Ref")]
        if logical_id == "AWS::Region":
            return REGION
        if logical_id == "AWS::AccountId":
            return ACCOUNT_ID
        if logical_id == "AWS::Partition":
            return "aws"
        return str(self.physical[logical_id]["PhysicalResourceId"])

    def _get_att(self, logical_id: str, attribute: str) -> str:
        if (logical_id, attribute) in self._values:
            return self._values[(logical_id, attribute)]
        summary = self.physical[logical_id]
        physical, kind = summary["PhysicalResourceId"], summary["ResourceType"]
        if kind == "AWS::IAM::Role" and attribute == "Arn":
            return str(self._clients("iam").get_role(RoleName=physical)["Role"]["Arn"])
        if kind == "AWS::SQS::Queue":
            if attribute == "QueueName":
                return str(physical.rsplit("/", 1)[-1])
            return str(
                self._clients("sqs").get_queue_attributes(
                    QueueUrl=physical, AttributeNames=["QueueArn"]
                )["Attributes"]["QueueArn"]
            )
        if kind == "AWS::Events::Rule" and attribute == "Arn":
            return str(self._clients("events").describe_rule(Name=physical)["Arn"])
        if kind == "AWS::Lambda::Function" and attribute == "Arn":
            return str(
                self._clients("lambda").get_function(FunctionName=physical)["Configuration"][
                    "FunctionArn"
                ]
            )
        raise KeyError(f"cannot resolve {logical_id}.{attribute} ({kind})")


def deploy(sandbox: Any, template: JSON, stack: str) -> Prepared:
    """Create ``stack`` from ``template`` in the sandbox; returns what was filtered out."""
    prepared = prepare(template, stack)
    s3 = sandbox.client("s3")
    for bucket, key in _asset_locations(prepared.template):
        existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        if bucket not in existing:
            s3.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
            )
        s3.put_object(Bucket=bucket, Key=key, Body=placeholder_asset())
    sandbox.client("cloudformation").create_stack(
        StackName=stack,
        TemplateBody=json.dumps(prepared.template),
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
    )
    resolve = Resolver(sandbox.client, stack, prepared.values)
    for logical_id, resource in prepared.skipped.items():
        if resource["Type"] in MATERIALIZED:
            _materialize(sandbox, logical_id, resource, resolve, prepared.values)
    return prepared


def _materialize(
    sandbox: Any,
    logical_id: str,
    resource: JSON,
    resolve: Resolver,
    values: Mapping[tuple[str, str], str],
) -> None:
    kind, properties = resource["Type"], resolve(resource.get("Properties", {}))
    if kind == "AWS::CloudWatch::Alarm":
        sandbox.client("cloudwatch").put_metric_alarm(
            AlarmName=values[(logical_id, "Ref")],
            **{
                key: properties[key]
                for key in (
                    "AlarmDescription",
                    "MetricName",
                    "Namespace",
                    "Statistic",
                    "Period",
                    "EvaluationPeriods",
                    "DatapointsToAlarm",
                    "Threshold",
                    "ComparisonOperator",
                    "TreatMissingData",
                    "Dimensions",
                    "AlarmActions",
                    "OKActions",
                )
                if key in properties
            },
        )
    elif kind == "AWS::DynamoDB::GlobalTable":
        sandbox.client("dynamodb").create_table(
            TableName=values[(logical_id, "Ref")],
            KeySchema=properties["KeySchema"],
            AttributeDefinitions=properties["AttributeDefinitions"],
            BillingMode=properties.get("BillingMode", "PAY_PER_REQUEST"),
        )
        for replica in properties.get("Replicas", []):
            document = (replica.get("ResourcePolicy") or {}).get("PolicyDocument")
            if document is not None:
                sandbox.client("dynamodb").put_resource_policy(
                    ResourceArn=values[(logical_id, "Arn")],
                    Policy=json.dumps(document),
                )
    elif kind == "AWS::SNS::TopicPolicy":
        for topic in properties["Topics"]:
            sandbox.client("sns").set_topic_attributes(
                TopicArn=topic,
                AttributeName="Policy",
                AttributeValue=json.dumps(properties["PolicyDocument"]),
            )
    elif kind == "AWS::SQS::QueuePolicy":
        for queue in properties["Queues"]:
            sandbox.client("sqs").set_queue_attributes(
                QueueUrl=queue, Attributes={"Policy": json.dumps(properties["PolicyDocument"])}
            )
    elif kind == "AWS::SNS::Subscription":
        sandbox.client("sns").subscribe(
            TopicArn=properties["TopicArn"],
            Protocol=properties["Protocol"],
            Endpoint=properties["Endpoint"],
        )
    elif kind == "AWS::EKS::AccessEntry":
        eks_access = sandbox.moto.eks_access
        eks_access.create_entry(
            properties["ClusterName"],
            properties["PrincipalArn"],
            list(properties.get("KubernetesGroups", [])),
            properties.get("Type", "STANDARD"),
        )
