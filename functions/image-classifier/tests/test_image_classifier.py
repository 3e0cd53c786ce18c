"""Behaviour of the image-classifier function: model quality, events, errors, bundle hygiene."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from PIL import Image

SRC_DIR = Path(__file__).resolve().parents[1] / "src"
EVENTS_DIR = SRC_DIR.parent / "events"

CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO = 967
MODELS = ("model.fp32.onnx", "model.int8.onnx")

Photo = Callable[[str], bytes]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def encode(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def http_v2(body: str, *, is_base64: bool = False, content_type: str = "application/json",
            query: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {"content-type": content_type},
        "queryStringParameters": query,
        "requestContext": {"http": {"method": "POST", "path": "/"}, "routeKey": "$default"},
        "body": body,
        "isBase64Encoded": is_base64,
    }


def assert_predictions(preds: list[dict[str, Any]], k: int) -> None:
    assert len(preds) == k
    for p in preds:
        assert set(p) == {"label", "index", "score"}
        assert isinstance(p["label"], str) and p["label"]
        assert isinstance(p["index"], int) and 0 <= p["index"] < 1000
        assert 0.0 <= p["score"] <= 1.0
    scores = [p["score"] for p in preds]
    assert scores == sorted(scores, reverse=True)
    assert sum(scores) <= 1.0 + 1e-6


# ----------------------------------------------------------------------------- model quality
@pytest.mark.slow
@pytest.mark.parametrize("model_file", MODELS)
@pytest.mark.parametrize(("name", "expected"), [("chelsea.png", CAT_CLASSES),
                                                ("coffee.png", [ESPRESSO])])  # fmt: skip
def test_top1_on_test_photos(
    load_app: Callable[[str], ModuleType], photo: Photo, model_file: str, name: str,
    expected: range | list[int],
) -> None:  # fmt: skip
    app = load_app(model_file)
    out = app.handler({"image_base64": b64(photo(name))}, None)
    assert out["model"] == model_file
    assert_predictions(out["top5"], 5)
    assert out["top5"][0]["index"] in expected, out["top5"]


@pytest.mark.slow
def test_int8_is_smaller_than_fp32(
    model_dir: Path, metrics: dict[str, Any], record_property: Callable[[str, object], None]
) -> None:
    fp32 = (model_dir / "model.fp32.onnx").stat().st_size
    int8 = (model_dir / "model.int8.onnx").stat().st_size
    ratio = int8 / fp32
    record_property("int8_over_fp32_size_ratio", ratio)
    print(f"\nmodel sizes: fp32 {fp32} B, int8 {int8} B, int8/fp32 = {ratio:.3f}")
    assert metrics["sizes_bytes"] == {"model.fp32.onnx": fp32, "model.int8.onnx": int8}
    assert metrics["int8_over_fp32_size_ratio"] == pytest.approx(ratio)
    # int8 weights are a quarter of fp32 ones; scales, zero points and graph add a little
    assert ratio < 0.5


@pytest.mark.slow
def test_metrics_report_quality_of_both_models(metrics: dict[str, Any]) -> None:
    assert metrics["export_max_abs_logit_diff"] < 1e-3  # ONNX export matches torch
    for model in ("fp32", "int8"):
        assert metrics["accuracy"][model] == {"top1": 1.0, "top5": 1.0}
    agreement = metrics["int8_fp32_top1_agreement"]
    assert 0.0 <= agreement["test_photos"] <= 1.0
    assert 0.5 <= agreement["heldout_views"] <= 1.0
    for entry in metrics["photos"].values():
        assert entry["int8_agrees"] == (
            entry["fp32"]["top1"]["index"] == entry["int8"]["top1"]["index"]
        )


@pytest.mark.slow
def test_labels_artifact_is_the_committed_class_list(model_dir: Path) -> None:
    labels = json.loads((model_dir / "labels.json").read_text())
    committed = json.loads((SRC_DIR / "imagenet_classes.json").read_text())
    assert labels == committed
    assert len(labels) == 1000 and len(set(labels)) == 1000
    assert labels[ESPRESSO] == "espresso" and labels[281] == "tabby"


@pytest.mark.slow
def test_int8_model_accepts_a_batch(app: ModuleType, photo: Photo) -> None:
    from imgcls.preprocess import preprocess_bytes

    batch = np.concatenate([preprocess_bytes(photo(n)) for n in ("chelsea.png", "coffee.png")])
    preds = app.CLASSIFIER.top_k(batch, 1)
    assert preds[0][0].index in CAT_CLASSES and preds[1][0].index == ESPRESSO


# ----------------------------------------------------------------------------- events
@pytest.mark.slow
def test_direct_sample_event(app: ModuleType, sample_event: Callable[[str], dict]) -> None:
    event = sample_event("direct.json")
    assert len(json.dumps(event)) < 60_000
    out = app.handler(event, None)
    assert_predictions(out["top5"], 5)
    assert out["top5"][0]["index"] == ESPRESSO


@pytest.mark.slow
@pytest.mark.parametrize(("name", "key", "k"), [("apigw-rest.json", "top5", 5),
                                                ("http-api.json", "top5", 5),
                                                ("function-url.json", "topk", 3)])  # fmt: skip
def test_http_sample_events(
    app: ModuleType, sample_event: Callable[[str], dict], name: str, key: str, k: int
) -> None:
    out = app.handler(sample_event(name), None)
    assert out["statusCode"] == 200
    assert out["headers"] == {"content-type": "application/json"}
    body = json.loads(out["body"])
    assert_predictions(body[key], k)
    assert body[key][0]["label"] == "espresso"


@pytest.mark.slow
def test_http_base64_json_body(app: ModuleType, photo: Photo) -> None:
    payload = json.dumps({"image_base64": b64(photo("chelsea.png")), "top_k": 2})
    out = app.handler(http_v2(b64(payload.encode()), is_base64=True), None)
    assert out["statusCode"] == 200
    preds = json.loads(out["body"])["topk"]
    assert_predictions(preds, 2)
    assert preds[0]["index"] in CAT_CLASSES


@pytest.mark.slow
@pytest.mark.parametrize("k", [1, 20])
def test_top_k(app: ModuleType, photo: Photo, k: int) -> None:
    out = app.handler({"image_base64": b64(photo("coffee.png")), "top_k": k}, None)
    assert_predictions(out["topk"], k)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["RGBA", "LA", "L", "P", "I;16"])
def test_other_image_modes(app: ModuleType, photo: Photo, mode: str) -> None:
    rgb = Image.open(io.BytesIO(photo("coffee.png"))).convert("RGB")
    if mode == "I;16":
        img = Image.fromarray(np.asarray(rgb.convert("L"), dtype=np.uint16) * 257)
    else:
        img = rgb.convert(mode)
    out = app.handler({"image_base64": b64(encode(img))}, None)
    assert_predictions(out["top5"], 5)
    if mode == "RGBA":  # fully opaque alpha must not change the answer
        reference = app.handler({"image_base64": b64(encode(rgb))}, None)
        assert out == reference


@pytest.mark.slow
def test_jpeg_with_exif_rotation(app: ModuleType, photo: Photo) -> None:
    upright = Image.open(io.BytesIO(photo("coffee.png"))).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 CW to display
    buf = io.BytesIO()
    upright.transpose(Image.Transpose.ROTATE_90).save(buf, "JPEG", quality=95, exif=exif)
    out = app.handler({"image_base64": b64(buf.getvalue())}, None)
    assert out["top5"][0]["index"] == ESPRESSO


# ----------------------------------------------------------------------------- bad input
def _not_an_image() -> str:
    return b64(b"this is plain text, not an image")


def _truncated_png() -> str:
    return b64(encode(Image.new("RGB", (300, 300), (200, 100, 50)))[:120])


def _too_many_pixels() -> str:
    return b64(encode(Image.new("1", (6000, 5000))))  # 30 MP, a few KB as PNG


BAD_INPUTS: list[tuple[str, Callable[[], Any], str]] = [
    ("missing image", lambda: {"top_k": 5}, "missing image"),
    ("not base64", lambda: {"image_base64": "%%% not base64 %%%"}, "not valid base64"),
    ("base64 not str", lambda: {"image_base64": 12345}, "must be a base64 string"),
    ("not an image", lambda: {"image_base64": _not_an_image()}, "not a decodable image"),
    ("empty image", lambda: {"image_base64": ""}, "empty"),
    ("truncated image", lambda: {"image_base64": _truncated_png()}, "corrupt or truncated"),
    ("too many pixels", lambda: {"image_base64": _too_many_pixels()}, "over the limit"),
    ("top_k too big", lambda: {"image_base64": _not_an_image(), "top_k": 21}, "top_k"),
    ("top_k not int", lambda: {"image_base64": _not_an_image(), "top_k": "5"}, "top_k"),
    ("bad s3", lambda: {"s3": {"bucket": "b"}}, '"bucket" and "key"'),
    ("not an object", lambda: ["image_base64"], "JSON object"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("case", "make", "message"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_direct_raises_value_error(
    app: ModuleType, case: str, make: Callable[[], Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as info:
        app.handler(make(), None)
    assert type(info.value) is ValueError  # Lambda reports errorType "ValueError"


@pytest.mark.slow
@pytest.mark.parametrize(("case", "make", "message"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_http_gives_400(
    app: ModuleType, case: str, make: Callable[[], Any], message: str
) -> None:
    out = app.handler(http_v2(json.dumps(make())), None)
    assert out["statusCode"] == 400
    assert out["headers"] == {"content-type": "application/json"}
    assert message in json.loads(out["body"])["message"]


@pytest.mark.slow
@pytest.mark.parametrize(("event", "message"), [
    (http_v2("{not json"), "not valid JSON"),
    (http_v2(""), "body is empty"),
    (http_v2("@@@", is_base64=True), "not valid base64"),
    (http_v2(b64(b"GIF89a-garbage"), is_base64=True, content_type="image/gif"),
     "not a decodable image"),
    (http_v2(_not_an_image(), is_base64=True, content_type="image/jpeg",
             query={"top_k": "x"}), "top_k"),
])  # fmt: skip
def test_bad_http_bodies(app: ModuleType, event: dict[str, Any], message: str) -> None:
    out = app.handler(event, None)
    assert out["statusCode"] == 400
    assert message in json.loads(out["body"])["message"]


# ----------------------------------------------------------------------------- S3
class FakeS3:
    """Stands in for boto3's S3 client: objects from a dict, calls recorded."""

    def __init__(self, objects: dict[tuple[str, str], bytes]) -> None:
        self.objects = objects
        self.calls: list[tuple[str, str, str]] = []

    def _get(self, bucket: str, key: str) -> bytes:
        from botocore.exceptions import ClientError

        if (bucket, key) not in self.objects:
            error = {"Error": {"Code": "NoSuchKey", "Message": "The key does not exist"}}
            raise ClientError(error, "GetObject")
        return self.objects[(bucket, key)]

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        self.calls.append(("get_object", Bucket, Key))
        data = self._get(Bucket, Key)
        return {"Body": io.BytesIO(data), "ContentLength": len(data)}

    def download_file(self, bucket: str, key: str, filename: str) -> None:
        self.calls.append(("download_file", bucket, key))
        Path(filename).write_bytes(self._get(bucket, key))


