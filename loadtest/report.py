"""Print the load test's figures as a Markdown table (scripts/loadtest.sh calls it at the end).

    python loadtest/report.py OUT_DIR [SCENARIO …]

Reads, per scenario, OUT_DIR/<scenario>_summary.json, written by the locustfile when locust stops (requests,
failures, requests/s and percentiles per request name and in total, HTTP statuses, registration outcomes; locust's
<scenario>_stats.csv is the fallback), <scenario>_load.txt (the machine's load average) and, for the bursts,
<scenario>_check.txt (`manage.py loadtest_prepare --check`).
"""

import csv
import json
import sys
from pathlib import Path

LABELS = {
    "burst": "Registration burst, 1 instance",
    "two": "Registration burst, 2 instances",
    "browse-demo": "Browsing mix, demo data",
    "browse-bench": "Browsing mix, bench data (50,000 sessions)",
}


def emit(line: str = "") -> None:
    sys.stdout.write(line + "\n")


def _stats(out: Path, scenario: str) -> list[dict]:
    path = out / f"{scenario}_stats.csv"
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _ms(row: dict, column: str) -> str:
    value = row.get(column)
    return "N/A" if value in (None, "", "N/A") else f"{float(value):.0f}"


def _server_errors(summary: dict) -> int:
    return sum(count for codes in summary.get("statuses", {}).values() for code, count in codes.items()
               if code.startswith("5"))


def _unloaded_p50(out: Path, scenario: str) -> float | None:
    """The p50 of all answers of the burst's unloaded baseline (<scenario>-unloaded: 60 residents, two a second)."""
    path = out / f"{scenario}-unloaded_summary.json"
    if not path.exists():
        return None
    stats = json.loads(path.read_text(encoding="utf-8")).get("stats") or []
    total = next((row for row in stats if row["name"] == "Aggregated"), None)
    return float(total["p50"]) if total and total.get("p50") else None


def _check(out: Path, scenario: str) -> str:
    check = out / f"{scenario}_check.txt"
    if not check.exists():
        return "—"
    lines = check.read_text(encoding="utf-8").splitlines()
    total = next((line for line in lines if line.startswith("total:")), "")
    verdict = "OK" if any(line.startswith("INTEGRITY OK") for line in lines) else "OVERBOOKED/DUPLICATES"
    incomplete = next((line.split(": ", 1)[1] for line in lines if line.startswith("INCOMPLETE")), "")
    seated = total.split("seated ")[1].split(",")[0] if "seated " in total else "?"
    per_session = sorted({line.split("seated ")[1].split(",")[0] for line in lines if line.startswith("session ")})
    dups = total.split("duplicate registrations ")[1].split(",")[0] if "duplicate registrations" in total else "?"
    text = f"{verdict}: {seated} confirmed ({'/'.join(per_session)} per session), {dups} duplicates"
    return text + (f"; INCOMPLETE: {incomplete}" if incomplete else "; all residents registered")


def main(out: Path, scenarios: list[str]) -> None:
    emit("| scenario | users | requests | failures | 5xx | req/s | p50 / p95 / p99 ms | database check |")
    emit("|---|---|---|---|---|---|---|---|")
    details = []
    for scenario in scenarios:
        if scenario == "ratios":  # not a locust run: loadtest/ratios.py printed its own table (ratios.txt)
            ratios = out / "ratios.txt"
            details.append("  ratios: " + (ratios.read_text(encoding="utf-8").strip() if ratios.exists() else
                                            "no results").replace("\n", "\n  ratios: "))
            continue
        rows = _stats(out, scenario)
        summary_path = out / f"{scenario}_summary.json"
        summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.exists() else {}
        if summary.get("stats"):  # the locustfile's own final figures (complete, unlike the last CSV write)
            rows = [{"Type": r["method"], "Name": r["name"], "Request Count": r["requests"],
                     "Failure Count": r["failures"], "Requests/s": r["rps"],
                     **{f"{p}%": r[f"p{p}"] for p in (50, 95, 99)}} for r in summary["stats"]]
        total = next((r for r in rows if r["Name"] == "Aggregated"), None)
        if total is None:
            emit(f"| {LABELS.get(scenario, scenario)} | — | no results | | | | | |")
            continue
        emit(f"| {LABELS.get(scenario, scenario)} | {summary.get('users') or '?'} | {total['Request Count']} | "
              f"{total['Failure Count']} | {_server_errors(summary)} | {float(total['Requests/s']):.1f} | "
              f"{_ms(total, '50%')} / {_ms(total, '95%')} / {_ms(total, '99%')} | {_check(out, scenario)} |")
        for row in rows:
            if row["Name"] != "Aggregated":
                details.append(f"  {scenario:13} {row['Type']:4} {row['Name']:32} n={row['Request Count']:>5} "
                               f"fail={row['Failure Count']:>3} p50={_ms(row, '50%'):>5} p95={_ms(row, '95%'):>5} "
                               f"p99={_ms(row, '99%'):>5} ms")
        load = out / f"{scenario}_load.txt"
        if load.exists():
            averages = [line.split("load average:")[-1].strip() for line in load.read_text().splitlines()]
            details.append(f"  {scenario:13} machine load average (1, 5, 15 min) before / after: "
                           + " / ".join(averages))
        unloaded = _unloaded_p50(out, scenario)
        if unloaded and total.get("95%") not in (None, "", "N/A"):
            details.append(f"  {scenario:13} p95 of all answers ÷ unloaded p50: {float(total['95%']):.0f} ÷ "
                           f"{unloaded:.0f} ms = {float(total['95%']) / unloaded:.1f}× (goal ≤ 10×)")
            spread = summary.get("arrival_spread")
            if spread is not None:
                details.append(f"  {scenario:13} arrivals: " + (
                    f"each second's residents at random moments of {spread:g} s (loadtest/arrivals.py)" if spread
                    else "each second's residents at the same instant (locust's clumps)"))
        if summary.get("outcomes"):
            details.append(f"  {scenario:13} outcomes: {json.dumps(summary['outcomes'], ensure_ascii=False)}")
        if summary.get("statuses"):
            details.append(f"  {scenario:13} HTTP statuses: {json.dumps(summary['statuses'], ensure_ascii=False)}")
    emit()
    emit("Per request:")
    emit("\n".join(details))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:] or ["burst", "two", "browse-demo", "browse-bench"])
