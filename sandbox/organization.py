"""An AWS Organization in the sandbox: member accounts, their roles, and their clusters.

moto serves Organizations (accounts, OUs) and STS ``AssumeRole`` into any account: requests
signed with the returned credentials reach that account's backends (``AssumeRole`` refuses
roles that do not exist or do not trust the caller: `sandbox.sts`, an emulator fix).

`Organization` builds the world: ``Organization.create(sandbox)`` makes the caller's account
(the sandbox's ``ACCOUNT_ID``) the management account; ``add_account`` creates a member in
an OU with the scan role; ``seed_region`` gives a member a VPC, an EKS cluster ``prod``
answered by a shared Kubernetes emulator, and the controller's load balancers for that
emulator's Services, created straight in moto's backends (thousands of LBs stay fast).

Like every sandbox module it reads no frontguard code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from moto.ec2.models import ec2_backends
from moto.eks.models import eks_backends
from moto.iam.models import iam_backends

from sandbox.aws import ACCOUNT_ID

if TYPE_CHECKING:
    from sandbox.scenario import Cluster, Sandbox

Method = Callable[..., Any]
SCAN_ROLE = "frontguard-scan"


def create_role(account: str, name: str, *, trusted_account: str = ACCOUNT_ID) -> str:
    """A role in ``account`` that principals of ``trusted_account`` may assume."""
    document = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{trusted_account}:root"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )
    role = iam_backends[account]["global"].create_role(
        role_name=name,
        assume_role_policy_document=document,
        path="/",
        permissions_boundary=None,
        description="frontguard read-only scan role",
        tags=[],
        max_session_duration=None,
    )
    arn: str = role.arn
    return arn


@dataclass
class Organization:
    """An organization whose management account is the sandbox's default account."""

    sandbox: Sandbox
    root_id: str
    ous: dict[str, str] = field(default_factory=dict)  # name -> OU id
    accounts: dict[str, str] = field(default_factory=dict)  # account name -> id

    @classmethod
    def create(cls, sandbox: Sandbox) -> Organization:
        org = sandbox.client("organizations")
        org.create_organization(FeatureSet="ALL")
        root_id = org.list_roots()["Roots"][0]["Id"]
        return cls(sandbox, root_id)

    def ou(self, name: str, *, parent: str | None = None) -> str:
        if name not in self.ous:
            parent_id = self.ous[parent] if parent else self.root_id
            created = self.sandbox.client("organizations").create_organizational_unit(
                ParentId=parent_id, Name=name
            )
            self.ous[name] = created["OrganizationalUnit"]["Id"]
        return self.ous[name]

    def add_account(self, name: str, *, ou: str | None = None, role: bool = True) -> str:
        """A member account (in ``ou``, else at the root) with the scan role unless
        ``role=False`` (the StackSet has not reached it yet)."""
        org = self.sandbox.client("organizations")
        status = org.create_account(Email=f"{name}@example.com", AccountName=name)
        account = str(status["CreateAccountStatus"]["AccountId"])
        if ou is not None:
            org.move_account(
                AccountId=account, SourceParentId=self.root_id, DestinationParentId=self.ou(ou)
            )
        if role:
            create_role(account, SCAN_ROLE)
        self.accounts[name] = account
        return account

    def seed_region(
        self, account: str, region: str, shared: Cluster, *, cidr: str = "10.0.0.0/16"
    ) -> list[str]:
        """Cluster ``shared.name`` in ``account``/``region`` served by ``shared``'s emulator,
        with the controller's load balancers for its handled Services and Ingresses (as the
        controller of that cluster would create them). Returns the LB ARNs."""
        from sandbox.lbc import LoadBalancerController

        ec2 = ec2_backends[account][region]
        vpc = ec2.create_vpc(cidr)
        prefix = ".".join(cidr.split(".")[:2])
        subnets = [
            ec2.create_subnet(
                vpc.id,
                f"{prefix}.{index}.0/24",
                availability_zone=f"{region}{zone}",
                tags={
                    "subnet": {
                        "kubernetes.io/role/elb": "1",
                        f"kubernetes.io/cluster/{shared.name}": "shared",
                    }
                },
            ).id
            for index, zone in enumerate("abc")
        ]
        eks = eks_backends[account][region]
        cluster = eks.create_cluster(
            name=shared.name,
            role_arn=f"arn:aws:iam::{account}:role/{shared.name}-eks-cluster",
            resources_vpc_config={"subnetIds": subnets},
        )
        cluster.endpoint = shared.kube.url
        cluster.certificate_authority = {"data": self.sandbox.ca.ca_data}
        controller = LoadBalancerController(
            cluster=shared.name,
            kube=shared.kube,
            vpc_id=vpc.id,
            subnet_ids=subnets,
            ec2=self.sandbox.client("ec2"),  # unused: every stack is created in process
            elbv2=self.sandbox.client("elbv2"),
            account=account,
            region=region,
        )
        arns = []
        for model in controller.models():
            stack = controller.reconcile_model(model, in_process=True)
            if stack is not None:
                arns.append(stack.load_balancer.arn)
        return arns
