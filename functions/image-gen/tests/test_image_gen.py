"""Behaviour of the image-gen function in-process: clamping, events, PNGs, S3 output, the
model build against diffusers, bundle hygiene."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from imagegen.events import Limits, clamp_size, parse_http_event, parse_payload
from imagegen.scheduler import DDIMScheduler
from imagegen.tokenizer import HashTokenizer
from PIL import Image

SRC_DIR = Path(__file__).resolve().parents[1] / "src"
EVENTS_DIR = SRC_DIR.parent / "events"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_of(data: bytes) -> Image.Image:
    assert data.startswith(PNG_MAGIC)
    img = Image.open(io.BytesIO(data))
    img.load()
    assert img.format == "PNG" and img.mode == "RGB"
    return img


# ----------------------------------------------------------------------------- clamping
@pytest.mark.parametrize(("asked", "used"), [
    (256, 256), (64, 64), (512, 512), (200, 200),   # multiples of 8 in range: unchanged
    (130, 128), (71, 64), (255, 248),               # rounded down to a multiple of 8
    (1000, 512), (513, 512), (4096, 512),           # above the maximum
    (13, 64), (0, 64), (-50, 64),                   # below the minimum
])  # fmt: skip
def test_clamp_size(asked: int, used: int) -> None:
    assert clamp_size(asked, 512) == used


def test_request_is_clamped_and_says_so() -> None:
    request = parse_payload(
        {"prompt": "a fox", "width": 1000, "height": 13, "steps": 500, "guidance_scale": 0.2,
         "seed": 9},
        Limits(),
    )  # fmt: skip
    assert (request.width, request.height, request.steps) == (512, 64, 50)
    assert request.guidance_scale == 1.0 and request.seed == 9
    assert request.clamped == ("width", "height", "steps", "guidance_scale")
    inside = parse_payload({"prompt": "a fox", "width": 96, "height": 128, "steps": 3}, Limits())
    assert (inside.width, inside.height, inside.steps, inside.clamped) == (96, 128, 3, ())


def test_defaults_and_limits_come_from_the_environment() -> None:
    limits = Limits.from_env({"PIPELINE_STEPS": "7", "MAX_IMAGE_SIZE": "300", "STORE": "true"})
    assert limits == Limits(max_size=296, default_size=256, default_steps=7, max_steps=50,
                            store=True)  # fmt: skip
    request = parse_payload({"prompt": "x", "width": 300}, limits)
    assert (request.width, request.height, request.steps, request.store) == (296, 256, 7, True)
    # the request's own steps and store override the environment, within the clamp
    request = parse_payload({"prompt": "x", "steps": 20, "store": False}, limits)
    assert (request.steps, request.store) == (20, False)
    small = Limits.from_env({"MAX_IMAGE_SIZE": "128", "PIPELINE_STEPS": "80", "MAX_STEPS": "20"})
    assert (small.default_size, small.default_steps, small.max_steps) == (128, 20, 20)
    assert parse_payload({"prompt": "x", "steps": 30}, small).steps == 20


@pytest.mark.parametrize("env", [{"PIPELINE_STEPS": "ten"}, {"MAX_IMAGE_SIZE": "32"},
                                 {"MAX_STEPS": "0"}, {"STORE": "maybe"}])  # fmt: skip
def test_bad_configuration_fails_init(env: dict[str, str]) -> None:
    with pytest.raises(RuntimeError, match="environment variable"):
        Limits.from_env(env)


def test_seed_is_drawn_when_absent_and_reported() -> None:
    seeds = {parse_payload({"prompt": "x"}, Limits()).seed for _ in range(5)}
    assert len(seeds) > 1 and all(0 <= s < 2**32 for s in seeds)


BAD_PAYLOADS: list[tuple[str, Any, str]] = [
    ("not an object", ["prompt"], "JSON object"),
    ("no prompt", {"width": 64}, "prompt"),
    ("empty prompt", {"prompt": "   "}, "non-empty string"),
    ("prompt not str", {"prompt": 5}, "non-empty string"),
    ("prompt too long", {"prompt": "x" * 1001}, "over the limit"),
    ("width not a number", {"prompt": "x", "width": "wide"}, "width must be an integer"),
    ("width bool", {"prompt": "x", "width": True}, "width must be an integer"),
    ("width fraction", {"prompt": "x", "width": 64.5}, "width must be an integer"),
    ("steps list", {"prompt": "x", "steps": [1]}, "steps must be an integer"),
    ("guidance nan", {"prompt": "x", "guidance_scale": "nan"}, "finite"),
    ("seed negative", {"prompt": "x", "seed": -1}, "seed must be from 0"),
    ("seed too big", {"prompt": "x", "seed": 2**32}, "seed must be from 0"),
    ("store not a flag", {"prompt": "x", "store": "maybe"}, "store must be true or false"),
]


@pytest.mark.parametrize(("case", "payload", "message"), BAD_PAYLOADS,
                         ids=[b[0] for b in BAD_PAYLOADS])  # fmt: skip
def test_bad_payload_is_a_value_error(case: str, payload: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        parse_payload(payload, Limits())
    assert type(info.value) is ValueError  # Lambda reports errorType "ValueError"


def test_http_query_parameters_are_parsed(sample_event: Callable[[str], dict]) -> None:
    request = parse_http_event(sample_event("function-url.json"), Limits())
    assert (request.prompt, request.width, request.height, request.steps, request.seed) == (
        "a red fox in the snow", 128, 96, 8, 3)  # fmt: skip
    rest = parse_http_event(sample_event("apigw-rest.json"), Limits())  # base64 JSON body
    assert (rest.prompt, rest.width, rest.steps) == ("a bowl of fruit, oil painting", 64, 4)
    store = parse_http_event({"queryStringParameters": {"prompt": "p", "store": "yes"}}, Limits())
    assert store.store is True


# ----------------------------------------------------------------------------- tokenizer, DDIM
def test_tokenizer_is_clip_shaped_and_stable() -> None:
    tok = HashTokenizer(vocab_size=1000, max_length=77)
    ids = tok.encode("A Red  fox, jumping!")
    assert ids.shape == (1, 77) and ids.dtype == np.int64
    words = ["a", "red", "fox", ",", "jumping", "!"]
    assert ids[0, 0] == tok.bos_id and ids[0, 7] == tok.eos_id
    assert ids[0, 1:7].tolist() == [tok.word_id(w) for w in words]
    assert (ids[0, 8:] == tok.eos_id).all() and ids.max() < 1000
    assert np.array_equal(ids, tok.encode("a red fox , jumping !"))  # case and spacing
    long = tok.encode(" ".join(["word"] * 200))
    assert long.shape == (1, 77) and long[0, -1] == tok.eos_id  # truncated like CLIP


def test_ddim_timesteps_follow_sd_leading_spacing() -> None:
    sched = DDIMScheduler()
    assert sched.timesteps(10).tolist() == [901, 801, 701, 601, 501, 401, 301, 201, 101, 1]
    assert sched.timesteps(4).tolist() == [751, 501, 251, 1]
    with pytest.raises(ValueError):
        sched.timesteps(0)


def test_ddim_step_with_the_true_noise_lands_on_the_next_marginal() -> None:
    sched, rng = DDIMScheduler(), np.random.default_rng(0)
    x0 = rng.standard_normal((1, 4, 8, 8)).astype(np.float32)
    eps = rng.standard_normal((1, 4, 8, 8)).astype(np.float32)
    a = sched.alphas_cumprod
    t, prev = 501, 401
    x_t = np.sqrt(a[t]) * x0 + np.sqrt(1 - a[t]) * eps
    expected = np.sqrt(a[prev]) * x0 + np.sqrt(1 - a[prev]) * eps
    assert np.allclose(sched.step(eps, t, x_t, steps=10), expected, atol=1e-5)


# ----------------------------------------------------------------------------- the model
@pytest.mark.slow
def test_build_matches_diffusers_and_is_small(metrics: dict[str, Any]) -> None:
    assert "RANDOM" in metrics["model"]
    reference = metrics["diffusers_reference"]
    assert reference["max_abs_pixel_diff"] <= 1  # ONNX + numpy DDIM == StableDiffusionPipeline
    assert all(diff < 1e-4 for diff in metrics["export_max_abs_diff"].values())
    assert reference["pixel_std"] > 5  # not a flat image
    assert sum(metrics["sizes_bytes"].values()) < 10 * 2**20


@pytest.mark.slow
def test_direct_invoke_returns_a_png_of_the_clamped_size(app: ModuleType) -> None:
    out = app.handler({"prompt": "a red fox", "width": 100, "height": 70, "steps": 2,
                       "seed": 1}, None)  # fmt: skip
    img = png_of(base64.b64decode(out["image_base64"]))
    assert img.size == (96, 64) == (out["width"], out["height"])
    assert out["clamped"] == ["width", "height"] and out["steps"] == 2
    assert out["bytes"] == len(base64.b64decode(out["image_base64"]))
    assert set(out["timings_ms"]) == {"text_encoder", "denoise", "vae_decode", "png", "total"}
    assert "image_url" not in out


@pytest.mark.slow
def test_same_seed_same_image_other_seed_other_image(app: ModuleType) -> None:
    def image(seed: int, prompt: str = "a lighthouse") -> bytes:
        event = {"prompt": prompt, "width": 64, "height": 64, "steps": 2, "seed": seed}
        return base64.b64decode(app.handler(event, None)["image_base64"])

    assert image(5) == image(5)
    assert image(5) != image(6)
    assert image(5) != image(5, "a castle")  # the prompt conditions the UNet


@pytest.mark.slow
def test_steps_come_from_pipeline_steps(load_app: Callable[..., ModuleType]) -> None:
    app = load_app(PIPELINE_STEPS="3", MAX_STEPS="4")
    assert app.handler({"prompt": "x", "width": 64, "height": 64}, None)["steps"] == 3
    assert app.handler({"prompt": "x", "width": 64, "height": 64, "steps": 9}, None)["steps"] == 4


@pytest.mark.slow
def test_pipeline_is_loaded_once_per_environment(app: ModuleType) -> None:
    pipeline = app.PIPELINE
    app.handler({"prompt": "x", "width": 64, "height": 64, "steps": 1}, None)
    assert app.PIPELINE is pipeline and app.INIT_SECONDS > 0


@pytest.mark.slow
@pytest.mark.parametrize(("name", "size"), [("function-url.json", (128, 96)),
                                            ("http-api.json", (96, 64)),
                                            ("apigw-rest.json", (64, 64))])  # fmt: skip
def test_http_events_answer_with_the_png_itself(
    app: ModuleType, sample_event: Callable[[str], dict], name: str, size: tuple[int, int]
) -> None:
    out = app.handler(sample_event(name), None)
    assert out["statusCode"] == 200 and out["isBase64Encoded"] is True
    assert out["headers"]["content-type"] == "image/png"
    assert png_of(base64.b64decode(out["body"])).size == size
    assert out["headers"]["x-image-size"] == "{}x{}".format(*size)


@pytest.mark.slow
@pytest.mark.parametrize(("event", "message"), [
    ({"version": "2.0", "routeKey": "$default", "requestContext": {"http": {}},
      "body": "{not json"}, "not valid JSON"),
    ({"version": "2.0", "routeKey": "$default", "requestContext": {"http": {}},
      "queryStringParameters": {"width": "64"}}, "prompt"),
    ({"httpMethod": "POST", "requestContext": {}, "body": "@@", "isBase64Encoded": True},
     "not valid base64"),
])  # fmt: skip
def test_bad_http_requests_get_400(app: ModuleType, event: dict[str, Any], message: str) -> None:
    out = app.handler(event, None)
    assert out["statusCode"] == 400
    assert message in json.loads(out["body"])["message"]


# ----------------------------------------------------------------------------- S3 output
class FakeS3:
    """Stands in for boto3's S3 client: put_object into a dict, presigning recorded."""

    def __init__(self, buckets: set[str]) -> None:
        self.buckets = buckets
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}

    def put_object(self, Bucket: str, Key: str, Body: bytes, **kwargs: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        if Bucket not in self.buckets:
            raise ClientError({"Error": {"Code": "NoSuchBucket", "Message": "no"}}, "PutObject")
        self.objects[(Bucket, Key)] = {"Body": Body, **kwargs}
        return {}

    def generate_presigned_url(self, op: str, Params: dict[str, str], ExpiresIn: int) -> str:
        return f"https://s3.test/{Params['Bucket']}/{Params['Key']}?op={op}&expires={ExpiresIn}"


class Context:
    aws_request_id = "6f0c1d2e-0000-4000-8000-000000000001"


@pytest.mark.slow
def test_store_writes_the_png_and_returns_its_urls(
    app: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeS3({"sandbox-images"})
    monkeypatch.setattr(app.OUTPUT, "_client", fake)
    out = app.handler({"prompt": "x", "width": 72, "height": 64, "steps": 1, "seed": 2,
                       "store": True}, Context())  # fmt: skip
    key = f"generated/{Context.aws_request_id}.png"
    assert out["image_url"] == f"s3://sandbox-images/{key}"
    assert (
        out["presigned_url"] == f"https://s3.test/sandbox-images/{key}?op=get_object&expires=3600"
    )
    assert "image_base64" not in out
    stored = fake.objects[("sandbox-images", key)]
    assert stored["ContentType"] == "image/png"
    assert stored["Metadata"] == {"seed": "2", "steps": "1", "size": "72x64"}
    assert png_of(stored["Body"]).size == (72, 64)
    # through a function URL, a stored image answers JSON with the URLs
    query = {"prompt": "x", "width": "64", "height": "64", "steps": "1", "store": "true"}
    event = {"version": "2.0", "routeKey": "$default", "requestContext": {"http": {}},
             "queryStringParameters": query}  # fmt: skip
    http = app.handler(event, Context())
    assert http["statusCode"] == 200 and http["headers"]["content-type"] == "application/json"
    assert json.loads(http["body"])["image_url"] == f"s3://sandbox-images/{key}"


@pytest.mark.slow
def test_store_into_a_missing_bucket_is_a_clear_error(
    app: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.OUTPUT, "_client", FakeS3(set()))
    with pytest.raises(RuntimeError, match="OUTPUT_BUCKET 'sandbox-images' does not exist"):
        app.handler({"prompt": "x", "width": 64, "height": 64, "steps": 1, "store": True}, None)


def test_store_without_a_bucket_is_a_clear_error() -> None:
    from imagegen.store import OutputStore

    with pytest.raises(RuntimeError, match="OUTPUT_BUCKET is not set"):
        OutputStore({}, client=FakeS3(set())).put_png(b"png", "id", {})


def test_model_fetch_names_every_artifact(tmp_path: Path) -> None:
    from imagegen.store import resolve_model_dir

    calls: list[tuple[str, str]] = []

    class Fetcher:
        def download_file(self, bucket: str, key: str, filename: str) -> None:
            calls.append((bucket, key))
            Path(filename).write_bytes(b"x")

    env = {"MODEL_BUCKET": "models", "MODEL_KEY_PREFIX": "ig/", "MODEL_CACHE_DIR": str(tmp_path)}
    assert resolve_model_dir(env, Fetcher()) == tmp_path
    assert sorted(k for _, k in calls) == ["ig/pipeline.json", "ig/text_encoder.onnx",
                                           "ig/unet.onnx", "ig/vae_decoder.onnx"]  # fmt: skip
    resolve_model_dir(env, Fetcher())  # a second cold start in the same /tmp downloads nothing
    assert len(calls) == 4
    with pytest.raises(RuntimeError, match=r"MODEL_PATH.*MODEL_BUCKET"):
        resolve_model_dir({})


# ----------------------------------------------------------------------------- bundle hygiene
@pytest.mark.slow
def test_handler_does_not_import_build_dependencies(model_dir: Path, tmp_path: Path) -> None:
    """INIT + one invoke in a fresh interpreter, as in Lambda: no torch, diffusers, ..."""
    code = textwrap.dedent(
        """
        import base64, json, sys
        import app
        out = app.handler(json.load(open(sys.argv[1])), None)
        heavy = [m for m in ("torch", "diffusers", "transformers", "onnx", "boto3")
                 if m in sys.modules]
        print(json.dumps({"heavy": heavy, "png": len(base64.b64decode(out["image_base64"]))}))
        """
    )
    env = {**os.environ, "MODEL_PATH": str(model_dir), "PYTHONPATH": str(SRC_DIR)}
    proc = subprocess.run(
        [sys.executable, "-c", code, str(EVENTS_DIR / "direct.json")],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["heavy"] == [] and result["png"] > 1000
