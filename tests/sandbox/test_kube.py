"""The Kubernetes emulator through the official client: token, TLS, merge patch, selectors."""

import base64
import os
import socket
import ssl
import threading
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from sandbox import EVENTS, INGRESS_CLASS_PARAMS, SANDBOX_TOKEN, SERVICES, Sandbox
from sandbox.kube import KubeServer, KubeServerError
from sandbox.scenario import Cluster

MERGE_PATCH = "application/merge-patch+json"


@pytest.fixture
def prod(sandbox: Sandbox) -> Cluster:
    return sandbox.cluster("prod")


def test_every_resource_frontguard_reads_is_served(prod: Cluster) -> None:
    prod.service("legacy/api")
    prod.ingress("shop/web")
    prod.ingress_class_params("alb-params", spec={"group": {"name": "shared"}})
    prod.kube.put_object(
        EVENTS,
        {
            "metadata": {"name": "web.1", "namespace": "shop"},
            "involvedObject": {"kind": "Ingress", "namespace": "shop", "name": "web"},
            "reason": "FailedDeployModel",
            "message": "boom",
            "type": "Warning",
        },
    )

    with prod.api_client() as api:
        core = kubernetes.client.CoreV1Api(api)
        net = kubernetes.client.NetworkingV1Api(api)
        custom = kubernetes.client.CustomObjectsApi(api)

        service = core.read_namespaced_service("api", "legacy").to_dict()
        assert service["spec"]["load_balancer_class"] == "service.k8s.aws/nlb"
        services = core.list_namespaced_service("legacy").to_dict()["items"]
        assert [s["metadata"]["name"] for s in services] == ["api"]
        ingress = net.read_namespaced_ingress("web", "shop").to_dict()
        assert ingress["spec"]["ingress_class_name"] == "alb"
        ingresses = net.list_ingress_for_all_namespaces().to_dict()["items"]
        assert [i["metadata"]["name"] for i in ingresses] == ["web"]
        classes = net.list_ingress_class().to_dict()["items"]
        assert [c["spec"]["controller"] for c in classes] == ["ingress.k8s.aws/alb"]
        params: Any = custom.get_cluster_custom_object(
            "elbv2.k8s.aws", "v1beta1", "ingressclassparams", "alb-params"
        )
        assert params["spec"] == {"group": {"name": "shared"}}
        events = core.list_namespaced_event(
            "shop", field_selector="involvedObject.kind=Ingress,involvedObject.name=web"
        ).to_dict()["items"]
        assert {(e["reason"], e["message"]) for e in events} == {
            ("FailedDeployModel", "boom"),
            ("SuccessfullyReconciled", "Successfully reconciled"),  # the controller's own
        }
        # The status the controller writes reads back through the official client.
        [address] = ingress["status"]["load_balancer"]["ingress"]
        assert address["hostname"].endswith(".elb.amazonaws.com")
        assert [p["port"] for p in address["ports"]] == [80]
        assert (
            core.list_namespaced_event("shop", field_selector="involvedObject.name=x").items == []
        )


def test_merge_patch_deletes_null_keys_and_accepts_field_manager(prod: Cluster) -> None:
    prod.service("legacy/api", annotations={"keep": "1", "drop": "2"})

    with prod.api_client() as api:
        core = kubernetes.client.CoreV1Api(api)
        patched: Any = core.patch_namespaced_service(
            "api",
            "legacy",
            {"metadata": {"annotations": {"drop": None, "new": "3"}}},
            field_manager="frontguard",
            _content_type=MERGE_PATCH,
        )
        prod.ingress("shop/web", annotations={"a": "1"})
        ingress: Any = kubernetes.client.NetworkingV1Api(api).patch_namespaced_ingress(
            "web", "shop", {"metadata": {"annotations": {"a": None}}}, _content_type=MERGE_PATCH
        )

    annotations = patched.metadata.annotations
    assert annotations["keep"] == "1" and annotations["new"] == "3" and "drop" not in annotations
    stored = prod.kube.get_object(SERVICES, "legacy", "api")
    assert stored is not None and "drop" not in stored["metadata"]["annotations"]
    assert "a" not in ingress.metadata.annotations


