"""Limits, definitions, cost and log formats: the pure modules."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambda_sandbox.config import discover_functions, load_function, load_sam_template
from lambda_sandbox.cost import billed_ms, cost_per_million, ec2_cost_per_million, monthly_bill
from lambda_sandbox.exceptions import ConfigError
from lambda_sandbox.limits import load_limits
from lambda_sandbox.log_lines import Report, init_report_line, start_line
from lambda_sandbox.service.logs import tail_base64

LIMITS = load_limits()


def test_cpu_share_follows_lambdas_rule() -> None:
    assert LIMITS.vcpus_for(1769) == pytest.approx(1.0)
    assert LIMITS.vcpus_for(512) == pytest.approx(512 / 1769)
    assert LIMITS.vcpus_for(10240) == pytest.approx(10240 / 1769)
    assert LIMITS.host_capped_vcpus(10240, host_cpus=2) == (2.0, True)
    assert LIMITS.host_capped_vcpus(1024, host_cpus=2) == (pytest.approx(1024 / 1769), False)


def test_billed_duration_includes_init_since_2025() -> None:
    assert billed_ms(2.75, 113.51, limits=LIMITS) == 117  # DESIGN.md's example
    assert billed_ms(250.06, 100.77, limits=LIMITS) == 351  # the AWS blog's example
    assert billed_ms(0.4, limits=LIMITS) == 1


def test_every_limits_table_names_a_source() -> None:
    for table in LIMITS.quotas.values():
        assert table["source"].startswith("https://") and table["checked"]
    assert LIMITS.prices["lambda"]["source"].startswith("https://")


def test_cost_matches_the_seed_report() -> None:
    # MobileNetV2 at 1,024 MB, 631 ms: the midterm report computed about $10.70 per 1M
    assert cost_per_million(631, 1024) == pytest.approx(10.72, abs=0.01)
    assert cost_per_million(631, 1024, arch="arm64") < cost_per_million(631, 1024)
    assert cost_per_million(100, 1024, gateway="http") == pytest.approx(
        cost_per_million(100, 1024) + 1.0
    )
    assert ec2_cost_per_million("t3.medium", 1.0) == pytest.approx(0.0416 / 3600 * 1e6)


def test_the_seed_004_snapstart_bills() -> None:
    """AWS's post (shared/seeds/004): 30,000 and 300,000 ten-second inferences a month at
    10 GB with SnapStart, 5% and 1% cold starts: $91.1 and $543.24. Its line items, worked
    out: compute $50.00 / $500.00 (the post writes $50.01 with $0.00001667, and $500.01 for
    what its own formula makes $500.10), requests $0.006 / $0.06, cache $39.00 (written
    $38.99), restore $2.10 / $4.19 (written $2.09 / $4.18: cut, not rounded)."""
    low = monthly_bill(30_000, 10_000, 10_240, cold_start_rate=0.05, snapstart=True)
    assert low.compute == pytest.approx(50.00, abs=0.005)
    assert low.requests == pytest.approx(0.006)
    assert low.snapstart_cache == pytest.approx(38.99, abs=0.01)
    assert low.snapstart_restore == pytest.approx(2.09, abs=0.01)
    assert round(low.total, 1) == 91.1
    high = monthly_bill(300_000, 10_000, 10_240, cold_start_rate=0.01, snapstart=True)
    assert high.snapstart_restore == pytest.approx(4.18, abs=0.015)
    assert high.total == pytest.approx(543.24, abs=0.02)
    plain = monthly_bill(300_000, 10_000, 10_240, cold_start_rate=0.01)
    assert plain.snapstart_cache == plain.snapstart_restore == 0.0
    assert plain.total == pytest.approx(high.compute + high.requests)


def test_provisioned_concurrency_bill() -> None:
    """Lambda's pricing page, Provisioned Concurrency example 1 (us-east-1): 1,024 MB, 1,000
    environments for 2 hours, 1.2M invocations of 1 s: concurrency 7.2M GB-s x $0.0000041667 =
    $30.00, duration 1.2M GB-s x $0.0000097222 = $11.67, requests $0.24, total $41.91."""
    bill = monthly_bill(1_200_000, 1000, 1024, provisioned=1000, provisioned_s=7200)
    assert bill.provisioned == pytest.approx(30.00, abs=0.005)
    assert bill.compute == pytest.approx(11.67, abs=0.005)
    assert bill.requests == pytest.approx(0.24)
    assert bill.total == pytest.approx(41.91, abs=0.01)
    # a period is billed in whole 5 minutes; spill-over pays the on-demand rate
    assert monthly_bill(0, 0, 1024, provisioned=1, provisioned_s=301).provisioned == (
        pytest.approx(600 * 0.0000041667)
    )
    spilled = monthly_bill(100, 1000, 1024, provisioned=1, provisioned_s=300, spillover_rate=1)
    assert spilled.compute == pytest.approx(100 * 0.0000166667)


def write(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "src").mkdir(exist_ok=True)
    (folder / "function.yaml").write_text(text)
    return folder


def test_definition_defaults_and_values(tmp_path: Path) -> None:
    fn = load_function(
        write(
            tmp_path / "f",
            "Handler: app.handler\nMemorySize: 1769\n"
            "EphemeralStorage: {Size: 2048}\nReservedConcurrentExecutions: 2\n"
            "Environment: {Variables: {A: 1}}\n",
        )
    )
    assert (fn.name, fn.memory_mb, fn.timeout_s, fn.ephemeral_mb) == ("f", 1769, 3.0, 2048)
    assert fn.reserved_concurrency == 2 and fn.environment == {"A": "1"}
    assert fn.code_dir == (tmp_path / "f" / "src").resolve()


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        (
            "Handler: app.handler\nMemorySize: 64\n",
            "MemorySize: 64 is not valid; allowed: an integer from 128 to 10240",
        ),
        (
            "Handler: app.handler\nTimeout: 901\n",
            "Timeout: 901 is not valid; allowed: an integer from 1 to 900",
        ),
        (
            "Handler: app.handler\nEphemeralStorage: {Size: 100}\n",
            "EphemeralStorage.Size: 100 is not valid; allowed: an integer from 512 to 10240",
        ),
        # any handler SAM accepts (app.handler, run.sh for an exec wrapper), but not none
        ("Handler: '  '\n", "Handler: '  ' is not valid"),
        ("Handler: app.handler\nArchitectures: [sparc]\n", "Architectures: ['sparc'] is not valid"),
        ("Handler: app.handler\nMemorySiz: 128\n", "MemorySiz: not a property of a function.yaml"),
        ("MemorySize: 128\n", "Handler: None is not valid"),
        # what Lambda's SnapStart page says it refuses (snapstart.html)
        (
            "Handler: app.handler\nRuntime: python3.11\nSnapStart: {ApplyOn: PublishedVersions}\n",
            "SnapStart: python3.11 is not supported for SnapStart enabled functions.",
        ),
        (
            "Handler: app.handler\nRuntime: python3.12\nSnapStart: {ApplyOn: PublishedVersions}\n"
            "EphemeralStorage: {Size: 1024}\n",
            "more than 512 MB of ephemeral storage (this one has 1024 MB)",
        ),
        (
            "Handler: app.handler\nRuntime: python3.12\nSnapStart: {ApplyOn: PublishedVersions}\n"
            "AutoPublishAlias: live\n"
            "ProvisionedConcurrencyConfig: {ProvisionedConcurrentExecutions: 1}\n",
            "Provisioned concurrency is not supported for function versions with SnapStart",
        ),
    ],
)
def test_validation_names_file_key_value_and_range(
    tmp_path: Path, yaml_text: str, expected: str
) -> None:
    folder = write(tmp_path / "bad", yaml_text)
    with pytest.raises(ConfigError) as info:
        load_function(folder)
    assert str(folder / "function.yaml") in str(info.value)
    assert expected in str(info.value)


def test_sam_template_functions_are_read_with_globals(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\n"
        "Globals:\n  Function:\n    Timeout: 30\n    MemorySize: 1024\n"
        "Resources:\n  Classify:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        "      Handler: app.handler\n      CodeUri: src\n      Runtime: python3.12\n"
        "      Environment:\n        Variables:\n          BUCKET: !Ref Bucket\n"
        "  Bucket:\n    Type: AWS::S3::Bucket\n"
    )
    [fn] = load_sam_template(tmp_path / "template.yaml")
    assert (fn.name, fn.memory_mb, fn.timeout_s, fn.runtime) == (
        "Classify",
        1024,
        30.0,
        "python3.12",
    )
    assert [f.name for f in discover_functions(tmp_path)] == ["Classify"]


def test_repository_functions_are_valid() -> None:
    names = [f.name for f in discover_functions(Path(__file__).parents[2] / "functions")]
    assert "hello" in names


def test_log_lines_match_lambdas_format() -> None:
    rid = "8f5a1c3e-0000-4000-8000-000000000001"
    assert start_line(rid) == f"START RequestId: {rid} Version: $LATEST"
    report = Report(rid, 2.75, 117, 128, 38, init_ms=113.51)
    assert report.line() == (
        f"REPORT RequestId: {rid}\tDuration: 2.75 ms\tBilled Duration: 117 ms\t"
        "Memory Size: 128 MB\tMax Memory Used: 38 MB\tInit Duration: 113.51 ms\t"
    )
    report = Report(rid, 1000.5, 1001, 128, 31, status="timeout")
    assert report.line().endswith("Max Memory Used: 31 MB\tStatus: timeout")
    assert init_report_line(10000, "init", "timeout", None) == (
        "INIT_REPORT Init Duration: 10000.00 ms\tPhase: init\tStatus: timeout"
    )
    import base64

    tail = base64.b64decode(tail_base64(["x" * 5000, "REPORT end"], LIMITS.q("logs", "tail_bytes")))
    assert len(tail) == 4096 and tail.endswith(b"REPORT end\n")


def test_cost_of_the_mobilenet_report_by_hand() -> None:
    """The midterm report: 1,024 MB, 630.82 ms average, x86, $0.0000166667 per GB-s and
    $0.20 per 1M requests: 1 GB x 0.63082 s x 0.0000166667 x 1e6 + 0.20 = $10.7137 per 1M
    (the report rounded to $10.70). Each single invoke is billed rounded up to 1 ms."""
    per_million = cost_per_million(630.82, 1024)
    assert per_million == pytest.approx(0.63082 * 0.0000166667 * 1e6 + 0.20, abs=1e-9)
    assert f"{per_million:.2f}" == "10.71"
    assert billed_ms(630.82, limits=LIMITS) == 631
    assert billed_ms(630.01, limits=LIMITS) == 631 and billed_ms(631.0, limits=LIMITS) == 631
    assert f"{cost_per_million(billed_ms(630.82, limits=LIMITS), 1024):.2f}" == "10.72"