@pytest.mark.slow
def test_s3_image_input(app: ModuleType, photo: Photo, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeS3({("images", "cat.png"): photo("chelsea.png")})
    monkeypatch.setattr(app, "_s3_client", fake)
    out = app.handler({"s3": {"bucket": "images", "key": "cat.png"}}, None)
    assert out["top5"][0]["index"] in CAT_CLASSES
    assert fake.calls == [("get_object", "images", "cat.png")]
    with pytest.raises(ValueError, match=re.escape("s3://images/missing.png not found")):
        app.handler({"s3": {"bucket": "images", "key": "missing.png"}}, None)


@pytest.mark.slow
def test_model_downloaded_from_s3_once(model_dir: Path, tmp_path: Path) -> None:
    from imgcls.model_store import resolve_model_dir

    objects = {("models", f"ic/{name}"): (model_dir / name).read_bytes()
               for name in ("model.int8.onnx", "labels.json")}  # fmt: skip
    fake = FakeS3(objects)
    env = {"MODEL_BUCKET": "models", "MODEL_KEY_PREFIX": "ic/", "MODEL_CACHE_DIR": str(tmp_path)}
    assert resolve_model_dir(env, fake) == (tmp_path, "model.int8.onnx")
    assert sorted(fake.calls) == [("download_file", "models", "ic/labels.json"),
                                  ("download_file", "models", "ic/model.int8.onnx")]  # fmt: skip
    assert (tmp_path / "model.int8.onnx").read_bytes() == objects[("models", "ic/model.int8.onnx")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.json", "model.int8.onnx"]
    resolve_model_dir(env, fake)  # second cold start in the same /tmp: nothing downloaded
    assert len(fake.calls) == 2


def test_failed_download_leaves_nothing_behind(tmp_path: Path) -> None:
    from imgcls.model_store import fetch_from_s3

    with pytest.raises(Exception, match="NoSuchKey"):
        fetch_from_s3("models", "ic/", ["model.int8.onnx"], tmp_path, FakeS3({}))
    assert list(tmp_path.iterdir()) == []


def test_no_model_configured_is_a_clear_error() -> None:
    from imgcls.model_store import resolve_model_dir

    with pytest.raises(RuntimeError, match=r"MODEL_PATH.*MODEL_BUCKET"):
        resolve_model_dir({})


# ----------------------------------------------------------------------------- runtime setup
@pytest.mark.parametrize(("value", "threads"), [
    (None, 1), ("0.578", 1), ("1", 1), ("1.01", 2), ("1.7", 2), ("6", 6), ("abc", 1), ("-2", 1),
])  # fmt: skip
def test_thread_count_from_sandbox_vcpus(value: str | None, threads: int) -> None:
    from imgcls.model_store import thread_count

    env = {} if value is None else {"SANDBOX_VCPUS": value}
    assert thread_count(env) == threads


def test_preprocess_normalises_like_torchvision() -> None:
    from imgcls.preprocess import CROP, MEAN, STD, preprocess

    x = preprocess(Image.new("RGB", (640, 480), (128, 64, 255)))
    assert x.shape == (1, 3, CROP, CROP) and x.dtype == np.float32
    expected = (np.array([128, 64, 255]) / 255.0 - MEAN) / STD
    assert np.allclose(x[0, :, 100, 100], expected, atol=1e-6)


def test_resize_center_crop_geometry() -> None:
    from imgcls.preprocess import resize_center_crop

    img = Image.new("RGB", (600, 400))
    img.paste((255, 0, 0), (0, 0, 300, 400))  # left half red
    out = resize_center_crop(img)
    assert out.size == (224, 224)
    # 600x400 -> 384x256, crop x 80..304: the red/black edge sits at x=192-80=112
    pixels = np.asarray(out)
    assert pixels[112, 100, 0] > 200 and pixels[112, 124, 0] < 50


@pytest.mark.slow
def test_handler_does_not_import_build_dependencies(model_dir: Path, tmp_path: Path) -> None:
    """INIT + one invoke in a fresh interpreter, as in Lambda: no torch, onnx, skimage..."""
    event = json.loads((EVENTS_DIR / "direct.json").read_text())
    event_path = tmp_path / "event.json"
    event_path.write_text(json.dumps(event))
    code = textwrap.dedent(
        """
        import json, sys
        import app
        out = app.handler(json.load(open(sys.argv[1])), None)
        heavy = [m for m in ("torch", "torchvision", "onnx", "skimage", "scipy", "boto3")
                 if m in sys.modules]
        print(json.dumps({"heavy": heavy, "top1": out["top5"][0]["index"]}))
        """
    )
    env = {**os.environ, "MODEL_PATH": str(model_dir), "PYTHONPATH": str(SRC_DIR)}
    env.pop("MODEL_BUCKET", None)
    proc = subprocess.run(
        [sys.executable, "-c", code, str(event_path)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"heavy": [], "top1": ESPRESSO}
