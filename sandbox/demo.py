"""The demo (``bin/demo``, ``python -m sandbox.demo``): frontguard's event path on the sandbox.

Its entry point lives here, outside the shipped package: frontguard never imports the sandbox
(.importlinter), and the Lambda asset does not carry it.

One cluster, ``prod``, with what a real one holds: an ALB Ingress, an NLB Service, an
IngressGroup of two Ingresses in two namespaces, an NLB created without security groups, an
exempt Service, an Ingress whose owner restricted its sources (partly beyond the policy), an
Ingress managed by Argo CD, a Gateway API Gateway (remediated through its
LoadBalancerConfiguration), and a load balancer Terraform made; and a second cluster,
``platform``, born protected: frontguard's scan creates the prefix lists its policy implies,
the platform team applies what ``frontguard render born-protected`` prints, and its Ingress's
load balancer is born at policy width (exposure 0 s) where prod's are repaired after the fact
(their exposure measured by verification). Each ``CreateLoadBalancer``
event goes through the production code (``frontguard.handlers.events_flow.handle_event`` with the
production runtime, pointed at moto by ``AWS_ENDPOINT_URL``); then someone reverts one
IngressGroup member's annotation before the controller reconciles; the LBC simulator
reconciles; the verification requests frontguard queued are verified; a table says what
happened to each load balancer, and an audit scan summarises the account.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from sandbox.aws import published_messages
from sandbox.kube import INGRESSES
from sandbox.scenario import Owned, Sandbox

if TYPE_CHECKING:
    from frontguard.runtime import Runtime

    from sandbox.lbc import LoadBalancer
    from sandbox.wiring import Frontguard

POLICY: dict[str, Any] = {
    "mode": "enforce",
    "rules": [{"scheme": "internet-facing", "sources": ["203.0.113.0/24", "198.51.100.0/24"]}],
    "default_sources": ["vpc"],
    # Cluster platform takes the class objects `frontguard render born-protected` prints.
    "born_protected": ["platform"],
    # The demo compresses time: verify at once, re-check twice without waiting.
    "verify_delay_seconds": 0,
    "verify_backoff_seconds": [0, 0],
    # Exemptions are the security team's decision, recorded in the policy.
    "exemptions": [
        {
            "cluster": "prod",
            "namespace": "shop",
            "kind": "service",
            "name": "vip",
            "reason": "SEC-42: partner VPN",
            "approved_by": "platform-security",
            "expires": "2099-12-31",
        }
    ],
}
INGRESS_SG = "alb.ingress.kubernetes.io/security-groups"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
BORN_CLUSTER = "platform"
ARGO_TRACKING = "argocd.argoproj.io/tracking-id"
MAX_VERIFY_ROUNDS = 10


@dataclass
class Subject:
    """One load balancer of the demo and what happened to it."""

    label: str  # what it is, in words
    owner: str
    arn: str
    name: str
    event: dict[str, Any]
    outcome: str = ""
    why: str = ""
    verification: str = ""
    verification_reason: str = ""
    exposure: float | None = None  # seconds from creation to a compliant SG set observed


def _owned(label: str, owner: str, owned: Owned) -> Subject:
    lb = owned.load_balancer
    return Subject(label, owner, lb.arn, lb.name, owned.event)


def _foreign(label: str, lb: LoadBalancer) -> Subject:
    return Subject(label, "none (Terraform)", lb.arn, lb.name, lb.event)


def build_cluster(sandbox: Sandbox) -> tuple[list[Subject], Owned]:
    """Cluster ``prod`` and its load balancers, as the controller created them."""
    prod = sandbox.cluster("prod")
    shared = prod.ingress_group("shared", members=["team-a/one", "team-b/two"], ports=[443])
    subjects = [
        _owned("ALB Ingress", "ingress/shop/web", prod.ingress("shop/web", ports=[80, 443])),
        _owned(
            "NLB Service",
            "service/payments/api",
            prod.service("payments/api", ports=[("TCP", 443)]),
        ),
        _owned("IngressGroup, 2 namespaces", "ingress-group/shared", shared),
        _owned(
            "NLB created without SGs",
            "service/legacy/api",
            prod.service("legacy/api", ports=[("TCP", 443)], security_groups=False),
        ),
        _owned(
            "exempt Service",
            "service/shop/vip",
            prod.service(
                "shop/vip",
                ports=[("TCP", 443)],
                annotations={"frontguard.io/exempt": "SEC-42: partner VPN, approved"},
            ),
        ),
        _owned(
            "owner-restricted Ingress",
            "ingress/shop/admin",
            prod.ingress(
                "shop/admin", ports=[443], inbound_cidrs=["203.0.113.10/32", "192.0.2.0/24"]
            ),
        ),
        _owned(
            "Argo CD-managed Ingress",
            "ingress/catalog/web",
            prod.ingress(
                "catalog/web",
                ports=[443],
                annotations={ARGO_TRACKING: "catalog:networking.k8s.io/Ingress:catalog/web"},
            ),
        ),
        _owned(
            "ALB Gateway (Gateway API)",
            "gateway/edge/public",
            prod.gateway("edge/public", ports=[443], config={"scheme": "internet-facing"}),
        ),
        _foreign("not made by the controller", sandbox.foreign_load_balancer("terraform-lb")),
    ]
    return subjects, shared


def born_protected_cluster(sandbox: Sandbox, runtime: Runtime) -> tuple[Subject, list[str]]:
    """Cluster ``platform`` before its first load balancer: the scheduled scan creates
    frontguard's prefix lists, the platform team applies the rendered class objects (frontguard
    has no right to), and a team's Ingress of the rendered class gets its ALB."""
    from frontguard import render
    from frontguard.adapters import prefix_lists
    from frontguard.engine.scan import scan

    from sandbox.kube import (
        GATEWAY_CLASSES,
        INGRESS_CLASS_PARAMS,
        INGRESS_CLASSES,
        LB_CONFIGURATIONS,
    )

    platform = sandbox.cluster(BORN_CLUSTER)
    scan(runtime.engine)  # the scheduled scan: creates the prefix lists policy implies
    assert runtime.engine.state is not None
    owned = prefix_lists.owned(runtime.engine.ec2, runtime.engine.state).lists
    objects = render.born_protected(runtime.engine.policy, BORN_CLUSTER, owned)
    collections = {
        "IngressClassParams": INGRESS_CLASS_PARAMS,
        "IngressClass": INGRESS_CLASSES,
        "LoadBalancerConfiguration": LB_CONFIGURATIONS,
        "GatewayClass": GATEWAY_CLASSES,
    }
    applied = []
    for obj in objects:
        applied.append(f"{obj['kind']} {obj['metadata']['name']}")
        if obj["kind"] in collections:  # the emulator runs no admission policies
            platform.kube.put_object(collections[obj["kind"]], obj)
    [params] = [  # the class of the internet-facing rule
        o
        for o in objects
        if o["kind"] == "IngressClassParams" and o["spec"].get("scheme") == "internet-facing"
    ]
    ingress = platform.ingress("store/front", ports=[443], ingress_class=params["metadata"]["name"])
    subject = _owned(f"Ingress, cluster {BORN_CLUSTER}", "ingress/store/front", ingress)
    return subject, [*applied, *(f"prefix list {pl.id}" for pl in owned.values())]


