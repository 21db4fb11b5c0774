#!/usr/bin/env python3
"""The deployment files' checks, run by scripts/check-deploy (which provides a virtualenv with
kubernetes-validate). Prints one line per check (ok / FAIL / skip) and exits non-zero when one
fails. See scripts/check-deploy for the list.
"""

from __future__ import annotations

import configparser
import copy
import glob
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import traceback

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no __pycache__ in scripts/
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import kustomize_lite  # noqa: E402

K8S = os.path.join(ROOT, "deploy", "k8s")
OVERLAYS = ["staging", "production", "no-keda"]
# The oldest Kubernetes we support and the newest schema kubernetes-validate ships.
K8S_VERSIONS = ["1.29.0", "1.37.0"]
CURVE = os.path.join(K8S, "testdata", "load-curve.csv")
SECRET_ENV = re.compile(r"(DATABASE_URL|REDIS_URL|REDIS_CLUSTER_NODES|SCRATCH_URL|WEBHOOK_URL|API_KEY|TOKEN|"
                        r"BACKUP__KEY|CRYPTO__KEYS|PASSWORD|SECRET|DSN|SMTP_URL)$")
# Settings the manifests use before the binary at hand knows them (being added in the same
# release): left out of `config check` with a note instead of failing. Empty when none are.
PENDING_SETTINGS: set[str] = set()
# Connections a backup takes besides its pool: pg_dump or pg_restore, and the scratch database.
BACKUP_TOOL_CONNECTIONS = 2
HASHED_CONFIG_MAP = re.compile(r"plansmith-config-[a-z0-9]{10}")

failures = 0
notes: list[str] = []


class CheckFailed(Exception):
    pass


def check(what: str, fn, *args):
    """Runs fn; it raises CheckFailed (or anything) to fail, returns a note or "skip: why"."""
    global failures
    try:
        note = fn(*args)
    except CheckFailed as e:
        failures += 1
        print(f"FAIL  {what}")
        for line in str(e).splitlines():
            print(f"      {line}")
        return
    except Exception:  # a bug in a check is a failure too, with its trace
        failures += 1
        print(f"FAIL  {what}")
        print("      " + traceback.format_exc().replace("\n", "\n      "))
        return
    if isinstance(note, str) and note.startswith("skip:"):
        print(f"skip  {what} ({note[5:].strip()})")
    else:
        print(f"ok    {what}" + (f" — {note}" if note else ""))


def require(condition, message: str):
    if not condition:
        raise CheckFailed(message)


def problems_to_failure(problems: list[str]):
    if problems:
        raise CheckFailed("\n".join(problems))


# ---- rendering ---------------------------------------------------------------------------------

def kubectl_render(directory: str) -> list[dict] | None:
    if os.environ.get("CHECK_DEPLOY_RENDERER") == "lite":  # as on a machine without kubectl
        return None
    for command in (["kubectl", "kustomize", directory], ["kustomize", "build", directory]):
        if shutil.which(command[0]):
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                raise CheckFailed(f"{' '.join(command)}:\n{result.stderr.strip()}")
            return [d for d in yaml.safe_load_all(result.stdout) if d]
    return None


def normalized(resources: list[dict]) -> dict:
    out = {}
    for r in resources:
        text = HASHED_CONFIG_MAP.sub("plansmith-config-HASH", json.dumps(r, sort_keys=True))
        doc = json.loads(text)
        out[(doc["kind"], doc["metadata"].get("namespace", ""), doc["metadata"]["name"])] = doc
    return out


rendered: dict[str, list[dict]] = {}
renderer_used = "scripts/kustomize_lite.py"


def render_all():
    global renderer_used
    notes_ = []
    for overlay in OVERLAYS:
        directory = os.path.join(K8S, "overlays", overlay)
        lite = kustomize_lite.render(directory)
        real = kubectl_render(directory)
        if real is None:
            rendered[overlay] = lite
            continue
        renderer_used = "kubectl kustomize"
        a, b = normalized(real), normalized(lite)
        if a != b:
            differing = sorted(set(a) ^ set(b)) + [k for k in a if k in b and a[k] != b[k]]
            raise CheckFailed(f"overlays/{overlay}: scripts/kustomize_lite.py renders differently from kubectl "
                              f"kustomize: {differing[:5]}")
        rendered[overlay] = real
        notes_.append(overlay)
    return (f"with kubectl kustomize; scripts/kustomize_lite.py renders the same ({', '.join(notes_)})"
            if notes_ else "with scripts/kustomize_lite.py (no kubectl or kustomize here)")


def write_rendered(directory: str):
    for overlay, resources in rendered.items():
        with open(os.path.join(directory, f"{overlay}.yaml"), "w", encoding="utf-8") as f:
            yaml.safe_dump_all(resources, f, sort_keys=False)


# ---- helpers over rendered resources --------------------------------------------------------------

def of_kind(resources, kind):
    return [r for r in resources if r["kind"] == kind]


def one(resources, kind, name=None):
    found = [r for r in of_kind(resources, kind) if name is None or r["metadata"]["name"] == name]
    require(len(found) == 1, f"expected one {kind}{'/' + name if name else ''}, found {len(found)}")
    return found[0]


def config_data(resources) -> dict:
    return one(resources, "ConfigMap")["data"]


def pod_spec(resource):
    return next(kustomize_lite.pod_specs(resource))


def workloads(resources):
    return [r for r in resources if r["kind"] in ("Deployment", "Job", "CronJob", "StatefulSet", "DaemonSet")]


def container_env(resources, container) -> dict[str, str]:
    """A container's environment as the kubelet builds it: envFrom ConfigMaps, then env (secret
    references become placeholders, field references the pod name)."""
    env = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            cm = one(resources, "ConfigMap", source["configMapRef"]["name"])
            env.update(cm.get("data", {}))
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
        elif "secretKeyRef" in var.get("valueFrom", {}):
            env[var["name"]] = placeholder_secret(var["name"], var["valueFrom"]["secretKeyRef"]["key"])
        elif "fieldRef" in var.get("valueFrom", {}):
            env[var["name"]] = "plansmith-7d9f8-abcde"
    return env


