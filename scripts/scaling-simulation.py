#!/usr/bin/env python3
"""Replays a recorded load curve through the autoscaling rules of the rendered manifests, as
Kubernetes' HorizontalPodAutoscaler computes them, and checks that the replica count follows
the load without flapping.

The autoscaler is the KEDA ScaledObject (KEDA hands its triggers and behavior to an HPA) or a
plain HPA (overlays/no-keda). Every 15 s (the HPA's sync period) it computes, like the HPA
controller (pkg/controller/podautoscaler):

- per trigger a proposal: AverageValue (the Prometheus triggers): ceil(sum / target per pod);
  Utilization (CPU): ceil(ratio x pods), where pods not ready yet count as idle when scaling
  up; a ratio within the tolerance (10 %) of 1 keeps the current count;
- the largest proposal; stabilised: not above the smallest recommendation of the scale-up
  window, not below the largest of the scale-down window;
- limited by the scale-up and scale-down policies over their periods (selectPolicy), and by
  min and max replicas.

The world around it: metrics are 30 s old (scrape and query), a new pod is ready 30 s after
it is created, a pod taken away stops serving at once. CPU is modelled from the load:
1.2 ms of CPU a second per streaming reply plus 0.05 CPU per pod (docs/performance.md).

Checks:
- capacity: after the load has held a level for REACTION_BOUND seconds, the ready pods are
  at least what an instant autoscaler would pick for it (each trigger at its target + 10 %);
- no scale-down within the scale-down stabilisation window of a scale-up;
- no flapping: no scale-up within 15 minutes of a scale-down, at most MAX_CHANGES changes;
- scale-downs at most as fast as the policy (one pod per period);
- at the end, back to what the load needs.

    scripts/scaling-simulation.py MANIFESTS.yaml CURVE.csv [--report FILE]

MANIFESTS.yaml is a rendered overlay (kubectl kustomize, or scripts/kustomize_lite.py);
scripts/check-deploy runs this for overlays/production and overlays/no-keda.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from dataclasses import dataclass, field

import yaml

SYNC_SECONDS = 15
TOLERANCE = 0.1
METRIC_LAG_SECONDS = 30
POD_READY_SECONDS = 30
CPU_PER_REPLY = 0.0012
CPU_PER_POD = 0.05
REACTION_BOUND = 240
NO_REVERSAL_SECONDS = 900
MAX_CHANGES = 30


@dataclass
class Trigger:
    name: str
    kind: str  # "average" (sum / target per pod) or "cpu" (utilization of the request)
    target: float
    series: str = ""  # the curve's column for "average"


@dataclass
class Policy:
    type: str
    value: int
    period: int


@dataclass
class Rules:
    stabilization: int
    select: str
    policies: list[Policy]


@dataclass
class Autoscaler:
    source: str
    min_replicas: int
    max_replicas: int
    triggers: list[Trigger]
    up: Rules
    down: Rules
    cpu_request: float


@dataclass
class Event:
    time: int
    before: int
    after: int


@dataclass
class State:
    replicas: int
    created: list[int] = field(default_factory=list)  # creation time of each pod
    recommendations: list[tuple[int, int]] = field(default_factory=list)
    up_events: list[tuple[int, int]] = field(default_factory=list)
    down_events: list[tuple[int, int]] = field(default_factory=list)


def cpu_request(value) -> float:
    text = str(value)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def rules(spec: dict, what: str) -> Rules:
    if not spec:
        raise ValueError(f"behavior.{what} is missing: the defaults are not what we want (scripts/check-deploy)")
    return Rules(
        stabilization=int(spec.get("stabilizationWindowSeconds", 0 if what == "scaleUp" else 300)),
        select=spec.get("selectPolicy", "Max"),
        policies=[Policy(p["type"], int(p["value"]), int(p["periodSeconds"])) for p in spec.get("policies", [])],
    )


def load_autoscaler(manifests: list[dict]) -> Autoscaler:
    by_kind = {}
    for doc in manifests:
        by_kind.setdefault(doc["kind"], []).append(doc)
    deployment = next(d for d in by_kind["Deployment"] if d["metadata"]["name"] == "plansmith")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    request = cpu_request(container["resources"]["requests"]["cpu"])
    if "ScaledObject" in by_kind:
        so = by_kind["ScaledObject"][0]
        spec = so["spec"]
        behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
        triggers = []
        for t in spec["triggers"]:
            if t["type"] == "prometheus":
                query = t["metadata"]["query"]
                series = "active_replies" if "plansmith_active_replies" in query else (
                    "llm_queue_depth" if "plansmith_llm_queue_depth" in query else None)
                if series is None or t.get("metricType", "AverageValue") != "AverageValue":
                    raise ValueError(f"trigger {t.get('name')}: the simulation knows AverageValue triggers on "
                                     "plansmith_active_replies and plansmith_llm_queue_depth only")
                triggers.append(Trigger(t.get("name", series), "average", float(t["metadata"]["threshold"]), series))
            elif t["type"] == "cpu":
                if t.get("metricType") != "Utilization":
                    raise ValueError("the CPU trigger must be metricType Utilization")
                triggers.append(Trigger(t.get("name", "cpu"), "cpu", float(t["metadata"]["value"]) / 100))
            else:
                raise ValueError(f"trigger type {t['type']} is not simulated")
        return Autoscaler(
            source=f"ScaledObject/{so['metadata']['name']}",
            min_replicas=int(spec.get("minReplicaCount", 0)),
            max_replicas=int(spec.get("maxReplicaCount", 100)),
            triggers=triggers,
            up=rules(behavior.get("scaleUp"), "scaleUp"),
            down=rules(behavior.get("scaleDown"), "scaleDown"),
            cpu_request=request,
        )
    hpa = by_kind["HorizontalPodAutoscaler"][0]
    spec = hpa["spec"]
    triggers = []
    for m in spec["metrics"]:
        if m["type"] != "Resource" or m["resource"]["name"] != "cpu" or m["resource"]["target"]["type"] != "Utilization":
            raise ValueError("the HPA's metrics: only CPU utilization is simulated")
        triggers.append(Trigger("cpu", "cpu", m["resource"]["target"]["averageUtilization"] / 100))
    return Autoscaler(
        source=f"HorizontalPodAutoscaler/{hpa['metadata']['name']}",
        min_replicas=int(spec.get("minReplicas", 1)),
        max_replicas=int(spec["maxReplicas"]),
        triggers=triggers,
        up=rules(spec.get("behavior", {}).get("scaleUp"), "scaleUp"),
        down=rules(spec.get("behavior", {}).get("scaleDown"), "scaleDown"),
        cpu_request=request,
    )


def load_curve(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        rows = [line for line in f if not line.startswith("#")]
    return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(rows)]


def at(curve: list[dict], t: float, column: str) -> float:
    """The curve at time t, linear between its rows."""
    if t <= curve[0]["seconds"]:
        return curve[0][column]
    for a, b in zip(curve, curve[1:]):
        if a["seconds"] <= t <= b["seconds"]:
            share = (t - a["seconds"]) / (b["seconds"] - a["seconds"])
            return a[column] + (b[column] - a[column]) * share
    return curve[-1][column]


def cpu_utilization(replies: float, pods: int, request: float) -> float:
    """Average CPU of the pods, as a share of their request."""
    if pods == 0:
        return 0.0
    return (replies * CPU_PER_REPLY + pods * CPU_PER_POD) / pods / request


def ideal(scaler: Autoscaler, curve: list[dict], t: float) -> int:
    """What an instant autoscaler would run: every trigger within its target + tolerance."""
    need = scaler.min_replicas
    for trigger in scaler.triggers:
        if trigger.kind == "average":
            need = max(need, math.ceil(at(curve, t, trigger.series) / (trigger.target * (1 + TOLERANCE))))
        else:
            replies = at(curve, t, "active_replies")
            pods = 1
            while cpu_utilization(replies, pods, scaler.cpu_request) > trigger.target * (1 + TOLERANCE):
                pods += 1
            need = max(need, pods)
    return min(need, scaler.max_replicas)


def changes_in(events: list[tuple[int, int]], now: int, period: int) -> int:
    return sum(change for time, change in events if time > now - period)


def scale_up_limit(scaler: Autoscaler, state: State, now: int) -> int:
    rules_ = scaler.up
    if rules_.select == "Disabled":
        return state.replicas
    proposals = []
    for p in rules_.policies:
        start = state.replicas - changes_in(state.up_events, now, p.period) + changes_in(state.down_events, now, p.period)
        proposals.append(start + p.value if p.type == "Pods" else math.ceil(start * (1 + p.value / 100)))
    return min(proposals) if rules_.select == "Min" else max(proposals)


def scale_down_limit(scaler: Autoscaler, state: State, now: int) -> int:
    rules_ = scaler.down
    if rules_.select == "Disabled":
        return state.replicas
    proposals = []
    for p in rules_.policies:
        start = state.replicas - changes_in(state.up_events, now, p.period) + changes_in(state.down_events, now, p.period)
        proposals.append(start - p.value if p.type == "Pods" else int(start * (1 - p.value / 100)))
    return max(proposals) if rules_.select == "Min" else min(proposals)


def proposal(scaler: Autoscaler, state: State, curve: list[dict], now: int) -> int:
    seen = now - METRIC_LAG_SECONDS
    current = state.replicas
    ready = sum(1 for created in state.created if seen - created >= POD_READY_SECONDS)
    unready = current - ready
    best = 0
    for trigger in scaler.triggers:
        if trigger.kind == "average":
            total = at(curve, seen, trigger.series)
            ratio = total / (trigger.target * current)
            count = current if abs(1 - ratio) <= TOLERANCE else math.ceil(total / trigger.target)
        else:
            utilization = cpu_utilization(at(curve, seen, "active_replies"), max(ready, 1), scaler.cpu_request)
            ratio = utilization / trigger.target
            count_pods = max(ready, 1)
            if ratio > 1 and unready > 0:
                # Scaling up: pods not ready yet count as idle.
                ratio = utilization * count_pods / (trigger.target * (count_pods + unready))
                count_pods += unready
            count = current if abs(1 - ratio) <= TOLERANCE else math.ceil(ratio * count_pods)
        best = max(best, count)
    return best


def step(scaler: Autoscaler, state: State, curve: list[dict], now: int) -> int:
    desired = proposal(scaler, state, curve, now)
    up_rec = down_rec = desired
    for time, rec in state.recommendations:
        if time > now - scaler.up.stabilization:
            up_rec = min(up_rec, rec)
        if time > now - scaler.down.stabilization:
            down_rec = max(down_rec, rec)
    state.recommendations.append((now, desired))
    keep = max(scaler.up.stabilization, scaler.down.stabilization)
    state.recommendations = [(t, r) for t, r in state.recommendations if t > now - keep - SYNC_SECONDS]
    stabilized = state.replicas
    stabilized = max(stabilized, up_rec)
    stabilized = min(stabilized, down_rec)
    current = state.replicas
    if stabilized > current:
        limit = min(scaler.max_replicas, max(scale_up_limit(scaler, state, now), current))
        result = min(stabilized, limit)
    elif stabilized < current:
        limit = max(scaler.min_replicas, min(scale_down_limit(scaler, state, now), current))
        result = max(stabilized, limit)
    else:
        result = current
    return min(max(result, scaler.min_replicas), scaler.max_replicas)


def simulate(scaler: Autoscaler, curve: list[dict]):
    end = int(curve[-1]["seconds"])
    first = ideal(scaler, curve, 0)
    state = State(replicas=first, created=[-POD_READY_SECONDS] * first)
    timeline, events = [], []
    for now in range(0, end + 1, SYNC_SECONDS):
        new = step(scaler, state, curve, now)
        if new > state.replicas:
            state.up_events.append((now, new - state.replicas))
            state.created += [now] * (new - state.replicas)
            events.append(Event(now, state.replicas, new))
        elif new < state.replicas:
            state.down_events.append((now, state.replicas - new))
            # The newest pods go first (the ReplicaSet prefers pods not ready, then the youngest).
            state.created = sorted(state.created)[: new]
            events.append(Event(now, state.replicas, new))
        state.replicas = new
        ready = sum(1 for created in state.created if now - created >= POD_READY_SECONDS)
        timeline.append((now, state.replicas, ready))
    return timeline, events


def check(scaler: Autoscaler, curve: list[dict], timeline, events) -> list[str]:
    problems = []
    for now, replicas, ready in timeline:
        if now < REACTION_BOUND:
            continue
        held = min(ideal(scaler, curve, s) for s in range(now - REACTION_BOUND, now + 1, SYNC_SECONDS))
        if ready < held:
            problems.append(f"t={now}s: {ready} pods ready, the load has needed {held} for {REACTION_BOUND} s")
        if not scaler.min_replicas <= replicas <= scaler.max_replicas:
            problems.append(f"t={now}s: {replicas} replicas outside {scaler.min_replicas}..{scaler.max_replicas}")
    ups = [e for e in events if e.after > e.before]
    downs = [e for e in events if e.after < e.before]
    for d in downs:
        recent = [u for u in ups if 0 <= d.time - u.time < scaler.down.stabilization]
        if recent:
            problems.append(f"t={d.time}s: scaled down {d.time - recent[-1].time} s after a scale-up "
                            f"(window {scaler.down.stabilization} s)")
        if d.before - d.after > max((p.value for p in scaler.down.policies if p.type == "Pods"), default=d.before):
            problems.append(f"t={d.time}s: {d.before - d.after} pods taken away at once")
        later = [u for u in ups if 0 < u.time - d.time < NO_REVERSAL_SECONDS]
        if later:
            problems.append(f"t={d.time}s: scaled down, then up again {later[0].time - d.time} s later (flapping)")
    for a, b in zip(downs, downs[1:]):
        period = min((p.period for p in scaler.down.policies), default=0)
        if b.time - a.time < period:
            problems.append(f"t={b.time}s: scale-downs {b.time - a.time} s apart, policy period {period} s")
    if len(events) > MAX_CHANGES:
        problems.append(f"{len(events)} changes of the replica count, more than {MAX_CHANGES}")
    end, replicas, _ = timeline[-1]
    if replicas != ideal(scaler, curve, end):
        problems.append(f"at the end {replicas} replicas, the load needs {ideal(scaler, curve, end)}")
    return problems


def report(scaler: Autoscaler, curve: list[dict], timeline, events, problems) -> str:
    lines = [
        f"# Scaling simulation: {scaler.source}",
        "",
        f"min {scaler.min_replicas}, max {scaler.max_replicas}; triggers: "
        + ", ".join(f"{t.name} ({'per pod ' + format(t.target, 'g') if t.kind == 'average' else format(t.target * 100, 'g') + ' % CPU'})"
                    for t in scaler.triggers)
        + f"; scale-up window {scaler.up.stabilization} s, scale-down window {scaler.down.stabilization} s.",
        "",
        "| minute | active replies | queue | needed | replicas | ready |",
        "|---|---|---|---|---|---|",
    ]
    for now, replicas, ready in timeline:
        if now % 300 == 0:
            lines.append(f"| {now // 60} | {at(curve, now, 'active_replies'):.0f} | {at(curve, now, 'llm_queue_depth'):.0f} "
                         f"| {ideal(scaler, curve, now)} | {replicas} | {ready} |")
    lines += ["", "Changes: " + (", ".join(f"{e.time // 60}m{e.time % 60:02d}s {e.before}→{e.after}" for e in events) or "none")]
    lines += ["", "Result: " + ("every check passed" if not problems else f"{len(problems)} problem(s):")]
    lines += [f"- {p}" for p in problems[:20]]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifests")
    parser.add_argument("curve")
    parser.add_argument("--report")
    args = parser.parse_args()
    with open(args.manifests, encoding="utf-8") as f:
        manifests = [d for d in yaml.safe_load_all(f) if d]
    scaler = load_autoscaler(manifests)
    curve = load_curve(args.curve)
    timeline, events = simulate(scaler, curve)
    problems = check(scaler, curve, timeline, events)
    text = report(scaler, curve, timeline, events, problems)
    if args.report:
        with open(args.report, "w", encoding="utf-8") as f:
            f.write(text)
    print(text if problems else text.split("\n| minute")[0].strip() + f"\n{len(events)} changes: "
          + ", ".join(f"{e.time // 60}m {e.before}→{e.after}" for e in events) + "; every check passed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