def test_patch_bumps_resource_version_and_keeps_uid(prod: Cluster) -> None:
    before = prod.service("legacy/api").object

    with prod.api_client() as api:
        after: Any = kubernetes.client.CoreV1Api(api).patch_namespaced_service(
            "api", "legacy", {"metadata": {"labels": {"x": "y"}}}, _content_type=MERGE_PATCH
        )

    assert after.metadata.uid == before["metadata"]["uid"]
    assert int(after.metadata.resource_version) > int(before["metadata"]["resourceVersion"])


def test_label_selectors_filter_lists(prod: Cluster) -> None:
    prod.service("apps/a", labels={"kustomize.toolkit.fluxcd.io/name": "apps", "tier": "web"})
    prod.service("apps/b", labels={"tier": "db"})
    prod.service("apps/c")

    def names(selector: str) -> list[str]:
        with prod.api_client() as api:
            listed = kubernetes.client.CoreV1Api(api).list_namespaced_service(
                "apps", label_selector=selector
            )
        return sorted(item["metadata"]["name"] for item in listed.to_dict()["items"])

    assert names("tier=web") == ["a"]
    assert names("tier!=web") == ["b", "c"]
    assert names("tier") == ["a", "b"]
    assert names("!tier") == ["c"]
    assert names("tier in (web,db)") == ["a", "b"]
    assert names("tier notin (web)") == ["b", "c"]
    assert names("kustomize.toolkit.fluxcd.io/name=apps,tier=web") == ["a"]


@pytest.mark.parametrize(
    "token", [None, "Bearer something-else", "Basic dXNlcjpwYXNz", "Bearer k8s-aws-v1."]
)
def test_requests_without_an_eks_token_get_401_and_change_nothing(
    prod: Cluster, token: str | None
) -> None:
    prod.service("legacy/api", annotations={"keep": "1"})
    before = prod.kube.get_object(SERVICES, "legacy", "api")
    configuration = kubernetes.client.Configuration(
        host=prod.endpoint, ssl_ca_cert=str(prod.sandbox.ca.ca_file)
    )
    if token is not None:
        configuration.api_key = {"authorization": token}

    with kubernetes.client.ApiClient(configuration) as api:
        core = kubernetes.client.CoreV1Api(api)
        with pytest.raises(ApiException) as patch_error:
            core.patch_namespaced_service(
                "api",
                "legacy",
                {"metadata": {"annotations": {"keep": None}}},
                _content_type=MERGE_PATCH,
            )
        with pytest.raises(ApiException) as create_error:
            core.create_namespaced_service(
                "legacy",
                kubernetes.client.V1Service(metadata=kubernetes.client.V1ObjectMeta(name="new")),
            )
        with pytest.raises(ApiException):
            core.list_namespaced_service("legacy")

    assert patch_error.value.status == 401 and create_error.value.status == 401
    assert '"kind":"Status"' in str(patch_error.value.body).replace(" ", "")
    assert prod.kube.get_object(SERVICES, "legacy", "api") == before
    assert prod.kube.get_object(SERVICES, "legacy", "new") is None


def test_tls_is_verified_with_the_sandbox_ca_and_fails_without_it(prod: Cluster) -> None:
    with prod.api_client() as api:
        assert kubernetes.client.CoreV1Api(api).list_namespaced_service("x").items == []

    configuration = kubernetes.client.Configuration(
        host=prod.endpoint, api_key={"authorization": f"Bearer {SANDBOX_TOKEN}"}
    )
    configuration.retries = 0
    with (
        kubernetes.client.ApiClient(configuration) as api,
        pytest.raises(
            (ApiException, urllib3.exceptions.HTTPError), match="CERTIFICATE_VERIFY_FAILED"
        ),
    ):
        kubernetes.client.CoreV1Api(api).list_namespaced_service("x")


def test_request_counts_by_method_and_path(prod: Cluster) -> None:
    prod.service("legacy/api")
    prod.kube.reset_requests()

    with prod.api_client() as api:
        core = kubernetes.client.CoreV1Api(api)
        core.read_namespaced_service("api", "legacy")
        core.read_namespaced_service("api", "legacy")
        core.patch_namespaced_service("api", "legacy", {}, _content_type=MERGE_PATCH)

    assert prod.kube.requests() == {
        ("GET", "/api/v1/namespaces/legacy/services/api"): 2,
        ("PATCH", "/api/v1/namespaces/legacy/services/api"): 1,
    }


