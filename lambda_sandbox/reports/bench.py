"""The benchmark report: `python -m lambda_sandbox.reports.bench reports/bench.json --out reports/`.

Reads what `tox -e bench` wrote (pytest-benchmark's JSON; the measurements are in each
benchmark's extra_info, tagged by `kind`) and writes:

- bench.md: Markdown tables: each function per memory tier (warm Duration p50/p95, billed ms,
  $ per 1M on x86_64 and arm64, the share of INIT at the assumed cold-start rate, capped and
  failed tiers marked), the CPU fidelity against the memory-to-CPU rule, the architecture
  comparison (Lambda against EC2), the invoke overhead against the AWS RIE, and tokens/s per
  memory tier for generative functions (the AWS llama.cpp post's Table 1);
- bench-*.png: the charts (duration, cold start and cost against memory per function; the
  fidelity ratios against the rule; $ per 1M by architecture), linked from bench.md;
- bench.html: the same tables and charts in one self-contained page (PNGs as base64).

matplotlib is imported only when charts are drawn (Agg backend, no display needed).
"""

from __future__ import annotations

import argparse
import html
import sys
from collections.abc import Sequence
from pathlib import Path

from lambda_sandbox.reports.bench_charts import draw_charts
from lambda_sandbox.reports.bench_data import Bench, load
from lambda_sandbox.reports.bench_tables import architecture_notes, build_tables, tier_notes
from lambda_sandbox.reports.tables import Table, html_page, img_tag

__all__ = ["build_tables", "main", "render_html", "render_markdown", "write_report"]


# the documents ---------------------------------------------------------------------------------
SECTIONS = [
    ("summary", "Summary"),
    ("tiers", "Functions across memory tiers"),
    ("fidelity", "Fidelity: CPU share against Lambda's memory-to-CPU rule"),
    ("architecture", "Architecture comparison: $ per 1M inferences"),
    ("overhead", "Invoke overhead against the AWS RIE"),
    ("tokens", "Tokens per second across memory tiers"),
    ("scaling", "Image generation: time against pixels x steps"),
    ("snapstart", "SnapStart: restore against INIT"),
]


def _section_notes(bench: Bench, key: str) -> list[str]:
    if key == "tiers":
        return tier_notes(bench)
    if key == "architecture":
        return architecture_notes()
    return []


def _heading(bench: Bench) -> list[str]:
    cpu = bench.machine.get("cpu", {})
    host = ", ".join(
        str(v)
        for v in (
            cpu.get("brand_raw"),
            f"{bench.host_cpus} CPUs" if bench.host_cpus else None,
            bench.machine.get("python_implementation", "")
            + " "
            + str(bench.machine.get("python_version", "")),
        )
        if v and str(v).strip()
    )
    commit = bench.commit.get("id")
    lines = [f"Run {bench.when or '?'} on {host or 'an unknown host'}."]
    if commit:
        dirty = " (with uncommitted changes)" if bench.commit.get("dirty") else ""
        lines.append(f"Commit {str(commit)[:10]}{dirty}.")
    return lines


def render_markdown(bench: Bench, tables: dict[str, list[Table]], charts: Sequence[str]) -> str:
    out = ["# Benchmarks: lambda-sandbox", "", *_heading(bench), ""]
    for key, title in SECTIONS:
        if not tables.get(key):
            continue
        if key != "summary":
            out += [f"## {title}", ""]
        notes = _section_notes(bench, key)
        if notes:
            out += [f"- {n}" for n in notes] + [""]
        for table in tables[key]:
            out.append(table.markdown(level=2 if key == "summary" else 3))
            if table.chart in charts:
                out += [f"![{table.chart}](bench-{table.chart}.png)", ""]
        if key == "architecture" and "arch" in charts:
            out += ["![arch](bench-arch.png)", ""]
    return "\n".join(out).rstrip() + "\n"


CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1500px; }
table { border-collapse: collapse; margin: 0.5em 0 0.3em; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 3px 9px; text-align: right; }
td:first-child, th:first-child { text-align: left; }
td:last-child { text-align: left; }
th { background: #f3f3f3; }
tr.capped { background: #fdf3d8; }
tr.failed { background: #f8d7d3; }
tr.estimated td { color: #444; font-style: italic; }
ul.notes { font-size: 0.88em; color: #444; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
"""


def render_html(bench: Bench, tables: dict[str, list[Table]], charts: dict[str, bytes]) -> str:
    esc = html.escape
    parts = [
        "<h1>Benchmarks: lambda-sandbox</h1>",
        *(f"<p>{esc(line)}</p>" for line in _heading(bench)),
    ]
    for key, title in SECTIONS:
        if not tables.get(key):
            continue
        if key != "summary":
            parts.append(f"<h2>{esc(title)}</h2>")
        notes = _section_notes(bench, key)
        if notes:
            parts.append(
                "<ul class='notes'>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>"
            )
        for table in tables[key]:
            parts.append(table.html(level=2 if key == "summary" else 3))
            if table.chart in charts:
                parts.append(img_tag(table.chart, charts[table.chart]))
        if key == "architecture" and "arch" in charts:
            parts.append(img_tag("arch", charts["arch"]))
    return html_page("Benchmarks: lambda-sandbox", "\n".join(parts), CSS)


def write_report(json_path: str | Path, out_dir: str | Path) -> dict[str, Path]:
    """Write bench.md, bench.html and bench-*.png into `out_dir`; returns their paths."""
    bench = load(json_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = build_tables(bench)
    charts = draw_charts(bench)
    paths: dict[str, Path] = {}
    for name, png in charts.items():
        paths[name] = out / f"bench-{name}.png"
        paths[name].write_bytes(png)
    paths["md"] = out / "bench.md"
    paths["md"].write_text(render_markdown(bench, tables, list(charts)), encoding="utf-8")
    paths["html"] = out / "bench.html"
    paths["html"].write_text(render_html(bench, tables, charts), encoding="utf-8")
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lambda_sandbox.reports.bench",
        description="Turn the benchmark JSON of `tox -e bench` into bench.md and bench.html.",
    )
    parser.add_argument("json", type=Path, help="pytest-benchmark JSON (reports/bench.json)")
    parser.add_argument("--out", type=Path, default=Path("reports"), help="output folder")
    args = parser.parse_args(argv)
    if not args.json.exists():
        print(f"no benchmark results at {args.json}: run `tox -e bench` first", file=sys.stderr)
        return 2
    paths = write_report(args.json, args.out)
    for path in paths.values():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
