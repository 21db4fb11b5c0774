#!/usr/bin/env python3
"""Conventions of the monitoring files that promtool and amtool do not check (run by
scripts/check-alerting, from the repository's root):

- every alert in deploy/prometheus/rules/*.yml has a severity (page, ticket or info), a
  summary, a description and runbook_url = RUNBOOKS/<alertname>.md, and that runbook exists
  in docs/runbooks/ (and every runbook there named like an alert, in CamelCase, belongs to
  one; the operational runbooks have lowercase names: deploy.md, rollback.md, …);
- every alert is tested in deploy/prometheus/tests/*.yml both ways: firing on synthetic
  series, and silent (exp_alerts: []) on healthy ones;
- every Grafana dashboard in deploy/grafana/dashboards/ is JSON with a uid and a title, takes
  its Prometheus data source from the `datasource` variable, and every recording rule a
  query uses (a name with a colon) is defined in the rules.

Prints one line per problem and exits 1 when there is any. With `--queries-as-rules FILE` it
also writes every dashboard query (Grafana's variables replaced by plain values) as a recording
rule to FILE, for `promtool check rules` to parse.
"""
import json
import pathlib
import re
import sys

import yaml

RUNBOOKS = "https://github.com/plansmith/plansmith/blob/main/docs/runbooks/"
SEVERITIES = {"page", "ticket", "info"}
ROOT = pathlib.Path(".")
problems = []


def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def rules():
    for path in sorted(ROOT.glob("deploy/prometheus/rules/*.yml")):
        for group in load_yaml(path).get("groups", []):
            for rule in group.get("rules", []):
                yield path, rule


alerts = {}
records = set()
for path, rule in rules():
    if "record" in rule:
        records.add(rule["record"])
        continue
    name = rule["alert"]
    alerts.setdefault(name, path)
    where = f"{path}: alert {name}"
    severity = rule.get("labels", {}).get("severity")
    if severity not in SEVERITIES:
        problems.append(f"{where}: severity is {severity!r}, not one of {sorted(SEVERITIES)}")
    annotations = rule.get("annotations", {})
    for key in ("summary", "description", "runbook_url"):
        if not annotations.get(key):
            problems.append(f"{where}: no {key} annotation")
    if annotations.get("runbook_url") != f"{RUNBOOKS}{name}.md":
        problems.append(f"{where}: runbook_url should be {RUNBOOKS}{name}.md")

runbooks = {p.stem for p in ROOT.glob("docs/runbooks/*.md")}
for name in sorted(set(alerts) - runbooks):
    problems.append(f"{alerts[name]}: alert {name} has no runbook docs/runbooks/{name}.md")
# Operational runbooks (deploy, rollback, restore-from-backup, …) are named in lowercase.
alert_runbooks = {name for name in runbooks if not re.fullmatch(r"[a-z0-9-]+", name)}
for name in sorted(alert_runbooks - set(alerts) - {"README"}):
    problems.append(f"docs/runbooks/{name}.md: no alert of that name in deploy/prometheus/rules/")

fires, silent = set(), set()
for path in sorted(ROOT.glob("deploy/prometheus/tests/*.yml")):
    for test in load_yaml(path).get("tests", []):
        for case in test.get("alert_rule_test", []) or []:
            (fires if case.get("exp_alerts") else silent).add(case["alertname"])
for name in sorted(alerts):
    if name not in fires:
        problems.append(f"{alerts[name]}: alert {name} has no test where it fires")
    if name not in silent:
        problems.append(f"{alerts[name]}: alert {name} has no test where it stays silent (exp_alerts: [])")


def panels(items):
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))


queries = []
RECORDING_NAME = re.compile(r"\b[a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z0-9_:]*[a-zA-Z0-9_]")
dashboards = sorted(ROOT.glob("deploy/grafana/dashboards/*.json"))
if not dashboards:
    problems.append("deploy/grafana/dashboards/: no dashboards")
uids = {}
for path in dashboards:
    try:
        board = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        problems.append(f"{path}: not JSON: {e}")
        continue
    for key in ("uid", "title"):
        if not board.get(key):
            problems.append(f"{path}: no {key}")
    if board.get("uid") in uids:
        problems.append(f"{path}: uid {board['uid']} is also {uids[board['uid']]}'s")
    uids[board.get("uid")] = path
    variables = {v.get("name"): v for v in board.get("templating", {}).get("list", [])}
    if variables.get("datasource", {}).get("type") != "datasource":
        problems.append(f"{path}: no `datasource` variable of type datasource")
    for panel in panels(board.get("panels", [])):
        if panel.get("type") == "row":
            continue
        title = panel.get("title", "?")
        if panel.get("datasource", {}).get("uid") != "${datasource}":
            problems.append(f"{path}: panel {title!r}: datasource uid is not ${{datasource}}")
        targets = panel.get("targets", [])
        if panel.get("type") != "text" and not targets:
            problems.append(f"{path}: panel {title!r}: no queries")
        for target in targets:
            expr = target.get("expr", "")
            if not expr:
                problems.append(f"{path}: panel {title!r}: a target without expr")
                continue
            queries.append((f"{path.name}: {title}", expr))
            # Range selectors like [5m:1m] and label values hold colons too.
            stripped = re.sub(r'"[^"]*"|\[[^\]]*\]', "", expr)
            for name in RECORDING_NAME.findall(stripped):
                if name not in records:
                    problems.append(f"{path}: panel {title!r}: {name} is not a recording rule in deploy/prometheus/rules/")

if len(sys.argv) == 3 and sys.argv[1] == "--queries-as-rules":
    plain = {"$__rate_interval": "5m", "$instance": ".*", "$provider": ".*", "$workflow": ".*"}

    def substitute(expr):
        for variable, value in plain.items():
            expr = expr.replace(variable, value)
        return expr

    rules = [{"record": f"dashboard:query_{i}:check", "expr": substitute(expr), "labels": {"panel": where}}
             for i, (where, expr) in enumerate(queries)]
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}, f, sort_keys=False)
    leftover = [r["expr"] for r in rules if "$" in r["expr"]]
    for expr in leftover:
        problems.append(f"a dashboard query uses a variable this check does not know: {expr}")

for problem in problems:
    print(problem)
sys.exit(1 if problems else 0)
