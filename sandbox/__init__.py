"""frontguard's local cloud: moto, Kubernetes emulators and a simulated Load Balancer Controller.

Never shipped in the Lambda code. Start with `Sandbox` (sandbox.scenario); the modules:

- `sandbox.aws`: moto in server mode, in-process, and its fidelity fixes;
- `sandbox.tls`: the per-sandbox CA that EKS ``DescribeCluster`` returns;
- `sandbox.kube`: one TLS Kubernetes emulator per cluster, on its own thread;
- `sandbox.lbc`: the AWS Load Balancer Controller simulator;
- `sandbox.lbc_rules`: its model-building rules, pure functions each citing the controller file
  it was read from (never frontguard's);
- `sandbox.scenario`: `Sandbox`, `Cluster` and the builders tests read like situations with.
"""

from sandbox.aws import ACCOUNT_ID, REGION, published_messages
from sandbox.kube import EVENTS, INGRESS_CLASS_PARAMS, INGRESS_CLASSES, INGRESSES, SERVICES
from sandbox.lbc import LoadBalancer, LoadBalancerController, Stack
from sandbox.scenario import (
    SANDBOX_TOKEN,
    Cluster,
    ControllerOptions,
    Owned,
    Queue,
    Sandbox,
    Topic,
)

__all__ = [
    "ACCOUNT_ID",
    "EVENTS",
    "INGRESSES",
    "INGRESS_CLASSES",
    "INGRESS_CLASS_PARAMS",
    "REGION",
    "SANDBOX_TOKEN",
    "SERVICES",
    "Cluster",
    "ControllerOptions",
    "LoadBalancer",
    "LoadBalancerController",
    "Owned",
    "Queue",
    "Sandbox",
    "Stack",
    "Topic",
    "published_messages",
]
