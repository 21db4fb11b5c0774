#!/usr/bin/env python3
"""Renders deploy/k8s overlays where neither `kubectl kustomize` nor `kustomize` is installed.

Implements only what deploy/k8s uses, and refuses every other kustomization field, so nobody
can add one that this renderer would silently ignore:

- resources: files (one or more YAML documents) and directories (other kustomizations);
- configMapGenerator: envs and literals, options.labels, behavior create / merge / replace;
  the name gets kustomize's content hash suffix, and references to it (envFrom, env
  valueFrom, volumes) follow;
- patches: strategic merge patches (maps merge, lists of containers, env, volumes, ports and
  volume mounts merge by their key, other lists are replaced, `$patch: delete` removes a
  resource) and JSON 6902 patches (add, replace, remove) with a target kind and name;
- namespace: set on every resource;
- images: newName, newTag, digest on containers of pod templates.

Output: the resources in kustomize's order (kind order, then group, kind and name).
scripts/check-deploy compares this output with `kubectl kustomize` where kubectl exists.

    python3 scripts/kustomize_lite.py deploy/k8s/overlays/production > production.yaml
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import sys

import yaml

ALLOWED_FIELDS = {"apiVersion", "kind", "resources", "namespace", "configMapGenerator", "images", "patches"}
# Lists merged by a key in a strategic merge patch (the Kubernetes types' patchMergeKey).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
}
# kustomize's legacy output order; other kinds follow, by group, kind and name.
KIND_ORDER = [
    "Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition", "ServiceAccount",
    "PodSecurityPolicy", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ConfigMap",
    "Secret", "Endpoints", "Service", "LimitRange", "PriorityClass", "PersistentVolume",
    "PersistentVolumeClaim", "Deployment", "StatefulSet", "CronJob", "PodDisruptionBudget",
]
KIND_ORDER_LAST = ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"]


class RenderError(Exception):
    pass


def load_yaml_documents(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def kustomization_file(directory: str) -> str:
    for name in ("kustomization.yaml", "kustomization.yml", "Kustomization"):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    raise RenderError(f"{directory}: no kustomization.yaml")


def read_env_file(path: str) -> dict[str, str]:
    data: dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if "=" not in line:
                raise RenderError(f"{path}:{number}: expected KEY=VALUE")
            key, value = line.split("=", 1)
            data[key.strip()] = value
    return data


def generator_data(spec: dict, base_dir: str) -> dict[str, str]:
    data: dict[str, str] = {}
    for env in spec.get("envs", []):
        data.update(read_env_file(os.path.join(base_dir, env)))
    for literal in spec.get("literals", []):
        key, value = literal.split("=", 1)
        data[key] = value
    unknown = set(spec) - {"name", "envs", "literals", "behavior", "options"}
    if unknown:
        raise RenderError(f"configMapGenerator {spec.get('name')}: unsupported fields {sorted(unknown)}")
    return data


def kustomize_hash(config_map: dict) -> str:
    """kustomize's name suffix: sha256 of the JSON of kind, name and data; vowels replaced."""
    encoded = json.dumps(
        {"kind": "ConfigMap", "name": config_map["metadata"]["name"], "data": config_map.get("data", {})},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    # Go's json.Marshal escapes these.
    encoded = encoded.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    digest = hashlib.sha256(encoded.encode("utf-8")).hexdigest()[:10]
    return digest.translate(str.maketrans({"0": "g", "1": "h", "3": "k", "a": "m", "e": "t"}))


def strategic_merge(target, patch):
    if not isinstance(target, dict) or not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target)
    for key, value in patch.items():
        if key == "$patch":
            continue
        if value is None:
            result.pop(key, None)
        elif key in MERGE_KEYS and isinstance(value, list) and isinstance(result.get(key), list):
            result[key] = merge_list(result[key], value, MERGE_KEYS[key])
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = strategic_merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def merge_list(target: list, patch: list, key: str) -> list:
    result = copy.deepcopy(target)
    for item in patch:
        index = next((i for i, t in enumerate(result) if isinstance(t, dict) and t.get(key) == item.get(key)), None)
        if item.get("$patch") == "delete":
            if index is not None:
                del result[index]
        elif index is None:
            result.append(copy.deepcopy(item))
        else:
            result[index] = strategic_merge(result[index], item)
    return result


