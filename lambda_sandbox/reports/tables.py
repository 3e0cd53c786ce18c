"""One table, three renderings: Markdown, HTML (row classes: best, capped, failed) and rich."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CSS", "Table", "html_page", "img_tag"]


@dataclass
class Table:
    """A table for both outputs: Markdown and HTML (row classes: capped, failed, best)."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    classes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    chart: str | None = None  # the name of the chart drawn for it, if any

    def markdown(self, level: int = 3) -> str:
        lines = [f"{'#' * level} {self.title}", ""]
        lines.append("| " + " | ".join(self.headers) + " |")
        lines.append("|" + "|".join("---" for _ in self.headers) + "|")
        for row in self.rows:
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
        if self.notes:
            lines.append("")
            lines.extend(f"- {note}" for note in self.notes)
        return "\n".join(lines) + "\n"

    def html(self, level: int = 3) -> str:
        esc = html.escape
        head = "".join(f"<th>{esc(h)}</th>" for h in self.headers)
        body = []
        for i, row in enumerate(self.rows):
            cls = self.classes[i] if i < len(self.classes) else ""
            cells = "".join(f"<td>{esc(c)}</td>" for c in row)
            body.append(f'<tr class="{cls}">{cells}</tr>' if cls else f"<tr>{cells}</tr>")
        notes = "".join(f"<li>{esc(n)}</li>" for n in self.notes)
        return (
            f"<h{level}>{esc(self.title)}</h{level}>\n<table><thead><tr>{head}</tr></thead>"
            f"<tbody>\n{chr(10).join(body)}\n</tbody></table>\n"
            + (f"<ul class='notes'>{notes}</ul>\n" if notes else "")
        )

    def rich(self) -> Any:
        """A rich table (for a terminal); the row classes become styles."""
        from rich.table import Table as RichTable

        styles = {"best": "bold green", "failed": "red", "capped": "yellow"}
        table = RichTable(title=self.title, title_justify="left")
        for header in self.headers:
            table.add_column(header, overflow="fold")
        for i, row in enumerate(self.rows):
            cls = self.classes[i] if i < len(self.classes) else ""
            table.add_row(*row, style=styles.get(cls))
        if self.notes:
            table.caption = "\n".join(self.notes)
        return table


CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1200px; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
th { background: #f3f3f3; }
td:first-child, th:first-child { text-align: left; }
tr.best { background: #dff3e0; font-weight: bold; }
tr.capped { background: #fdf3d8; }
tr.failed { background: #f8d7d3; }
img { max-width: 100%; }
ul.notes { color: #555; }
"""


def html_page(title: str, body: str, css: str = CSS) -> str:
    """A self-contained HTML page (charts inline as base64 PNGs)."""
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>\n<style>{css}</style></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )


def img_tag(name: str, png: bytes) -> str:
    """A PNG inline in a page, as base64."""
    data = base64.b64encode(png).decode()
    return f'<img alt="{html.escape(name)}" src="data:image/png;base64,{data}">'