def revert_by_hand(sandbox: Sandbox, shared: Owned) -> str:
    """Someone sets team-b/two's SG annotation back to their own SG before the controller runs.

    The Kubernetes emulator keeps no managedFields; record the entry the API server would write
    for ``kubectl edit``, so verification can say who did it.
    """
    prod = shared.cluster
    team_sg: str = sandbox.client("ec2").create_security_group(
        GroupName="team-b-legacy", Description="team-b's old SG", VpcId=prod.vpc_id
    )["GroupId"]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    prod.kube.patch_object(
        INGRESSES,
        "team-b",
        "two",
        {
            "metadata": {
                "annotations": {INGRESS_SG: team_sg},
                "managedFields": [
                    {
                        "manager": "kubectl-edit",
                        "operation": "Update",
                        "apiVersion": "networking.k8s.io/v1",
                        "time": now,
                        "fieldsV1": {"f:metadata": {"f:annotations": {f"f:{INGRESS_SG}": {}}}},
                    }
                ],
            }
        },
    )
    return team_sg


def verify_all(
    runtime: Runtime, queue_url: str, sandbox: Sandbox
) -> dict[str, tuple[str, str, float | None]]:
    """Run every queued verification request (re-checks included) to its final outcome, with
    the exposure verification measured."""
    from frontguard.adapters.verify_queue import VerifyRequest
    from frontguard.engine.verify import PENDING, verify

    sqs = sandbox.client("sqs")
    final: dict[str, tuple[str, str, float | None]] = {}
    for _ in range(MAX_VERIFY_ROUNDS):
        messages = []
        while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            for message in batch:
                messages.append(message["Body"])
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        if not messages:
            break
        for body in messages:
            request = VerifyRequest.from_json(body)
            result = verify(runtime.engine, request)
            if result.outcome != PENDING:
                exposure = result.data.get("exposure_seconds")
                final[request.load_balancer_arn] = (result.outcome, result.reason, exposure)
    return final