def json_pointer(path: str) -> list:
    return [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")]


def json_patch(document: dict, operations: list) -> dict:
    result = copy.deepcopy(document)
    for op in operations:
        parts = json_pointer(op["path"])
        parent = result
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        last = parts[-1]
        kind = op["op"]
        if isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            if kind == "add":
                parent.insert(index, copy.deepcopy(op["value"]))
            elif kind == "replace":
                parent[index] = copy.deepcopy(op["value"])
            elif kind == "remove":
                del parent[index]
            else:
                raise RenderError(f"JSON patch operation {kind} is not supported")
        else:
            if kind in ("add", "replace"):
                if kind == "replace" and last not in parent:
                    raise RenderError(f"JSON patch: replace of missing {op['path']}")
                parent[last] = copy.deepcopy(op["value"])
            elif kind == "remove":
                del parent[last]
            else:
                raise RenderError(f"JSON patch operation {kind} is not supported")
    return result


def identity(resource: dict) -> tuple[str, str]:
    return resource["kind"], resource["metadata"]["name"]


def find(resources: list[dict], kind: str, name: str) -> int:
    for i, r in enumerate(resources):
        if identity(r) == (kind, name):
            return i
    raise RenderError(f"patch target {kind}/{name} not found")


def pod_specs(resource: dict):
    """The pod specs of a workload (Deployment, StatefulSet, DaemonSet, Job, CronJob)."""
    spec = resource.get("spec", {})
    if resource["kind"] == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    template = spec.get("template", {}).get("spec")
    if template:
        yield template


def image_name(reference: str) -> str:
    """`registry:5000/team/app:1.2@sha256:…` → `registry:5000/team/app`."""
    name = reference.split("@")[0]
    last = name.rsplit("/", 1)[-1]
    return name[: len(name) - len(last)] + last.split(":")[0]


def apply_images(resources: list[dict], images: list[dict]) -> None:
    for resource in resources:
        for pod in pod_specs(resource):
            for container in pod.get("containers", []) + pod.get("initContainers", []):
                name = image_name(container["image"])
                for image in images:
                    if image["name"] != name:
                        continue
                    new_name = image.get("newName", name)
                    if "digest" in image:
                        container["image"] = f"{new_name}@{image['digest']}"
                    elif "newTag" in image:
                        container["image"] = f"{new_name}:{image['newTag']}"
                    else:
                        tag = container["image"][len(name):]
                        container["image"] = new_name + tag


def render_level(directory: str) -> list[dict]:
    """Resources of one kustomization with its generators, patches, namespace and images
    applied; generated ConfigMaps keep their plain names (hashed at the top)."""
    path = kustomization_file(directory)
    with open(path, encoding="utf-8") as f:
        kustomization = yaml.safe_load(f) or {}
    unknown = set(kustomization) - ALLOWED_FIELDS
    if unknown:
        raise RenderError(f"{path}: fields {sorted(unknown)} are not supported by scripts/kustomize_lite.py")
    resources: list[dict] = []
    for entry in kustomization.get("resources", []):
        full = os.path.normpath(os.path.join(directory, entry))
        if os.path.isdir(full):
            resources.extend(render_level(full))
        else:
            resources.extend(load_yaml_documents(full))
    for spec in kustomization.get("configMapGenerator", []):
        behavior = spec.get("behavior", "create")
        data = generator_data(spec, directory)
        labels = (spec.get("options") or {}).get("labels") or {}
        if behavior == "create":
            resources.append({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": spec["name"], **({"labels": dict(labels)} if labels else {})},
                "data": data,
                "__generated": True,
            })
            continue
        index = find(resources, "ConfigMap", spec["name"])
        existing = resources[index]
        if behavior == "merge":
            existing["data"] = {**existing.get("data", {}), **data}
        elif behavior == "replace":
            existing["data"] = data
        else:
            raise RenderError(f"configMapGenerator {spec['name']}: behavior {behavior} is not supported")
        if labels:
            existing["metadata"].setdefault("labels", {}).update(labels)
    for patch in kustomization.get("patches", []):
        resources = apply_patch(resources, patch, directory)
    namespace = kustomization.get("namespace")
    if namespace:
        for resource in resources:
            resource["metadata"]["namespace"] = namespace
    apply_images(resources, kustomization.get("images", []))
    return resources


def apply_patch(resources: list[dict], patch: dict, directory: str) -> list[dict]:
    unknown = set(patch) - {"path", "patch", "target"}
    if unknown:
        raise RenderError(f"patches: unsupported fields {sorted(unknown)}")
    if "path" in patch:
        with open(os.path.join(directory, patch["path"]), encoding="utf-8") as f:
            text = f.read()
    else:
        text = patch["patch"]
    documents = [d for d in yaml.safe_load_all(text) if d is not None]
    target = patch.get("target") or {}
    if len(documents) == 1 and isinstance(documents[0], list):
        if not {"kind", "name"} <= set(target):
            raise RenderError("a JSON 6902 patch needs a target kind and name")
        index = find(resources, target["kind"], target["name"])
        resources[index] = json_patch(resources[index], documents[0])
        return resources
    for document in documents:
        kind = target.get("kind", document.get("kind"))
        name = target.get("name", document.get("metadata", {}).get("name"))
        index = find(resources, kind, name)
        if document.get("$patch") == "delete":
            del resources[index]
        else:
            merged = strategic_merge(resources[index], document)
            resources[index] = merged
    return resources


def rename_config_map_references(resource: dict, names: dict[str, str]) -> None:
    for pod in pod_specs(resource):
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            for source in container.get("envFrom", []):
                ref = source.get("configMapRef")
                if ref and ref.get("name") in names:
                    ref["name"] = names[ref["name"]]
            for env in container.get("env", []):
                ref = (env.get("valueFrom") or {}).get("configMapKeyRef")
                if ref and ref.get("name") in names:
                    ref["name"] = names[ref["name"]]
        for volume in pod.get("volumes", []):
            ref = volume.get("configMap")
            if ref and ref.get("name") in names:
                ref["name"] = names[ref["name"]]


def sort_key(resource: dict):
    kind = resource["kind"]
    group = resource.get("apiVersion", "").rsplit("/", 1)[0] if "/" in resource.get("apiVersion", "") else ""
    if kind in KIND_ORDER:
        rank = (0, KIND_ORDER.index(kind), "")
    elif kind in KIND_ORDER_LAST:
        rank = (2, KIND_ORDER_LAST.index(kind), "")
    else:
        rank = (1, 0, group)
    return rank, kind, resource["metadata"].get("namespace", ""), resource["metadata"]["name"]


def render(directory: str) -> list[dict]:
    resources = render_level(directory)
    names: dict[str, str] = {}
    for resource in resources:
        if resource.pop("__generated", False):
            old = resource["metadata"]["name"]
            new = f"{old}-{kustomize_hash(resource)}"
            resource["metadata"]["name"] = new
            names[old] = new
    for resource in resources:
        rename_config_map_references(resource, names)
    return sorted(resources, key=sort_key)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    try:
        resources = render(argv[1])
    except (RenderError, OSError, KeyError, ValueError, yaml.YAMLError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    sys.stdout.write(yaml.safe_dump_all(resources, sort_keys=True, default_flow_style=False, width=120))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
