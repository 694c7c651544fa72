"""Per-operation response statuses of a schemathesis run, from its NDJSON report.

    python3 tests/schemathesis/summary.py target/schemathesis/sqlite.ndjson

Schemathesis' own summary says which checks failed; this table says what the run actually
reached: how many requests each operation got and which statuses came back (an operation that
never answered 2xx was only tested on its error paths). Informational; never fails.
"""

from __future__ import annotations

import collections
import json
import sys


def main(path: str) -> None:
    statuses: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    with open(path, encoding="utf-8") as events:
        for line in events:
            event = json.loads(line)
            finished = event.get("ScenarioFinished")
            if not finished:
                continue
            recorder = finished["recorder"]
            label = recorder["label"]
            for interaction in recorder.get("interactions", {}).values():
                response = interaction.get("response")
                if response is not None:
                    statuses[label][response["status_code"]] += 1
                else:
                    statuses[label]["network-error"] += 1

    def sort_key(label: str):
        method, _, path = label.partition(" ")
        return (path, method)

    width = max((len(label) for label in statuses), default=10)
    print(f"{'operation':<{width}}  {'requests':>8}  statuses")
    without_success = []
    for label in sorted(statuses, key=sort_key):
        counts = statuses[label]
        total = sum(counts.values())
        text = " ".join(f"{code}x{n}" for code, n in sorted(counts.items(), key=lambda kv: str(kv[0])))
        print(f"{label:<{width}}  {total:>8}  {text}")
        if not any(isinstance(code, int) and 200 <= code < 300 for code in counts):
            without_success.append(label)
    print(f"{len(statuses)} operations, {sum(sum(c.values()) for c in statuses.values())} requests")
    if without_success:
        print("never answered 2xx: " + ", ".join(sorted(without_success, key=sort_key)))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: summary.py <schemathesis NDJSON report>")
    main(sys.argv[1])