def test_cluster_scoped_seeding_and_listing(prod: Cluster) -> None:
    prod.kube.put_object(INGRESS_CLASS_PARAMS, {"metadata": {"name": "p"}, "spec": {}})

    assert [p["metadata"]["name"] for p in prod.kube.list_objects(INGRESS_CLASS_PARAMS)] == ["p"]
    assert prod.kube.get_object(INGRESS_CLASS_PARAMS, None, "p") is not None


def _emulator_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("kube-emulator-")]


def test_start_and_stop_leave_no_thread_or_port(sandbox: Sandbox) -> None:
    server = KubeServer("solo", sandbox.ca.server_context())
    server.start()
    port = int(server.url.rsplit(":", 1)[1])
    assert len(_emulator_threads()) == 1

    server.stop()

    assert _emulator_threads() == []
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))  # the port is free again


def test_sandbox_reset_stops_cluster_emulators(sandbox: Sandbox) -> None:
    sandbox.cluster("a")
    sandbox.cluster("b", cidr="10.1.0.0/16")
    assert len(_emulator_threads()) == 2

    sandbox.reset()

    assert _emulator_threads() == []


def test_an_emulator_that_cannot_start_says_why(sandbox: Sandbox) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = KubeServer("clash", sandbox.ca.server_context(), port=port)
        with pytest.raises(KubeServerError, match=f"127.0.0.1:{port}.*address already in use"):
            server.start()
    assert _emulator_threads() == []


def test_server_context_presents_a_certificate_for_loopback(sandbox: Sandbox) -> None:
    context = ssl.create_default_context(cafile=str(sandbox.ca.ca_file))
    server = KubeServer("tls", sandbox.ca.server_context())
    server.start()
    try:
        port = int(server.url.rsplit(":", 1)[1])
        for host in ("127.0.0.1", "localhost"):
            with (
                socket.create_connection(("127.0.0.1", port)) as raw,
                context.wrap_socket(raw, server_hostname=host) as tls,
            ):
                assert tls.version() is not None
    finally:
        server.stop()


def test_a_whole_sandbox_starts_and_stops_without_leaking_threads() -> None:
    before = set(threading.enumerate())
    saved_endpoint = os.environ.get("AWS_ENDPOINT_URL")

    with Sandbox() as sb:
        sb.cluster("prod").ingress("shop/web")
        assert len(set(threading.enumerate()) - before) >= 2  # moto + one emulator

    assert set(threading.enumerate()) - before == set()
    assert os.environ.get("AWS_ENDPOINT_URL") == saved_endpoint


def test_describe_cluster_is_all_a_client_needs_to_reach_the_emulator(
    prod: Cluster, tmp_path: Path
) -> None:
    cluster = prod.sandbox.client("eks").describe_cluster(name="prod")["cluster"]
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(base64.b64decode(cluster["certificateAuthority"]["data"]))
    configuration = kubernetes.client.Configuration(
        host=cluster["endpoint"],
        ssl_ca_cert=str(ca_file),
        api_key={"authorization": f"Bearer {SANDBOX_TOKEN}"},
    )

    with kubernetes.client.ApiClient(configuration) as api:
        classes = kubernetes.client.NetworkingV1Api(api).list_ingress_class().to_dict()["items"]

    assert [c["metadata"]["name"] for c in classes] == ["alb"]


def test_missing_objects_are_404_status(prod: Cluster) -> None:
    with prod.api_client() as api:
        core = kubernetes.client.CoreV1Api(api)
        with pytest.raises(ApiException) as read_error:
            core.read_namespaced_service("nope", "legacy")
        with pytest.raises(ApiException) as patch_error:
            core.patch_namespaced_service(
                "nope", "legacy", {"metadata": {"labels": {"a": "b"}}}, _content_type=MERGE_PATCH
            )

    assert read_error.value.status == 404 and patch_error.value.status == 404
    assert prod.kube.get_object(SERVICES, "legacy", "nope") is None
