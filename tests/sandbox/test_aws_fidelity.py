"""moto's fidelity fixes, through real boto3 calls against the sandbox's moto server."""

import base64
import os

import pytest
from botocore.exceptions import ClientError
from cryptography import x509

from sandbox import Sandbox
from sandbox.aws import MotoServer, MotoServerError


def _error_code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return error.value.response["Error"]["Code"]


def test_set_security_groups_on_sg_less_nlb_is_refused(sandbox: Sandbox) -> None:
    api = sandbox.cluster("prod").service("legacy/api", security_groups=False)
    group = sandbox.client("ec2").create_security_group(
        GroupName="fg", Description="fg", VpcId=api.cluster.vpc_id
    )["GroupId"]

    with pytest.raises(ClientError) as error:
        sandbox.client("elbv2").set_security_groups(
            LoadBalancerArn=api.lb_arn, SecurityGroups=[group]
        )

    assert _error_code(error) == "InvalidConfigurationRequest"
    assert "created without any security groups" in str(error.value)
    assert api.security_groups() == []


def test_set_security_groups_on_nlb_with_sgs_is_accepted_but_never_emptied(
    sandbox: Sandbox,
) -> None:
    api = sandbox.cluster("prod").service("shop/api")
    group = sandbox.client("ec2").create_security_group(
        GroupName="fg", Description="fg", VpcId=api.cluster.vpc_id
    )["GroupId"]
    elbv2 = sandbox.client("elbv2")

    elbv2.set_security_groups(LoadBalancerArn=api.lb_arn, SecurityGroups=[group])
    assert api.security_groups() == [group]
    with pytest.raises(ClientError) as error:
        elbv2.set_security_groups(LoadBalancerArn=api.lb_arn, SecurityGroups=[])
    assert _error_code(error) == "InvalidConfigurationRequest"


def test_nlb_arns_say_net_and_alb_arns_say_app(sandbox: Sandbox) -> None:
    prod = sandbox.cluster("prod")
    nlb = prod.service("shop/api")
    alb = prod.ingress("shop/web")

    assert ":loadbalancer/net/" in nlb.lb_arn
    assert ":loadbalancer/app/" in alb.lb_arn
    tags = sandbox.client("elbv2").describe_tags(ResourceArns=[nlb.lb_arn])["TagDescriptions"]
    assert {"Key": "service.k8s.aws/stack", "Value": "shop/api"} in tags[0]["Tags"]


def test_deleting_an_sg_attached_to_a_load_balancer_is_a_dependency_violation(
    sandbox: Sandbox,
) -> None:
    web = sandbox.cluster("prod").ingress("shop/web")
    assert web.managed_sg_id is not None

    with pytest.raises(ClientError) as error:
        sandbox.client("ec2").delete_security_group(GroupId=web.managed_sg_id)

    assert _error_code(error) == "DependencyViolation"
    assert web.managed_sg_id in web.security_groups()


def test_deleting_an_sg_referenced_by_another_sgs_rule_is_a_dependency_violation(
    sandbox: Sandbox,
) -> None:
    ec2 = sandbox.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    referenced = ec2.create_security_group(GroupName="a", Description="a", VpcId=vpc)["GroupId"]
    referencing = ec2.create_security_group(GroupName="b", Description="b", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_egress(
        GroupId=referencing,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "UserIdGroupPairs": [{"GroupId": referenced}],
            }
        ],
    )

    with pytest.raises(ClientError) as error:
        ec2.delete_security_group(GroupId=referenced)
    assert _error_code(error) == "DependencyViolation"

    ec2.delete_security_group(GroupId=referencing)  # a group may go with its own rules
    ec2.delete_security_group(GroupId=referenced)  # and then nothing holds this one


def test_a_self_referencing_unattached_sg_can_be_deleted(sandbox: Sandbox) -> None:
    ec2 = sandbox.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    group = ec2.create_security_group(GroupName="a", Description="a", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": group}]},
        ],
    )

    ec2.delete_security_group(GroupId=group)

    assert group not in {g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]}


def test_eks_describe_cluster_has_vpc_emulator_endpoint_and_real_ca(sandbox: Sandbox) -> None:
    prod = sandbox.cluster("prod")

    cluster = sandbox.client("eks").describe_cluster(name="prod")["cluster"]

    assert cluster["resourcesVpcConfig"]["vpcId"] == prod.vpc_id
    assert cluster["endpoint"] == prod.kube.url
    assert cluster["endpoint"].startswith("https://127.0.0.1:")
    pem = base64.b64decode(cluster["certificateAuthority"]["data"])
    ca = x509.load_pem_x509_certificate(pem)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_published_sns_messages_are_readable(sandbox: Sandbox) -> None:
    topic = sandbox.sns_topic("alerts")
    sandbox.client("sns").publish(TopicArn=topic.arn, Subject="remediated", Message='{"a": 1}')

    assert [(m["Subject"], m["Message"]) for m in topic.messages()] == [("remediated", '{"a": 1}')]


def test_sqs_queue_receives_messages(sandbox: Sandbox) -> None:
    queue = sandbox.sqs_queue("verify")
    sandbox.client("sqs").send_message(QueueUrl=queue.url, MessageBody='{"lb": "x"}')

    assert queue.receive() == [{"lb": "x"}]
    assert queue.receive() == []


def test_environment_points_boto3_at_moto_and_is_restored(sandbox: Sandbox) -> None:
    assert os.environ["AWS_ENDPOINT_URL"] == sandbox.endpoint_url
    assert os.environ["AWS_DEFAULT_REGION"] == "eu-west-1"
    server = MotoServer()
    server.start()
    try:
        with server.environment():
            assert os.environ["AWS_ENDPOINT_URL"] == server.endpoint_url
        assert os.environ["AWS_ENDPOINT_URL"] == sandbox.endpoint_url
    finally:
        server.stop()


def test_reset_forgets_every_resource(sandbox: Sandbox) -> None:
    sandbox.cluster("prod").ingress("shop/web")
    sandbox.reset()

    assert sandbox.client("elbv2").describe_load_balancers()["LoadBalancers"] == []
    assert sandbox.client("eks").list_clusters()["clusters"] == []
    assert sandbox.clusters == {}


def test_moto_server_failing_to_start_says_why() -> None:
    first = MotoServer()
    first.start()
    try:
        port = int(first.endpoint_url.rsplit(":", 1)[1])
        with pytest.raises(MotoServerError, match="already in use"):
            MotoServer(port=port).start()
    finally:
        first.stop()


def test_describe_security_groups_pages_with_max_results(sandbox: Sandbox) -> None:
    ec2 = sandbox.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    created = {
        ec2.create_security_group(GroupName=f"g{i}", Description="g", VpcId=vpc)["GroupId"]
        for i in range(7)
    }
    vpc_filter = [{"Name": "vpc-id", "Values": [vpc]}]

    first = ec2.describe_security_groups(Filters=vpc_filter, MaxResults=5)
    rest = ec2.describe_security_groups(
        Filters=vpc_filter, MaxResults=5, NextToken=first["NextToken"]
    )

    assert len(first["SecurityGroups"]) == 5
    assert "NextToken" not in rest
    seen = {g["GroupId"] for page in (first, rest) for g in page["SecurityGroups"]}
    assert created <= seen and len(seen) == 8  # the 7 and the VPC's default group
