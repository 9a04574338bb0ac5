#!/usr/bin/python3
"""Scrapes a Prometheus /metrics URL and parses it with python3-prometheus-client's exposition
parser (prometheus_client.parser.text_string_to_metric_families), the one Prometheus' own tools
agree with. Prints one JSON object: {family: {"type": T, "help": H, "samples": [[name, labels,
value], ...]}}. Exit 1 with one line on stderr when the URL cannot be read or the text does not parse.

Usage: metrics-scrape.py URL   (tests/integration/test-metrics.sh)
"""
import json
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def main():
    if len(sys.argv) != 2 or sys.argv[1] in ("help", "--help"):
        print(__doc__.strip())
        return 0 if len(sys.argv) == 2 else 2
    try:
        with urllib.request.urlopen(sys.argv[1], timeout=5) as response:
            content_type = response.headers.get("Content-Type", "")
            text = response.read().decode("utf-8")
    except OSError as e:
        print(f"metrics-scrape: {sys.argv[1]}: {e}", file=sys.stderr)
        return 1
    try:
        families = {
            f.name: {"type": f.type, "help": f.documentation,
                     "samples": [[s.name, s.labels, s.value] for s in f.samples]}
            for f in text_string_to_metric_families(text)
        }
    except ValueError as e:
        print(f"metrics-scrape: the exposition does not parse: {e}", file=sys.stderr)
        return 1
    print(json.dumps({"content_type": content_type, "families": families}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