def placeholder_secret(name: str, key: str) -> str:
    if name.endswith("DATABASE_URL"):
        return "postgres://plansmith:placeholder@postgres:5432/plansmith"
    if name.endswith("REDIS_URL"):
        return "redis://:placeholder@redis:6379"
    if name.endswith("CRYPTO__KEYS"):
        return "k1:cGxhY2Vob2xkZXIgYmFja3VwIGtleSBvZiAzMiBieXQ="  # id:32 bytes in base64
    if name.endswith("BACKUP__KEY"):
        return "cGxhY2Vob2xkZXIgYmFja3VwIGtleSBvZiAzMiBieXQ="  # 32 bytes, base64
    return "placeholder-" + "x" * 32


# ---- manifests ------------------------------------------------------------------------------

def validate_schemas():
    import kubernetes_validate

    problems, skipped, validated = [], set(), 0
    for overlay, resources in rendered.items():
        for r in resources:
            for version in K8S_VERSIONS:
                try:
                    kubernetes_validate.validate(r, version, strict=True)
                    validated += 1
                except kubernetes_validate.SchemaNotFoundError:
                    skipped.add(f"{r['apiVersion']}/{r['kind']}")
                except kubernetes_validate.ValidationError as e:
                    path = ".".join(str(p) for p in e.absolute_path)
                    problems.append(f"{overlay}: {r['kind']}/{r['metadata']['name']} (Kubernetes {version}): {path}: {e.message}")
    problems_to_failure(problems)
    return (f"{validated} validations, strict, Kubernetes {' and '.join(K8S_VERSIONS)}; "
            f"custom resources skipped by the tool: {', '.join(sorted(skipped)) or 'none'} (checked below)")


SCALED_OBJECT_FIELDS = {
    "spec": {"scaleTargetRef", "pollingInterval", "cooldownPeriod", "initialCooldownPeriod", "idleReplicaCount",
             "minReplicaCount", "maxReplicaCount", "fallback", "advanced", "triggers"},
    "advanced": {"restoreToOriginalReplicaCount", "horizontalPodAutoscalerConfig", "scalingModifiers"},
    "horizontalPodAutoscalerConfig": {"name", "behavior"},
    "trigger": {"type", "name", "metadata", "metricType", "useCachedMetrics", "authenticationRef"},
}
TRIGGER_METADATA = {
    "prometheus": ({"serverAddress", "query", "threshold"},
                   {"serverAddress", "query", "threshold", "activationThreshold", "namespace", "customHeaders",
                    "ignoreNullValues", "unsafeSsl", "timeout", "queryParameters"}),
    "cpu": ({"value"}, {"value", "containerName"}),
}


