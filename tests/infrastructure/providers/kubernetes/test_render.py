"""Every manifest the renderer can produce is valid for the newest Kubernetes minors and CRDs."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from plinth.core.errors import PermanentError
from plinth.infrastructure.providers.kubernetes import RenderOptions, render
from plinth.infrastructure.providers.kubernetes.names import RESOURCE_LABEL, resource_label_value
from plinth.infrastructure.providers.kubernetes.provider import KubernetesProvider, render_options
from plinth.infrastructure.providers.kubernetes.specs import SCHEMAS

from .catalogue import OPTIONS, SECURE, VARIANTS, resource
from .schema_check import validate_everywhere


def _render(name: str, options: RenderOptions = OPTIONS) -> list[dict[str, Any]]:
    type_name, spec = VARIANTS[name]
    return render(resource(type_name, spec), options)


def _one(manifests: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [m for m in manifests if m["kind"] == kind]
    assert len(found) == 1, [m["kind"] for m in manifests]
    return found[0]


def test_the_catalogue_covers_every_declared_type() -> None:
    assert {t for t, _ in VARIANTS.values()} == set(SCHEMAS)
    assert set(KubernetesProvider.resource_types(None)) == set(SCHEMAS)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_rendered_manifest_is_valid(name: str) -> None:
    manifests = _render(name)
    assert manifests
    for manifest in manifests:
        validate_everywhere(manifest)
        labels = manifest["metadata"]["labels"]
        assert labels[RESOURCE_LABEL] == resource_label_value("shop/dev/web")
        assert labels["app.kubernetes.io/managed-by"] == "plinth"
        assert labels["plinth.dev/project"] == "shop"
        assert labels["plinth.dev/environment"] == "dev"
        assert labels["plinth.dev/team"] == "payments"
        assert manifest["metadata"]["namespace"] == "plinth-shop-dev"


@pytest.mark.parametrize("name", ["service-minimal", "vm-kernel"])
def test_without_a_team_or_settings_the_manifests_stay_valid(name: str) -> None:
    options = RenderOptions(namespace="apps", vm_image_registry="r.example")
    for manifest in _render(name, options):
        validate_everywhere(manifest)
        assert "plinth.dev/team" not in manifest["metadata"]["labels"]
        assert manifest["metadata"]["namespace"] == "apps"


def test_a_service_runs_with_secure_defaults_and_limits() -> None:
    manifests = _render("service-full")
    pod = _one(manifests, "Deployment")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["privileged"] is False
        assert container["resources"]["limits"]["memory"]
        assert container["resources"]["requests"]["cpu"]
    main = pod["containers"][0]
    assert main["resources"]["limits"] == {"memory": "1Gi", "cpu": "500m"}
    assert main["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": 8080}
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in main["env"]}
    assert env["DATABASE_URL"] == {"name": "web-env", "key": "main.DATABASE_URL"}
    secret = next(m for m in manifests if m["metadata"]["name"] == "web-env")
    decoded = base64.b64decode(secret["data"]["main.DATABASE_URL"]).decode()
    assert decoded == "postgresql://u:p@db/app"
    assert "postgresql://" not in str(_one(manifests, "Deployment"))
    claims = [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert claims[0]["persistentVolumeClaim"] == {"claimName": "web-data"}
    service = _one(manifests, "Service")
    assert [p["port"] for p in service["spec"]["ports"]] == [8080, 9090]


def test_the_network_policy_denies_all_but_dependencies_dns_and_declared_egress() -> None:
    policy = _one(_render("agent-with-egress"), "NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    cidrs = [r["to"][0].get("ipBlock", {}).get("cidr") for r in policy["egress"]]
    assert "10.1.2.3/32" in cidrs
    assert "2001:db8::1/128" in cidrs
    peers = [r for r in policy["egress"] if "podSelector" in r["to"][0] and "ports" not in r]
    names = [p["podSelector"]["matchLabels"]["plinth.dev/name"] for p in peers[0]["to"]]
    assert names == ["shop-cache", "shop-db"]
    opted = _one(_render("service-opted-out"), "NetworkPolicy")["spec"]
    assert opted["egress"] == [{}]
    pod = _one(_render("service-opted-out"), "Deployment")["spec"]["template"]["spec"]
    assert "runAsNonRoot" not in pod["securityContext"]
    assert pod["containers"][0]["securityContext"]["allowPrivilegeEscalation"] is True


def test_a_training_job_is_queued_for_kueue_with_its_accelerators() -> None:
    job = _one(_render("training-job"), "Job")
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "default"
    assert job["spec"]["suspend"] is True
    limits = job["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == "2"
    cron = _one(_render("training-job-amd-scheduled"), "CronJob")
    template = cron["spec"]["jobTemplate"]
    assert template["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "default"
    assert template["spec"]["suspend"] is True
    container = template["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["amd.com/gpu"] == "1"
    mig = _one(_render("service-accelerated-mig"), "Deployment")
    requests = mig["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]
    assert requests["nvidia.com/mig-1g.5gb"] == "1"
    assert "suspend" not in _one(_render("job-once"), "Job")["spec"]


def test_secrets_are_stable_and_differ_per_resource() -> None:
    first = _one(_render("secret-default"), "Secret")["data"]["value"]
    again = _one(_render("secret-default"), "Secret")["data"]["value"]
    other = render(resource("secret", {}, name="other"), OPTIONS)[0]["data"]["value"]
    assert first == again != other
    assert len(base64.b64decode(first)) == 32
    assert len(base64.b64decode(_one(_render("secret-long"), "Secret")["data"]["value"])) == 64


def test_a_route_is_an_ingress_to_the_service() -> None:
    ingress = _one(_render("route-tls"), "Ingress")["spec"]
    path = ingress["rules"][0]["http"]["paths"][0]
    assert path["backend"] == {"service": {"name": "web", "port": {"number": 8080}}}
    assert ingress["tls"][0]["hosts"] == ["shop.example.com"]
    assert ingress["ingressClassName"] == "nginx"
    assert "tls" not in _one(_render("route-plain"), "Ingress")["spec"]


def test_a_vm_renders_kernel_boot_disks_cloud_init_gpu_and_service() -> None:
    manifests = _render("vm-kernel")
    vm = _one(manifests, "VirtualMachine")["spec"]
    domain = vm["template"]["spec"]["domain"]
    boot = domain["firmware"]["kernelBoot"]
    assert boot["kernelArgs"] == "console=ttyS0 quiet"
    assert boot["container"] == {
        "image": "registry.example/vm-images/vmlinuz-6",
        "kernelPath": "/boot/vmlinuz-6.1",
        "initrdPath": "/boot/initrd.img",
    }
    assert domain["cpu"] == {"cores": 2}
    assert domain["memory"] == {"guest": "512Mi"}
    assert domain["devices"]["gpus"] == [{"name": "gpu0", "deviceName": "nvidia.com/gpu"}]
    volumes = {v["name"]: v for v in vm["template"]["spec"]["volumes"]}
    assert volumes["data-data"]["persistentVolumeClaim"] == {"claimName": "web-data"}
    assert volumes["cloudinit"]["cloudInitNoCloud"] == {"secretRef": {"name": "web-userdata"}}
    claims = [m for m in manifests if m["kind"] == "PersistentVolumeClaim"]
    assert sorted(c["spec"]["resources"]["requests"]["storage"] for c in claims) == ["1Gi", "2Gi"]
    assert sorted(p["port"] for p in _one(manifests, "Service")["spec"]["ports"]) == [22, 80]
    assert vm["template"]["spec"]["readinessProbe"]["httpGet"] == {"path": "/", "port": 80}
    disk_vm = _one(_render("vm-disk"), "VirtualMachine")["spec"]["template"]["spec"]
    assert disk_vm["volumes"][0]["containerDisk"] == {"image": "quay.io/x/legacy:7"}
    assert disk_vm["readinessProbe"]["tcpSocket"] == {"port": 8080}


@pytest.mark.parametrize(
    ("type_name", "spec", "message"),
    [
        ("mlflow", {}, "does not realise resource type 'mlflow'"),
        ("postgres", {}, "does not realise resource type 'postgres'"),
        ("service", {"containers": {}}, "invalid service spec"),
        (
            "service",
            {"containers": {"m": {"image": "x"}}, "egress": {"allow": ["api.example.com:443"]}},
            "allows IP addresses only",
        ),
        (
            "service",
            {
                "containers": {"m": {"image": "x"}},
                "volumes": [{"source": "/srv/data", "target": "/d"}],
            },
            "host path",
        ),
        (
            "service",
            {"containers": {"m": {"image": "x"}}, "healthcheck": {"tcp": {"port": "nope"}}},
            "not declared",
        ),
        (
            "route",
            {"host": "h.example", "path": "/", "port": 80, "backend_url": "http://127.0.0.1:8080"},
            "is not a Service",
        ),
        ("vm", {"image": {"disk": "/i/d.qcow2"}}, "vm_image_registry"),
        ("vm", {"image": {"disk": "/i/d.qcow2"}, "vcpus": 65}, "invalid vm spec"),
    ],
)
def test_specs_that_cannot_be_realised_fail_before_anything_is_rendered(
    type_name: str, spec: dict[str, Any], message: str
) -> None:
    with pytest.raises(PermanentError, match=message):
        render(resource(type_name, spec), RenderOptions(secret_key=b"k"))


def test_a_model_deployment_needs_its_server_image_and_claim() -> None:
    _, spec = VARIANTS["model-deployment"]
    with pytest.raises(PermanentError, match="model_server_image"):
        render(resource("model-deployment", spec), RenderOptions())
    deployment = _one(_render("model-deployment"), "Deployment")
    assert deployment["spec"]["replicas"] == 2
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--artifact=/models/artifacts/fraud/3/model.onnx" in args
    assert SECURE["runAsNonRoot"] is True


def test_a_vm_takes_the_contracts_sizes_and_schema_with_a_container_image() -> None:
    spec = {
        "image": {"disk": "/i/d.qcow2", "container_image": "r/d:1"},
        "memory": "524288K",
        "disks": [{"name": "data", "size": "1G"}],
    }
    manifests = render(resource("vm", spec, name="legacy"), RenderOptions())
    for manifest in manifests:
        validate_everywhere(manifest)
    domain = _one(manifests, "VirtualMachine")["spec"]["template"]["spec"]["domain"]
    assert domain["memory"]["guest"] == "524288k"  # the contract's K is Kubernetes' k
    claim = _one(manifests, "PersistentVolumeClaim")
    assert claim["spec"]["resources"]["requests"]["storage"] == "1G"
    with pytest.raises(PermanentError, match="invalid vm spec"):
        render(resource("vm", {**spec, "memory": "1.5Gi"}), RenderOptions())
    with pytest.raises(PermanentError, match="invalid vm spec"):
        render(resource("vm", {**spec, "console": True}), RenderOptions())


def test_the_team_label_comes_from_the_platforms_lookup_unless_a_setting_names_it() -> None:
    asked: list[str] = []

    def owner(project: str) -> str | None:
        asked.append(project)
        return "payments" if project == "checkout" else None

    assert render_options({"project_team": owner}, project="checkout").team == "payments"
    assert render_options({"project_team": owner}, project="other").team is None
    named = {"project_team": owner, "kubernetes_project_teams": {"checkout": "growth"}}
    assert render_options(named, project="checkout").team == "growth"
    assert asked == ["checkout", "other"]
