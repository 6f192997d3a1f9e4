#!/usr/bin/env python3
"""Turns every PromQL query of a Grafana dashboard into a Prometheus rules file, so that
`promtool check rules` parses them: a query that does not parse fails CI instead of showing an
empty panel. Grafana's variables are replaced by values of the right kind first ($__rate_interval
by a duration, $job and $instance by label values).

Usage: python3 scripts/dashboard_promql.py DASHBOARD.json > OUT.yml
(JSON is YAML, so OUT is written as JSON.)
"""
import json, sys

VARIABLES = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
    "$instance": ".*",
    "$job": "hivesched",
}


def exprs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                yield value
            else:
                yield from exprs(value)
    elif isinstance(node, list):
        for item in node:
            yield from exprs(item)


def main():
    with open(sys.argv[1]) as f:
        dashboard = json.load(f)
    rules = []
    for i, expr in enumerate(exprs(dashboard)):
        for name, value in VARIABLES.items():
            expr = expr.replace(name, value)
        if "$" in expr:
            sys.exit(f"unknown Grafana variable in: {expr}")
        rules.append({"record": f"dashboard:query_{i}", "expr": expr})
    if not rules:
        sys.exit("no queries found")
    json.dump({"groups": [{"name": "grafana-dashboard-queries", "rules": rules}]}, sys.stdout, indent=1)


main()
