"""The sentiment function end to end: build targets, handler events, errors, run-time imports."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from emotion.classifier import EmotionClassifier

pytestmark = pytest.mark.slow

LABELS = ["happy", "angry", "sad", "other"]
# Sentences that are not in data/ and that any working model gets right.
OBVIOUS = [
    ("I love this so much, it's the best day of my life!", "happy"),
    ("This is outrageous, I demand a refund right now!", "angry"),
    ("My grandmother passed away and I miss her terribly.", "sad"),
    ("The train to Boston departs at 10:15 from platform 2.", "other"),
]


def check_prediction(prediction: dict[str, Any]) -> str:
    """A single result has a label and a probability per class; the label is the argmax."""
    assert set(prediction) == {"label", "scores"}
    scores = prediction["scores"]
    assert list(scores) == LABELS
    assert all(0.0 <= p <= 1.0 for p in scores.values())
    assert sum(scores.values()) == pytest.approx(1.0, abs=1e-3)
    assert prediction["label"] == max(scores, key=scores.__getitem__)
    return prediction["label"]


def http_result(response: dict[str, Any], status: int = 200) -> dict[str, Any]:
    assert response["statusCode"] == status
    assert response["headers"] == {"content-type": "application/json"}
    assert isinstance(response["body"], str)
    return json.loads(response["body"])


# --------------------------------------------------------------------------- build targets


def test_build_meets_size_and_accuracy_targets(model_dir: Path, metrics: dict[str, Any]) -> None:
    fp32 = (model_dir / "model.fp32.onnx").stat().st_size
    int8 = (model_dir / "model.int8.onnx").stat().st_size
    assert (metrics["fp32_bytes"], metrics["int8_bytes"]) == (fp32, int8)
    assert fp32 / int8 >= 3.5
    assert metrics["int8_accuracy"] >= 0.85
    assert metrics["fp32_accuracy"] - metrics["int8_accuracy"] <= 0.03
    assert json.loads((model_dir / "labels.json").read_text()) == LABELS
    assert json.loads((model_dir / "tokenizer.json").read_text())["padding"] is None


def test_accuracy_recomputed_through_the_handler(
    app: ModuleType, model_dir: Path, test_rows: list[tuple[str, str]]
) -> None:
    texts = [text for text, _ in test_rows]
    predicted: list[str] = []
    for start in range(0, len(texts), app.MAX_BATCH):
        out = app.handler({"texts": texts[start : start + app.MAX_BATCH]}, None)
        predicted.extend(check_prediction(r) for r in out["results"])
    int8_acc = sum(p == y for p, (_, y) in zip(predicted, test_rows, strict=True)) / len(texts)

    fp32 = EmotionClassifier.from_dir(model_dir, model_file="model.fp32.onnx")
    fp32_pred = [r["label"] for r in fp32.classify(texts)]
    fp32_acc = sum(p == y for p, (_, y) in zip(fp32_pred, test_rows, strict=True)) / len(texts)

    assert int8_acc >= 0.85
    assert fp32_acc - int8_acc <= 0.03


# --------------------------------------------------------------------------- events


def test_direct_event(app: ModuleType, sample_event: Callable[[str], dict[str, Any]]) -> None:
    assert check_prediction(app.handler(sample_event("direct.json"), None)) == "happy"


@pytest.mark.parametrize(("text", "label"), OBVIOUS)
def test_obvious_sentences(app: ModuleType, text: str, label: str) -> None:
    assert check_prediction(app.handler({"text": text}, None)) == label


def test_batch_matches_single_requests(app: ModuleType) -> None:
    texts = [text for text, _ in OBVIOUS]
    batch = app.handler({"texts": texts}, None)
    assert set(batch) == {"results"}
    singles = [app.handler({"text": t}, None) for t in texts]
    assert [r["label"] for r in batch["results"]] == [label for _, label in OBVIOUS]
    # Dynamic quantization picks one activation scale per tensor, i.e. per batch: scores in a
    # batch differ slightly from the same text alone (seen: up to 0.003), labels do not.
    for got, single in zip(batch["results"], singles, strict=True):
        assert got["label"] == single["label"]
        assert got["scores"] == pytest.approx(single["scores"], abs=0.02)


def test_api_gateway_rest_event(
    app: ModuleType, sample_event: Callable[[str], dict[str, Any]]
) -> None:
    assert check_prediction(http_result(app.handler(sample_event("apigw-rest.json"), None))) == (
        "angry"
    )


def test_http_api_event(app: ModuleType, sample_event: Callable[[str], dict[str, Any]]) -> None:
    assert check_prediction(http_result(app.handler(sample_event("http-api.json"), None))) == "sad"


def test_function_url_event_with_a_batch(
    app: ModuleType, sample_event: Callable[[str], dict[str, Any]]
) -> None:
    body = http_result(app.handler(sample_event("function-url.json"), None))
    assert [check_prediction(r) for r in body["results"]] == ["other", "happy"]


@pytest.mark.parametrize("name", ["apigw-rest.json", "http-api.json", "function-url.json"])
def test_base64_body_gives_the_same_answer(
    app: ModuleType, sample_event: Callable[[str], dict[str, Any]], name: str
) -> None:
    event = sample_event(name)
    plain = http_result(app.handler(event, None))
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True
    assert http_result(app.handler(event, None)) == plain


def test_long_text_is_truncated_to_128_tokens(app: ModuleType) -> None:
    text = "We won the championship and I could not be happier. " * 40
    assert len(text) <= app.MAX_TEXT_CHARS
    assert len(app.CLASSIFIER.tokenizer.encode(text).ids) == 128
    assert check_prediction(app.handler({"text": text}, None)) == "happy"


def test_short_text_is_not_padded(app: ModuleType) -> None:
    batch = app.CLASSIFIER.encode(["Fine."])
    assert batch["input_ids"].shape == (1, 4)  # [CLS] fine . [SEP]
    assert batch["attention_mask"].all()


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({}, "missing 'text'"),
        ({"txt": "hello"}, "missing 'text'"),
        ({"text": 42}, "'text' must be a string, got int"),
        ({"text": None}, "'text' must be a string, got NoneType"),
        ({"text": ""}, "'text' is empty"),
        ({"text": " \n\t "}, "'text' is empty"),
        ({"text": "x" * 5001}, "5001 characters long, over the limit of 5000"),
        ({"text": "a", "texts": ["b"]}, "not both"),
        ({"texts": "hello"}, "'texts' must be a list of strings, got str"),
        ({"texts": []}, "'texts' is an empty list"),
        ({"texts": ["fine", 3]}, r"'texts'\[1\] must be a string, got int"),
        ({"texts": ["fine", ""]}, r"'texts'\[1\] is empty"),
        ({"texts": ["ok"] * 33}, "33 items, over the limit of 32"),
        ("just a string", "expected a JSON object, got str"),
        ([{"text": "hi"}], "expected a JSON object, got list"),
    ],
)
def test_bad_direct_input_raises_value_error(app: ModuleType, event: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        app.handler(event, None)


@pytest.mark.parametrize(
    ("body", "is_base64", "message"),
    [
        (None, False, "the request body is empty"),
        ("", False, "the request body is empty"),
        ("{not json", False, "the request body is not valid JSON"),
        ("%%%", True, "marked base64 but is not base64"),
        (base64.b64encode(b"\xff\xfe").decode(), True, "marked base64 but is not base64"),
        ('{"text": ""}', False, "'text' is empty"),
        ('{"text": 3.5}', False, "'text' must be a string, got float"),
        ('["a list"]', False, "expected a JSON object, got list"),
    ],
)
@pytest.mark.parametrize("name", ["apigw-rest.json", "http-api.json", "function-url.json"])
def test_bad_http_input_is_a_400(
    app: ModuleType,
    sample_event: Callable[[str], dict[str, Any]],
    name: str,
    body: str | None,
    is_base64: bool,
    message: str,
) -> None:
    event = sample_event(name)
    event["body"], event["isBase64Encoded"] = body, is_base64
    payload = http_result(app.handler(event, None), status=400)
    assert set(payload) == {"message"}
    assert message in payload["message"]


# --------------------------------------------------------------------------- run time


def test_handler_runs_without_torch_or_transformers(model_dir: Path, src_dir: Path) -> None:
    """Importing and invoking the handler pulls in neither torch, transformers nor boto3."""
    code = (
        "import json, sys\n"
        "import app\n"
        "app.handler({'text': 'What a lovely morning!'}, None)\n"
        "heavy = ('torch', 'transformers', 'boto3', 'safetensors', 'onnx')\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & set(heavy))))\n"
    )
    env = {**os.environ, "MODEL_PATH": str(model_dir), "PYTHONPATH": str(src_dir)}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=src_dir, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) == []


def test_init_downloads_the_model_from_s3(
    model_dir: Path,
    load_app: Callable[[dict[str, str]], ModuleType],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without MODEL_PATH, INIT fetches the artifacts with boto3's S3 client into the cache dir."""
    calls: list[tuple[str, str]] = []

    class FakeS3:
        def download_file(self, bucket: str, key: str, filename: str) -> None:
            calls.append((bucket, key))
            Path(filename).write_bytes((model_dir / key.rsplit("/", 1)[-1]).read_bytes())

    class FakeBoto3(types.ModuleType):
        def client(self, service: str) -> FakeS3:
            assert service == "s3"
            return FakeS3()

    monkeypatch.setitem(sys.modules, "boto3", FakeBoto3("boto3"))
    env = {
        "MODEL_BUCKET": "sandbox-models",
        "MODEL_KEY_PREFIX": "sentiment/",
        "MODEL_CACHE_DIR": str(tmp_path / "model"),
    }
    first = load_app(env)
    assert sorted(calls) == [
        ("sandbox-models", "sentiment/labels.json"),
        ("sandbox-models", "sentiment/model.int8.onnx"),
        ("sandbox-models", "sentiment/tokenizer.json"),
    ]
    assert check_prediction(first.handler({"text": OBVIOUS[2][0]}, None)) == "sad"

    calls.clear()
    load_app(env)  # a second INIT in the same sandbox reuses /tmp/model
    assert calls == []
