"""What the AWS Load Balancer Controller will do with a set of Kubernetes objects: pure rules.

Every function here mirrors one piece of the controller's source and cites it as
``LBC:<path>`` (repository kubernetes-sigs/aws-load-balancer-controller). The rules were read
at HEAD 225f445 (v3.5.0+8, 2026-08-17) and checked at tag v2.14.1; docs/controller-rules.md
lists what differs between the versions frontguard supports. Nothing here calls AWS or
Kubernetes: the engine reads the objects and hands them in. The sandbox's LBC simulator is a
second, independent reading of the same source and never imports this package.
"""
