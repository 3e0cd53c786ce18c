"""The README's table of Lambda API operations is generated from the code and botocore's Lambda
model, so it cannot drift: every operation boto3 knows, and whether the sandbox serves it.

Regenerate it with `python -m tests.unit.test_operations_table` after adding an operation.
"""

from __future__ import annotations

import re
from pathlib import Path

import botocore.session

from lambda_sandbox.faces.lambda_api import OPERATIONS

README = Path(__file__).parents[2] / "README.md"
BEGIN, END = "<!-- operations:begin -->", "<!-- operations:end -->"


def table() -> str:
    model = botocore.session.get_session().get_service_model("lambda")
    names = sorted(model.operation_names)
    served = [n for n in names if n in OPERATIONS]
    others = [n for n in names if n not in OPERATIONS]
    lines = [
        f"Served: {len(served)} of the {len(names)} operations in botocore's Lambda model.",
        "",
        "| operation | served |",
        "|---|---|",
        *(f"| {name} | yes |" for name in served),
        *(f"| {name} | no |" for name in others),
    ]
    return "\n".join(lines)


def readme_table() -> str:
    text = README.read_text()
    match = re.search(re.escape(BEGIN) + r"\n(.*?)\n" + re.escape(END), text, re.S)
    assert match, f"README.md has no {BEGIN} ... {END} section"
    return match.group(1)


def test_every_served_operation_is_one_boto3_knows() -> None:
    model = botocore.session.get_session().get_service_model("lambda")
    assert set(OPERATIONS) <= set(model.operation_names)


def test_the_readme_table_says_what_the_code_serves() -> None:
    """The served rows are exactly the code's; every row names an operation of the model (a
    newer botocore may know more operations than the table: those are not served either)."""
    rows = re.findall(r"^\| (\w+) \| (yes|no) \|$", readme_table(), re.M)
    served = {name for name, answer in rows if answer == "yes"}
    assert served == set(OPERATIONS), "run: python -m tests.unit.test_operations_table"
    model = botocore.session.get_session().get_service_model("lambda")
    assert {name for name, _ in rows} <= set(model.operation_names)


if __name__ == "__main__":
    text = README.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    README.write_text(text[:start] + "\n" + table() + "\n" + text[end:])