def check_scaled_object(overlay: str):
    """KEDA's ScaledObject (a custom resource kubernetes-validate skips): its fields and types as
    KEDA 2.12+ documents them, its behavior validated as an HPA's by Kubernetes' own schema."""
    import kubernetes_validate

    resources = rendered[overlay]
    so = one(resources, "ScaledObject")
    problems = []
    require(so["apiVersion"] == "keda.sh/v1alpha1", f"apiVersion {so['apiVersion']}, expected keda.sh/v1alpha1")
    spec = so["spec"]
    unknown = set(spec) - SCALED_OBJECT_FIELDS["spec"]
    problems += [f"spec.{k}: not a ScaledObject field" for k in sorted(unknown)]
    target = spec.get("scaleTargetRef", {})
    if target.get("kind", "Deployment") != "Deployment" or not any(
            r["metadata"]["name"] == target.get("name") for r in of_kind(resources, "Deployment")):
        problems.append(f"spec.scaleTargetRef: {target} is not a Deployment of this overlay")
    for key in ("pollingInterval", "minReplicaCount", "maxReplicaCount"):
        if not isinstance(spec.get(key), int) or spec[key] < 1:
            problems.append(f"spec.{key}: must be a whole number of at least 1 (got {spec.get(key)!r})")
    if isinstance(spec.get("minReplicaCount"), int) and isinstance(spec.get("maxReplicaCount"), int) \
            and spec["minReplicaCount"] > spec["maxReplicaCount"]:
        problems.append("spec.minReplicaCount is above maxReplicaCount")
    if spec.get("minReplicaCount", 0) < 2:
        problems.append("spec.minReplicaCount: at least 2, so a pod's restart or drain leaves one serving")
    if "fallback" in spec:
        problems.append("spec.fallback: pins the count on a Prometheus outage and overrides the CPU trigger "
                        "(kedacore/keda#6659); leave it out")
    advanced = spec.get("advanced", {})
    problems += [f"spec.advanced.{k}: not a field" for k in sorted(set(advanced) - SCALED_OBJECT_FIELDS["advanced"])]
    hpa_config = advanced.get("horizontalPodAutoscalerConfig", {})
    problems += [f"spec.advanced.horizontalPodAutoscalerConfig.{k}: not a field"
                 for k in sorted(set(hpa_config) - SCALED_OBJECT_FIELDS["horizontalPodAutoscalerConfig"])]
    behavior = hpa_config.get("behavior")
    if not behavior:
        problems.append("spec.advanced.horizontalPodAutoscalerConfig.behavior: missing")
    else:
        problems += behavior_problems(behavior, "spec.advanced.horizontalPodAutoscalerConfig.behavior")
        # The HPA KEDA will make from it must be valid for Kubernetes.
        hpa = {
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": f"keda-hpa-{so['metadata']['name']}"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target.get("name", "")},
                     "minReplicas": spec.get("minReplicaCount"), "maxReplicas": spec.get("maxReplicaCount"),
                     "metrics": [{"type": "External", "external": {"metric": {"name": "s0-prometheus"},
                                                                   "target": {"type": "AverageValue", "averageValue": "1"}}}],
                     "behavior": behavior},
        }
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(hpa, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                problems.append(f"the HPA KEDA derives (Kubernetes {version}): "
                                f"{'.'.join(str(p) for p in e.absolute_path)}: {e.message}")
    triggers = spec.get("triggers") or []
    if not triggers:
        problems.append("spec.triggers: empty")
    namespace = so["metadata"].get("namespace")
    seen = set()
    for i, t in enumerate(triggers):
        where = f"spec.triggers[{i}]"
        problems += [f"{where}.{k}: not a trigger field" for k in sorted(set(t) - SCALED_OBJECT_FIELDS["trigger"])]
        kind = t.get("type")
        if kind not in TRIGGER_METADATA:
            problems.append(f"{where}.type: {kind!r} is not one this deployment uses (prometheus, cpu)")
            continue
        required, allowed = TRIGGER_METADATA[kind]
        metadata = t.get("metadata", {})
        problems += [f"{where}.metadata.{k}: missing" for k in sorted(required - set(metadata))]
        problems += [f"{where}.metadata.{k}: not a {kind} scaler parameter" for k in sorted(set(metadata) - allowed)]
        problems += [f"{where}.metadata.{k}: KEDA wants a string" for k, v in metadata.items() if not isinstance(v, str)]
        if t.get("name") in seen:
            problems.append(f"{where}.name: {t.get('name')} used twice")
        seen.add(t.get("name"))
        if kind == "prometheus":
            if t.get("metricType", "AverageValue") != "AverageValue":
                problems.append(f"{where}.metricType: AverageValue (a sum over the pods divided by the count)")
            if not re.fullmatch(r"\d+(\.\d+)?", str(metadata.get("threshold", ""))) or float(metadata["threshold"]) <= 0:
                problems.append(f"{where}.metadata.threshold: a positive number as a string")
            if not str(metadata.get("serverAddress", "")).startswith(("http://", "https://")):
                problems.append(f"{where}.metadata.serverAddress: an http(s) URL")
            query = metadata.get("query", "")
            if not query.startswith("sum(") or f'namespace="{namespace}"' not in query:
                problems.append(f"{where}.metadata.query: must sum over the pods of namespace {namespace!r}: {query}")
            if not re.search(r"plansmith_(active_replies|llm_queue_depth)\b", query):
                problems.append(f"{where}.metadata.query: not one of the exported gauges: {query}")
        if kind == "cpu":
            if t.get("metricType") != "Utilization":
                problems.append(f"{where}.metricType: Utilization")
            if not str(metadata.get("value", "")).isdigit() or not 1 <= int(metadata["value"]) <= 100:
                problems.append(f"{where}.metadata.value: a percentage of the request, as a string")
    kinds = {t.get("type") for t in triggers}
    names = " ".join(t.get("metadata", {}).get("query", "") for t in triggers)
    if not ({"prometheus", "cpu"} <= kinds and "plansmith_active_replies" in names and "plansmith_llm_queue_depth" in names):
        problems.append("triggers: expected active replies and queue depth (Prometheus) and CPU")
    problems_to_failure(problems)
    down = behavior["scaleDown"]["stabilizationWindowSeconds"]
    return f"min {spec['minReplicaCount']}, max {spec['maxReplicaCount']}, {len(triggers)} triggers, scale-down window {down} s"


def behavior_problems(behavior: dict, where: str) -> list[str]:
    problems = []
    for direction in ("scaleUp", "scaleDown"):
        rules = behavior.get(direction)
        if not rules:
            problems.append(f"{where}.{direction}: missing (the defaults scale down after 5 minutes by 100 %)")
            continue
        if "stabilizationWindowSeconds" not in rules or not rules.get("policies"):
            problems.append(f"{where}.{direction}: state stabilizationWindowSeconds and policies")
    down = behavior.get("scaleDown") or {}
    if down.get("stabilizationWindowSeconds", 0) < 300:
        problems.append(f"{where}.scaleDown.stabilizationWindowSeconds: at least 300, so streams are not cut by flapping")
    for policy in down.get("policies", []):
        if policy.get("type") == "Percent" and policy.get("value", 0) > 50:
            problems.append(f"{where}.scaleDown.policies: {policy} takes away more than half the pods at once")
    return problems


def check_no_keda():
    resources = rendered["no-keda"]
    require(not of_kind(resources, "ScaledObject"), "overlays/no-keda still has the ScaledObject")
    hpa = one(resources, "HorizontalPodAutoscaler")
    problems = behavior_problems(hpa["spec"].get("behavior", {}), "spec.behavior")
    production = one(rendered["production"], "ScaledObject")["spec"]
    if (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) != (production["minReplicaCount"], production["maxReplicaCount"]):
        problems.append("minReplicas/maxReplicas differ from production's ScaledObject (the connection budget is "
                        "checked for those)")
    if hpa["spec"].get("behavior") != production["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]:
        problems.append("behavior differs from the ScaledObject's")
    for overlay in ("staging", "production"):
        if of_kind(rendered[overlay], "HorizontalPodAutoscaler"):
            problems.append(f"overlays/{overlay} has an HPA: KEDA makes it from the ScaledObject")
    problems_to_failure(problems)
    return f"CPU HPA {hpa['spec']['minReplicas']}..{hpa['spec']['maxReplicas']} in place of the ScaledObject"


def seconds_setting(data: dict, key: str) -> float:
    require(key in data, f"the ConfigMap has no {key}")
    return float(data[key])


def check_deployment(overlay: str):
    resources = rendered[overlay]
    deployment = one(resources, "Deployment", "plansmith")
    spec = deployment["spec"]
    pod = pod_spec(deployment)
    data = config_data(resources)
    problems = []
    if "replicas" in spec:
        problems.append("spec.replicas: leave it out, the autoscaler owns the count")
    strategy = spec.get("strategy", {}).get("rollingUpdate", {})
    if str(strategy.get("maxUnavailable")) != "0":
        problems.append("strategy.rollingUpdate.maxUnavailable: 0 (a pod goes only once its replacement is ready)")
    grace = seconds_setting(data, "PLANSMITH_SHUTDOWN__GRACE_SECONDS")
    delay = seconds_setting(data, "PLANSMITH_SHUTDOWN__READINESS_DELAY_SECONDS")
    termination = pod.get("terminationGracePeriodSeconds", 30)
    if termination < grace + delay + 10:
        problems.append(f"terminationGracePeriodSeconds {termination}: must exceed shutdown.grace_seconds {grace:g} + "
                        f"shutdown.readiness_delay_seconds {delay:g} by 10 s or more")
    security = pod.get("securityContext", {})
    if not security.get("runAsNonRoot") or security.get("runAsUser", 0) == 0:
        problems.append("securityContext: runAsNonRoot with a non-zero runAsUser")
    if pod.get("automountServiceAccountToken") is not False:
        problems.append("automountServiceAccountToken: false (the server needs no API access)")
    container = next(c for c in pod["containers"] if c["name"] == "plansmith")
    cs = container.get("securityContext", {})
    if cs.get("allowPrivilegeEscalation") is not False or not cs.get("readOnlyRootFilesystem") \
            or "ALL" not in cs.get("capabilities", {}).get("drop", []):
        problems.append("container securityContext: no privilege escalation, read-only root, all capabilities dropped")
    probes = {name: container.get(name, {}).get("httpGet", {}) for name in ("livenessProbe", "readinessProbe")}
    if probes["livenessProbe"].get("path") != "/healthz":
        problems.append("livenessProbe: GET /healthz")
    if probes["readinessProbe"].get("path") != "/readyz":
        problems.append("readinessProbe: GET /readyz")
    readiness = container.get("readinessProbe", {})
    noticed = readiness.get("periodSeconds", 10) * readiness.get("failureThreshold", 3)
    if noticed > delay:
        problems.append(f"readinessProbe: a draining pod is noticed after {noticed} s, above the readiness delay {delay:g} s")
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    listen_port = int(data.get("PLANSMITH_LISTEN", ":0").rsplit(":", 1)[1])
    metrics_port = int(data.get("PLANSMITH_METRICS__LISTEN", ":0").rsplit(":", 1)[1])
    if ports.get("http") != listen_port or ports.get("metrics") != metrics_port or metrics_port != 9464:
        problems.append(f"ports {ports}: http must be PLANSMITH_LISTEN's port ({listen_port}), metrics 9464 = "
                        f"PLANSMITH_METRICS__LISTEN's ({metrics_port})")
    annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
    if annotations.get("prometheus.io/scrape") != "true" or annotations.get("prometheus.io/port") != str(metrics_port):
        problems.append("pod annotations: prometheus.io/scrape \"true\" and prometheus.io/port of the metrics listener")
    if data.get("PLANSMITH_DATABASE__MIGRATE_ON_START") != "false":
        problems.append("PLANSMITH_DATABASE__MIGRATE_ON_START=false: the migration Job migrates")
    for workload in workloads(resources):
        for c in pod_spec(workload)["containers"]:
            res = c.get("resources", {})
            if not {"cpu", "memory"} <= set(res.get("requests", {})) or "memory" not in res.get("limits", {}):
                problems.append(f"{workload['kind']}/{workload['metadata']['name']}: container {c['name']} needs cpu and "
                                "memory requests and a memory limit")
    problems_to_failure(problems)
    return f"terminationGracePeriodSeconds {termination} > {grace:g} + {delay:g}; probes, security, ports, resources"


def check_secrets(overlay: str):
    resources = rendered[overlay]
    problems = []
    if of_kind(resources, "Secret"):
        problems.append("a Secret is in the manifests: only references to plansmith-secrets belong there")
    for key, value in config_data(resources).items():
        if SECRET_ENV.search(key) or re.search(r"://[^/@\s]+:[^/@\s]+@", value):
            problems.append(f"ConfigMap: {key} looks like a secret; reference it from the Secret")
    wanted = {"PLANSMITH_DATABASE_URL", "PLANSMITH_REDIS_URL", "ANTHROPIC_API_KEY", "OPENAI_API_KEY", "PLANSMITH_METRICS__TOKEN"}
    deployment = one(resources, "Deployment", "plansmith")
    refs = {}
    for workload in workloads(resources):
        for c in pod_spec(workload)["containers"]:
            for var in c.get("env", []):
                if SECRET_ENV.search(var["name"]):
                    secret = var.get("valueFrom", {}).get("secretKeyRef")
                    if not secret or secret.get("name") != "plansmith-secrets":
                        problems.append(f"{workload['kind']}/{workload['metadata']['name']}: {var['name']} must come "
                                        "from the Secret plansmith-secrets")
                    elif workload is deployment:
                        refs[var["name"]] = secret["key"]
    problems += [f"Deployment: {name} is not taken from the Secret" for name in sorted(wanted - set(refs))]
    cron = one(resources, "CronJob")
    cron_env = {v["name"] for v in pod_spec(cron)["containers"][0].get("env", [])}
    if "PLANSMITH_BACKUP__KEY" not in cron_env:
        problems.append("CronJob: PLANSMITH_BACKUP__KEY from the Secret")
    problems_to_failure(problems)
    return f"Secret keys referenced: {', '.join(sorted(set(refs.values()) | {'database-url-direct', 'backup-key'}))}"


def check_ingress_and_jobs(overlay: str):
    resources = rendered[overlay]
    problems = []
    ingress = one(resources, "Ingress")
    annotations = ingress["metadata"].get("annotations", {})
    for key, want in {"nginx.ingress.kubernetes.io/proxy-buffering": "off",
                      "nginx.ingress.kubernetes.io/proxy-http-version": "1.1"}.items():
        if annotations.get(key) != want:
            problems.append(f"Ingress: {key}: \"{want}\" (server-sent events)")
    for key in ("nginx.ingress.kubernetes.io/proxy-read-timeout", "nginx.ingress.kubernetes.io/proxy-send-timeout"):
        if int(annotations.get(key, "60")) < 3600:
            problems.append(f"Ingress: {key} at least 3600 (a reply stream lasts minutes)")
    hosts = {r["host"] for r in ingress["spec"]["rules"]}
    tls_hosts = {h for t in ingress["spec"].get("tls", []) for h in t.get("hosts", [])}
    if hosts != tls_hosts:
        problems.append(f"Ingress: TLS hosts {sorted(tls_hosts)} differ from the rules' {sorted(hosts)}")
    link_base = config_data(resources).get("PLANSMITH_EMAIL__LINK_BASE", "")
    if link_base not in {f"https://{h}" for h in hosts}:
        problems.append(f"PLANSMITH_EMAIL__LINK_BASE {link_base!r} is not https:// and the Ingress host")
    one(resources, "PodDisruptionBudget")
    job = one(resources, "Job", "plansmith-migrate")
    jc = pod_spec(job)["containers"][0]
    if jc.get("args") != ["migrate"] or pod_spec(job).get("restartPolicy") != "Never":
        problems.append("Job plansmith-migrate: args [migrate], restartPolicy Never")
    phase = {(r["kind"], r["metadata"]["name"]) for r in resources
             if r["metadata"].get("labels", {}).get("plansmith.dev/phase") == "migrate"}
    if {k for k, _ in phase} != {"Job", "ConfigMap", "ServiceAccount"}:
        problems.append(f"label plansmith.dev/phase=migrate: on the Job, its ConfigMap and ServiceAccount only, not {sorted(phase)}")
    cron = one(resources, "CronJob")
    script = " ".join(pod_spec(cron)["containers"][0].get("args", []))
    if 'plansmith backup create --out "$out"' not in script or 'out="/backups/' not in script \
            or 'plansmith backup verify "$out"' not in script:
        problems.append("CronJob: plansmith backup create --out /backups/… then plansmith backup verify of the same file")
    if cron["spec"].get("concurrencyPolicy") != "Forbid":
        problems.append("CronJob: concurrencyPolicy Forbid")
    for name in ("postgres", "redis"):
        service = one(resources, "Service", name)
        if service["spec"].get("type") != "ExternalName" or not service["spec"].get("externalName"):
            problems.append(f"Service {name}: ExternalName with the host")
    problems_to_failure(problems)
    return f"host {', '.join(sorted(hosts))}; SSE annotations, PDB, migration Job, backup CronJob, external services"


def surge_pods(deployment: dict, replicas: int) -> int:
    surge = str(deployment["spec"].get("strategy", {}).get("rollingUpdate", {}).get("maxSurge", "25%"))
    return math.ceil(replicas * int(surge[:-1]) / 100) if surge.endswith("%") else int(surge)


def connection_budget(overlay: str):
    """(max replicas + rolling-update surge) x database.max_connections + the jobs' pools must
    stay within 80 % of PostgreSQL's max_connections less the reserved ones."""
    resources = rendered[overlay]
    data = config_data(resources)
    per_pod = int(data.get("PLANSMITH_DATABASE__MAX_CONNECTIONS", "16"))
    autoscalers = of_kind(resources, "ScaledObject") or of_kind(resources, "HorizontalPodAutoscaler")
    spec = autoscalers[0]["spec"]
    max_replicas = spec.get("maxReplicaCount", spec.get("maxReplicas"))
    deployment = one(resources, "Deployment", "plansmith")
    pods = max_replicas + surge_pods(deployment, max_replicas)
    jobs = 0
    for workload in workloads(resources):
        if workload is deployment:
            continue
        env = container_env(resources, pod_spec(workload)["containers"][0])
        jobs += int(env.get("PLANSMITH_DATABASE__MAX_CONNECTIONS", per_pod))
        if "PLANSMITH_BACKUP__KEY" in env:
            jobs += BACKUP_TOOL_CONNECTIONS
    service = one(resources, "Service", "postgres")["metadata"].get("annotations", {})
    require("plansmith.dev/postgres-max-connections" in service,
            "Service postgres: annotation plansmith.dev/postgres-max-connections (PostgreSQL's max_connections)")
    server = int(service["plansmith.dev/postgres-max-connections"])
    reserved = int(service.get("plansmith.dev/postgres-reserved-connections", "0"))
    used = pods * per_pod + jobs
    allowed = int((server - reserved) * 0.8)
    require(used <= allowed, f"{pods} pods ({max_replicas} + surge) x {per_pod} + jobs {jobs} = {used} connections, "
                             f"above 80 % of ({server} - {reserved} reserved) = {allowed}: lower "
                             "PLANSMITH_DATABASE__MAX_CONNECTIONS or the max replicas, raise max_connections, "
                             "or put PgBouncer in between (deploy/pgbouncer)")
    return f"({max_replicas} + {pods - max_replicas} surge) x {per_pod} + jobs {jobs} = {used} ≤ {allowed} (80 % of {server} - {reserved})"


# Paths whose values may differ between staging and production: configuration values.
ALLOWED_DIFFERENCES = [
    r"^metadata\.namespace$",
    r"^ConfigMap/.*:data\.",
    r"^(Deployment|Job|CronJob)/[^:]*:spec\.(jobTemplate\.spec\.)?template\.spec\.containers\[[^]]+\]\.resources\.",
    r"^ScaledObject/[^:]*:spec\.(min|max)ReplicaCount$",
    r"^ScaledObject/[^:]*:spec\.triggers\[[^]]+\]\.metadata\.query$",  # the namespace (checked above)
    r"^HorizontalPodAutoscaler/[^:]*:spec\.(min|max)Replicas$",
    r"^Ingress/[^:]*:spec\.(rules\[\d+\]\.host|tls\[\d+\]\.hosts\[\d+\])$",
    r"^Service/(postgres|redis):spec\.externalName$",
    r"^Service/postgres:metadata\.annotations\.plansmith\.dev/postgres-(max|reserved)-connections$",
    r"^PersistentVolumeClaim/[^:]*:spec\.resources\.requests\.storage$",
]


def flatten(value, path: str, out: dict):
    if isinstance(value, dict):
        for k, v in value.items():
            flatten(v, f"{path}.{k}" if path else k, out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            key = v.get("name") if isinstance(v, dict) and "name" in v else i
            flatten(v, f"{path}[{key}]", out)
    else:
        out[path] = value


def overlays_differ_only_in_values():
    def index(resources):
        out = {}
        for r in resources:
            name = HASHED_CONFIG_MAP.sub("plansmith-config", r["metadata"]["name"])
            flat = {}
            flatten(json.loads(HASHED_CONFIG_MAP.sub("plansmith-config", json.dumps(r))), "", flat)
            out[f"{r['kind']}/{name}"] = flat
        return out

    staging, production = index(rendered["staging"]), index(rendered["production"])
    problems = []
    if set(staging) != set(production):
        problems.append(f"resources differ: only in staging {sorted(set(staging) - set(production))}, "
                        f"only in production {sorted(set(production) - set(staging))}")
    differences = 0
    for resource in sorted(set(staging) & set(production)):
        a, b = staging[resource], production[resource]
        for path in sorted(set(a) | set(b)):
            if a.get(path) == b.get(path):
                continue
            differences += 1
            qualified = f"{resource}:{path}"
            if path == "metadata.namespace" or any(re.search(p, qualified) for p in ALLOWED_DIFFERENCES):
                continue
            problems.append(f"{qualified}: staging {a.get(path)!r}, production {b.get(path)!r} (not a configuration value)")
    problems_to_failure(problems)
    return f"{differences} values differ, all configuration values (settings, replica counts, sizes, hosts)"


# ---- the binary's own check of the settings -----------------------------------------------------

def find_binary() -> str | None:
    """PLANSMITH_BIN only: a binary found lying around may be older than the settings."""
    binary = os.environ.get("PLANSMITH_BIN", "")
    if binary and not os.access(binary, os.X_OK):
        raise CheckFailed(f"PLANSMITH_BIN={binary} is not an executable")
    return binary or None


def config_check(overlay: str):
    """`plansmith config check` with each workload's environment: catches misspelt variables (the
    settings refuse unknown keys) and invalid values before a pod does."""
    binary = find_binary()
    if not binary:
        return "skip: no binary; PLANSMITH_BIN=… runs it (scripts/test does, after the build)"
    resources = rendered[overlay]
    pending_seen = set()
    checked = 0
    with tempfile.TemporaryDirectory() as cwd:
        for workload in workloads(resources):
            container = pod_spec(workload)["containers"][0]
            env = {k: v for k, v in container_env(resources, container).items()}
            for _ in range(10):
                result = subprocess.run([binary, "config", "check"], cwd=cwd, capture_output=True, text=True,
                                        env={"PATH": os.environ.get("PATH", ""), **env}, timeout=30)
                if result.returncode == 0:
                    break
                unknown = re.search(r"([a-z_.]+): unknown field", result.stderr)
                key = unknown.group(1) if unknown else None
                if key in PENDING_SETTINGS or (key and key.split(".")[0] in PENDING_SETTINGS):
                    variable = "PLANSMITH_" + key.upper().replace(".", "__")
                    dropped = [k for k in env if k == variable or k.startswith(variable + "__")]
                    if not dropped:
                        break
                    for k in dropped:
                        env.pop(k)
                    pending_seen.add(key)
                    continue
                break
            if result.returncode != 0:
                raise CheckFailed(f"{workload['kind']}/{workload['metadata']['name']}: plansmith config check:\n"
                                  f"{result.stderr.strip()}")
            checked += 1
    note = f"{checked} workloads valid for {os.path.relpath(binary, ROOT) if binary.startswith(ROOT) else binary}"
    if pending_seen:
        note += f"; not yet known to this binary, left out: {', '.join(sorted(pending_seen))}"
        notes.append(f"{overlay}: the binary does not know {', '.join(sorted(pending_seen))} yet (being added on main)")
    return note


# ---- other deployment files -----------------------------------------------------------------------

def check_containerfile():
    path = os.path.join(ROOT, "Containerfile")
    stages, current = [], None
    with open(path, encoding="utf-8") as f:
        lines = f.read().replace("\\\n", " ").splitlines()
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            current = {"from": rest, "lines": []}
            stages.append(current)
        elif current is not None:
            current["lines"].append((instruction, rest.strip()))
    problems = []
    if len(stages) < 2:
        problems.append(f"{len(stages)} stage(s): build in one stage, run from a slim one")
    final = stages[-1] if stages else {"lines": []}
    users = [rest for ins, rest in final["lines"] if ins == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append("the final stage must set a non-root USER")
    copies = [rest for ins, rest in final["lines"] if ins in ("COPY", "ADD")]
    if len(copies) != 1 or not copies[0].startswith("--from=") or not re.search(r"plansmith\s+\S*/plansmith$", copies[0]):
        problems.append(f"the final stage must copy the binary alone from a build stage, not {copies}")
    if any(ins == "HEALTHCHECK" for ins, _ in final["lines"]):
        problems.append("no HEALTHCHECK: Kubernetes probes /healthz and /readyz")
    exposed = " ".join(rest for ins, rest in final["lines"] if ins == "EXPOSE").split()
    if sorted(exposed) != ["8080", "9464"]:
        problems.append(f"EXPOSE 8080 9464, not {exposed}")
    entry = [rest for ins, rest in final["lines"] if ins == "ENTRYPOINT"]
    cmd = [rest for ins, rest in final["lines"] if ins == "CMD"]
    if entry != ['["plansmith"]'] or cmd != ['["serve"]']:
        problems.append(f'ENTRYPOINT ["plansmith"] and CMD ["serve"], not {entry} {cmd}')
    build = " ".join(rest for stage in stages[:-1] for ins, rest in stage["lines"] if ins == "RUN")
    if "npm run build" not in build or "cargo build --release" not in build:
        problems.append("the build stages must build the web app (npm run build) and the release binary")
    problems_to_failure(problems)
    return f"{len(stages)} stages; final: USER {users[-1]}, copies only the binary"


def workflow_on(doc: dict) -> dict:
    # YAML 1.1 reads the key `on` as true.
    return doc.get("on", doc.get(True)) or {}


def check_workflows():
    directory = os.path.join(ROOT, ".github", "workflows")
    docs = {}
    for path in sorted(glob.glob(os.path.join(directory, "*.yml"))):
        with open(path, encoding="utf-8") as f:
            docs[os.path.basename(path)] = yaml.safe_load(f)
    problems = []
    ci, deploy = docs.get("ci.yml"), docs.get("deploy.yml")
    require(ci and deploy, "need .github/workflows/ci.yml and deploy.yml")
    for name, doc in docs.items():
        if not isinstance(doc.get("jobs"), dict) or not workflow_on(doc):
            problems.append(f"{name}: needs `on` and `jobs`")
        for job_name, job in doc.get("jobs", {}).items():
            if "runs-on" not in job or not job.get("steps"):
                problems.append(f"{name}: job {job_name} needs runs-on and steps")
            for step in job.get("steps", []):
                if not ("uses" in step) ^ ("run" in step):
                    problems.append(f"{name}: job {job_name}: a step has both or neither of uses and run: {step}")
    triggers = workflow_on(ci)
    if not {"push", "pull_request"} <= set(triggers):
        problems.append("ci.yml: on push and pull_request")
    test = ci["jobs"].get("test", {})
    if not {"postgres", "redis"} <= set(test.get("services", {})):
        problems.append("ci.yml: PostgreSQL and Redis service containers in the test job")
    runs = " ".join(s.get("run", "") for s in test.get("steps", []))
    uses = " ".join(s.get("uses", "") for s in test.get("steps", []))
    if "bash .ci/run" not in runs or "actions/cache" not in uses or "upload-artifact" not in uses:
        problems.append("ci.yml: the test job runs bash .ci/run, caches cargo and uploads the reports")
    coverage = " ".join(s.get("run", "") for s in ci["jobs"].get("coverage", {}).get("steps", []))
    if "scripts/coverage" not in coverage:
        problems.append("ci.yml: a coverage job running scripts/coverage")
    run = workflow_on(deploy).get("workflow_run", {})
    if run.get("workflows") != ["CI"] or ci.get("name") != "CI":
        problems.append("deploy.yml: runs after the workflow named CI")
    production = deploy["jobs"].get("production", {})
    environment = production.get("environment", {})
    if (environment.get("name") if isinstance(environment, dict) else environment) != "production":
        problems.append("deploy.yml: the production job uses the protected environment `production`")
    text = json.dumps(deploy)
    if "v[0-9]+\\\\.[0-9]+\\\\.[0-9]+" not in text or "scripts/k8s-deploy" not in text:
        problems.append("deploy.yml: production only for tags vX.Y.Z, through scripts/k8s-deploy (the overlays)")
    problems_to_failure(problems)
    return f"{', '.join(docs)} parse; triggers, services, caches, artifacts, coverage, environments"


def check_pgbouncer():
    parser = configparser.ConfigParser(comment_prefixes=(";", "#"), inline_comment_prefixes=None)
    parser.read(os.path.join(ROOT, "deploy", "pgbouncer", "pgbouncer.ini"))
    settings = parser["pgbouncer"]
    problems = []
    if settings.get("pool_mode") != "transaction":
        problems.append("pool_mode = transaction")
    if int(settings.get("max_prepared_statements", "0")) < 100:
        problems.append("max_prepared_statements ≥ 100: sqlx caches up to 100 named statements per connection")
    ignored = {p.strip() for p in settings.get("ignore_startup_parameters", "").split(",")}
    if not {"extra_float_digits", "options"} <= ignored:
        problems.append("ignore_startup_parameters: extra_float_digits and options (sent by sqlx)")
    production = rendered["production"]
    spec = one(production, "ScaledObject")["spec"]
    deployment = one(production, "Deployment", "plansmith")
    clients = (spec["maxReplicaCount"] + surge_pods(deployment, spec["maxReplicaCount"])) * \
        int(config_data(production)["PLANSMITH_DATABASE__MAX_CONNECTIONS"])
    if int(settings.get("max_client_conn", "100")) < clients:
        problems.append(f"max_client_conn {settings.get('max_client_conn')}: below production's {clients} client connections")
    problems_to_failure(problems)
    return (f"transaction pooling, max_prepared_statements {settings['max_prepared_statements']}, "
            f"max_client_conn {settings['max_client_conn']} ≥ {clients}")


def check_prometheus_fragment():
    with open(os.path.join(K8S, "prometheus-pods.yml"), encoding="utf-8") as f:
        fragment = yaml.safe_load(f)
    job = fragment["scrape_configs"][0]
    labels = {r.get("target_label") for r in job["relabel_configs"]}
    require({"namespace", "pod", "instance"} <= labels, "the job must set the namespace, pod and instance labels "
                                                         "(the KEDA queries select by namespace)")
    for rule in job["relabel_configs"]:
        re.compile(rule.get("regex", "(.*)"))
    if not shutil.which("promtool"):
        return "skip: promtool is not installed; labels and regular expressions checked"
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "prometheus.yml")
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump({"global": {"scrape_interval": "15s"}, **fragment}, f)
        result = subprocess.run(["promtool", "check", "config", path], capture_output=True, text=True)
        if "kubernetes_sd_configs not found" in result.stdout + result.stderr:
            return ("skip: this promtool is built without Kubernetes discovery (Debian's is); labels and "
                    "regular expressions checked")
        require(result.returncode == 0, result.stdout + result.stderr)
    return "promtool check config"


def check_cdn_config():
    path = os.path.join(ROOT, "deploy", "cdn", "nginx-edge.conf")
    if not shutil.which("nginx"):
        return "skip: nginx is not installed (scripts/cdn-drill installs and runs it)"
    with tempfile.TemporaryDirectory() as d:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        text = text.replace("/var/cache/nginx/plansmith", f"{d}/cache").replace("/var/log/nginx/", f"{d}/") \
                   .replace("/run/nginx-plansmith-edge.pid", f"{d}/nginx.pid")
        text = text.replace("http {", f"http {{\n    client_body_temp_path {d}/body;\n    proxy_temp_path {d}/proxy;\n"
                                      f"    fastcgi_temp_path {d}/fastcgi;\n    uwsgi_temp_path {d}/uwsgi;\n"
                                      f"    scgi_temp_path {d}/scgi;", 1)
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(text)
        result = subprocess.run(["nginx", "-t", "-q", "-e", f"{d}/error.log", "-c", conf], capture_output=True, text=True)
        require(result.returncode == 0, result.stderr.strip())
    return "nginx -t"


def scaling_simulation(overlay: str, report_dir: str | None):
    with tempfile.TemporaryDirectory() as d:
        manifests = os.path.join(d, "manifests.yaml")
        with open(manifests, "w", encoding="utf-8") as f:
            yaml.safe_dump_all(rendered[overlay], f)
        command = [sys.executable, os.path.join(ROOT, "scripts", "scaling-simulation.py"), manifests, CURVE]
        if report_dir:
            command += ["--report", os.path.join(report_dir, f"scaling-simulation-{overlay}.md")]
        result = subprocess.run(command, capture_output=True, text=True)
        require(result.returncode == 0, result.stdout + result.stderr)
        summary = [line for line in result.stdout.splitlines() if "changes:" in line]
        # The simulation must also catch flapping: the same load with a 30-second scale-down window.
        broken = copy.deepcopy(rendered[overlay])
        for r in broken:
            behavior = (r["spec"].get("advanced", {}).get("horizontalPodAutoscalerConfig", {}).get("behavior")
                        if r["kind"] == "ScaledObject" else r["spec"].get("behavior") if r["kind"] == "HorizontalPodAutoscaler" else None)
            if behavior:
                behavior["scaleDown"] = {"stabilizationWindowSeconds": 30, "selectPolicy": "Max",
                                         "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}
        with open(manifests, "w", encoding="utf-8") as f:
            yaml.safe_dump_all(broken, f)
        bad = subprocess.run(command[:4], capture_output=True, text=True)
        require(bad.returncode != 0, "the simulation did not notice flapping with a 30 s scale-down window")
    return summary[0] if summary else ""


def main() -> int:
    if sys.argv[1:] == ["--config-check"]:
        check("render overlays " + ", ".join(OVERLAYS), render_all)
        for overlay in OVERLAYS if len(rendered) == len(OVERLAYS) else []:
            check(f"{overlay}: plansmith config check of each workload's environment", config_check, overlay)
        for note in notes:
            print(f"note  {note}")
        return 1 if failures or len(rendered) != len(OVERLAYS) else 0
    if sys.argv[1:]:
        print("usage: scripts/check-deploy [--config-check]", file=sys.stderr)
        return 2
    report_dir = os.environ.get("PLANSMITH_TEST_REPORTS_DIR")
    if report_dir:
        report_dir = os.path.join(report_dir, "deploy")
        os.makedirs(report_dir, exist_ok=True)
    check("render overlays " + ", ".join(OVERLAYS), render_all)
    if len(rendered) != len(OVERLAYS):
        print("error: the overlays do not render; nothing else can be checked", file=sys.stderr)
        return 1
    if report_dir:
        write_rendered(report_dir)
    check("kubernetes-validate every manifest", validate_schemas)
    for overlay in ("staging", "production"):
        check(f"{overlay}: KEDA ScaledObject fields and HPA behavior", check_scaled_object, overlay)
    check("no-keda: CPU HPA instead of the ScaledObject", check_no_keda)
    for overlay in OVERLAYS:
        check(f"{overlay}: Deployment (shutdown timing, probes, security, ports, resources)", check_deployment, overlay)
        check(f"{overlay}: secrets only by reference", check_secrets, overlay)
        check(f"{overlay}: Ingress, PDB, jobs, external services", check_ingress_and_jobs, overlay)
        check(f"{overlay}: connection budget", connection_budget, overlay)
        check(f"{overlay}: plansmith config check of each workload's environment", config_check, overlay)
    check("staging and production differ only in configuration values", overlays_differ_only_in_values)
    for overlay in ("production", "no-keda"):
        check(f"{overlay}: scaling simulation (testdata/load-curve.csv)", scaling_simulation, overlay, report_dir)
    check("Containerfile: stages, non-root user, only the binary", check_containerfile)
    check("GitHub workflows", check_workflows)
    check("deploy/pgbouncer/pgbouncer.ini", check_pgbouncer)
    check("deploy/k8s/prometheus-pods.yml", check_prometheus_fragment)
    check("deploy/cdn/nginx-edge.conf", check_cdn_config)
    for note in notes:
        print(f"note  {note}")
    if failures:
        print(f"error: {failures} deployment check(s) failed (above)", file=sys.stderr)
        return 1
    print(f"==> deployment checks passed (rendered with {renderer_used})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