def _attached(sandbox: Sandbox, runtime: Runtime, subject: Subject) -> str:
    from frontguard.adapters import aws

    described = sandbox.client("elbv2").describe_load_balancers(LoadBalancerArns=[subject.arn])
    on_lb = described["LoadBalancers"][0].get("SecurityGroups") or []
    ours = aws.find_security_group(runtime.engine.ec2, subject.arn)
    if ours is not None and ours.id in on_lb:
        return f"yes {ours.id}"
    if subject.outcome == "born-protected":
        return "not needed: born at policy width"
    if not on_lb:
        return "no: NLB has no SG"
    if ours is not None:
        return f"no: {ours.id} not attached"
    return "no: its own SGs"


def _exposure(subject: Subject) -> str:
    if subject.outcome == "born-protected":
        return "0 s"
    if subject.exposure is not None:
        return f"{subject.exposure:.1f} s"
    still_open = subject.verification == "verification-failed" or subject.outcome in (
        "needs-recreation",
        "gitops-pending",
    )
    return "open" if still_open else "-"


def _shorten(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _why(subject: Subject, alerts: dict[tuple[str, str], dict[str, Any]]) -> str:
    remediated = alerts.get((subject.arn, "remediated"))
    if subject.verification == "verified":
        rules = remediated.get("planned_rules", []) if remediated else []
        sources = sorted({r.rsplit(" from ", 1)[1] for r in rules})
        beyond = remediated.get("beyond_policy", []) if remediated else []
        text = f"admits {', '.join(sources)}"
        if beyond:
            text += f" (owner also asked {', '.join(beyond)}: beyond policy, refused)"
        return text
    if subject.verification == "verification-failed":
        if "conflicting" in subject.verification_reason:
            return "a member was reverted by hand: the controller reports conflicting SGs"
        return _shorten(subject.verification_reason, 90)
    if subject.outcome == "born-protected":
        return "the controller's own SG admits only the policy's sources: nothing to repair"
    if subject.outcome == "needs-recreation":
        return "created without SGs, can never get one: recreate it (alert sent)"
    if subject.outcome == "gitops-pending":
        return "Argo CD would revert a patch: annotations to commit sent in an alert"
    return subject.why


def read_alerts(topic_arn: str) -> list[dict[str, Any]]:
    """Published alerts: the JSON body, plus ``subject`` and ``email`` (the plain text SNS
    sends email subscribers of a ``MessageStructure="json"`` message)."""
    alerts = []
    for message in published_messages(topic_arn):
        structured = json.loads(message["Message"])
        if "default" in structured:  # MessageStructure="json"
            body = json.loads(structured["default"])
            email = structured.get("email") or structured["default"]
        else:
            body, email = structured, message["Message"]
        alerts.append({**body, "subject": message.get("Subject"), "email": email})
    return alerts


def _demo(sandbox: Sandbox, out: TextIO) -> int:
    from frontguard.alerts import LogOnlyAlerts
    from frontguard.cli import render_table, scan_summary
    from frontguard.engine.scan import scan
    from frontguard.handlers.events_flow import handle_event
    from frontguard.policy import Mode

    from sandbox.wiring import wire

    started = time.monotonic()
    out.write("frontguard demo: moto + a Kubernetes emulator + the LBC simulator, on loopback\n\n")
    wired = wire(sandbox, POLICY)
    runtime, topic_arn, queue_url = wired.runtime, wired.topic_arn, wired.queue_url
    born, applied = born_protected_cluster(sandbox, runtime)
    out.write(
        f"0. Cluster {BORN_CLUSTER} is born protected: frontguard's scan created its prefix "
        "lists, and the platform team applied `frontguard render born-protected --cluster "
        f"{BORN_CLUSTER}`:\n" + "".join(f"   {line}\n" for line in applied) + "\n"
    )
    subjects, shared = build_cluster(sandbox)
    subjects.append(born)
    out.write(
        f"1. Cluster prod (no class objects): the controller created {len(subjects) - 2} load "
        f"balancers, Terraform one more; cluster {BORN_CLUSTER}'s Ingress got one. Policy: "
        "enforce; internet-facing LBs admit 203.0.113.0/24 and 198.51.100.0/24.\n\n"
        "2. CloudTrail CreateLoadBalancer events -> frontguard:\n"
    )
    for subject in subjects:
        result = handle_event(runtime, subject.event)
        subject.outcome, subject.why = result["outcome"], result["reason"]
        out.write(f"   {subject.owner:<24} {subject.outcome:<17} {_shorten(subject.why, 70)}\n")

    team_sg = revert_by_hand(sandbox, shared)
    out.write(
        f"\n3. Before the controller reconciles, someone runs kubectl edit and sets team-b/two's "
        f"{INGRESS_SG} back to {team_sg}.\n"
        "4. The controller reconciles (LBC simulator).\n"
    )
    shared.cluster.lbc.reconcile()

    final = verify_all(runtime, queue_url, sandbox)
    for subject in subjects:
        subject.verification, subject.verification_reason, subject.exposure = final.get(
            subject.arn, ("", "", None)
        )
    out.write(
        f"5. frontguard verifies the {len(final)} queued requests (re-checks included): "
        f"{sum(v == 'verified' for v, _, _ in final.values())} verified, "
        f"{sum(v == 'verification-failed' for v, _, _ in final.values())} failed. Exposure: "
        "from each load balancer's creation to a compliant SG set observed on it.\n\n"
    )

    messages = read_alerts(topic_arn)
    alerts = {(a["load_balancer_arn"], a["outcome"]): a for a in messages}
    rows = []
    for subject in subjects:
        outcome = subject.verification or subject.outcome
        rows.append(
            [
                subject.name,
                subject.owner,
                outcome,
                _shorten(_why(subject, alerts), 96),
                _exposure(subject),
                _attached(sandbox, runtime, subject),
            ]
        )
    headers = ["LOAD BALANCER", "OWNER", "OUTCOME", "WHY", "EXPOSED", "FRONTGUARD SG ON LB"]
    table = render_table(headers, rows)
    out.write("\n".join(table) + "\n\n")

    failed = [a for a in messages if a["outcome"] == "verification-failed"]
    for alert in failed:
        out.write("The verification-failed alert, as an email subscriber reads it:\n")
        out.write(f"  Subject: {alert['subject']}\n\n")
        out.write("".join(f"  {line}\n" if line else "\n" for line in alert["email"].splitlines()))
        out.write("\n")

    # What `frontguard scan --output json` reports now (audit: the scan changes nothing).
    audit = replace(
        runtime.engine,
        policy=runtime.engine.policy.model_copy(update={"mode": Mode.AUDIT}),
        alerts=LogOnlyAlerts(),
        verify=None,
    )
    report = scan(audit)
    summary = scan_summary(report, account=runtime.account, region=runtime.region)
    summary.pop("items")
    summary["open"] = [
        {"load_balancer": i.name, "owner": i.owner, "outcome": i.outcome.value}
        for i in report.open_findings
    ]
    out.write("6. `frontguard scan --output json` (audit) now reports, items left out:\n")
    out.write(json.dumps(summary, indent=2) + "\n\n")
    out.write(
        "7. CloudTrail delivery switched off: `frontguard canary --cluster prod` creates a "
        "throw-away internal Ingress; its event never arrives, the sweep (every minute) finds "
        "the new load balancer and repairs it. Measured end to end on a simulated clock, then "
        "deleted:\n"
    )
    out.write("".join(f"   {line}\n" for line in canary_run(sandbox, wired)) + "\n")
    out.write(
        f"8. Still without CloudTrail: someone removes shop/web's {INGRESS_SG} with kubectl "
        "(field manager kubectl-client-side-apply); the controller puts its world-open SG "
        "back. The next sweep:\n"
    )
    out.write("".join(f"   {line}\n" for line in annotation_removed(sandbox, wired)) + "\n")
    messages = read_alerts(topic_arn)
    out.write(
        f"{len(messages)} alerts published to {topic_arn.rsplit(':', 1)[1]}; demo finished in "
        f"{time.monotonic() - started:.1f} s.\n"
    )
    return 0


def canary_run(sandbox: Sandbox, wired: Frontguard) -> list[str]:
    """The canary's report for cluster prod (sandbox.canary_world drives the world)."""
    from frontguard.canary import report
    from frontguard.canary.owners import DEFAULT_NAMESPACE, Kind
    from frontguard.canary.probe import Canary, CanaryClients, CanarySettings
    from frontguard.engine.sweep import sweep
    from frontguard.runtime import ClusterConnector

    from sandbox.canary_world import CanaryWorld, canary_alerts_queue

    engine = wired.runtime.engine
    assert engine.state is not None
    state = engine.state
    sweep(engine, state)  # the deployment's sweeps so far: the baseline
    world = CanaryWorld(
        wired,
        sandbox.clusters["prod"],
        deliver_events=False,
        backstop=lambda: sweep(engine, state),
    )
    clients = CanaryClients(
        kube=ClusterConnector(sandbox.client("eks"), sandbox.client("sts"))("prod"),
        elbv2=sandbox.client("elbv2"),
        ec2=sandbox.client("ec2"),
        tagging=sandbox.client("resourcegroupstaggingapi"),
        sqs=sandbox.client("sqs"),
        alerts_queue_url=canary_alerts_queue(wired, DEFAULT_NAMESPACE),
    )
    settings = CanarySettings(cluster="prod", kind=Kind.INGRESS, run_id="demo")
    return report.table(Canary(settings, clients, clock=world).run(), width=80)


def annotation_removed(sandbox: Sandbox, wired: Frontguard) -> list[str]:
    """shop/web's SG annotation removed by hand, its effect found by the next sweep."""
    import kubernetes
    from frontguard.engine.sweep import sweep

    engine = wired.runtime.engine
    assert engine.state is not None
    prod = sandbox.clusters["prod"]
    sweep(engine, engine.state)  # what the last minute's sweep saw
    kubernetes.client.NetworkingV1Api(prod.api_client()).patch_namespaced_ingress(
        "web",
        "shop",
        {"metadata": {"annotations": {INGRESS_SG: None, LAST_APPLIED: "{}"}}},
        field_manager="kubectl-client-side-apply",
    )
    prod.lbc.reconcile()
    report = sweep(engine, engine.state)
    lines = []
    for arn, outcome in report.outcomes.items():
        [alert] = [a for a in read_alerts(wired.topic_arn) if a["load_balancer_arn"] == arn][-1:]
        lines += [
            f"{outcome}: {'/'.join(alert['owner'][k] for k in ('kind', 'namespace', 'name'))} "
            f"(detected by: {alert['detected_by']})",
            f"  was open:   {'; '.join(alert['was_open'])}",
            f"  changed by: {alert['actor']}",
            f"  restored:   {INGRESS_SG}={alert['security_group_id']}",
        ]
    return lines


def run(out: TextIO, *, sandbox: Sandbox | None = None) -> int:
    """Run the demo, writing to ``out``; in a sandbox of its own unless one is handed in."""
    if sandbox is not None:
        return _demo(sandbox, out)
    with Sandbox() as own:
        return _demo(own, out)


def main() -> int:
    return run(sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
