"""S3 both ways: the model artifacts in at INIT, the generated PNGs out.

Every S3 call goes through ``boto3.client("s3")``, so the endpoint in AWS_ENDPOINT_URL (the
sandbox's embedded S3, LocalStack) is honoured as on AWS.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imagegen.pipeline import MODEL_FILES

DEFAULT_KEY_PREFIX = "image-gen/"
DEFAULT_OUTPUT_PREFIX = "generated/"
DEFAULT_PRESIGN_SECONDS = 3600
DOWNLOAD_DIR = Path("/tmp/model")


def s3_client() -> Any:
    import boto3  # provided by the Lambda runtime; imported only when S3 is used

    return boto3.client("s3")


def fetch_from_s3(
    bucket: str, prefix: str, names: tuple[str, ...], dest: Path, client: Any = None
) -> Path:
    """Download ``prefix + name`` for each name into ``dest`` unless already there; each file
    is written under a temporary name and renamed, so a killed INIT leaves nothing half-written."""
    dest.mkdir(parents=True, exist_ok=True)
    missing = [name for name in names if not (dest / name).is_file()]
    if missing and client is None:
        client = s3_client()
    for name in missing:
        fd, tmp_name = tempfile.mkstemp(dir=dest, prefix=f".{name}.")
        os.close(fd)
        try:
            client.download_file(bucket, prefix + name, tmp_name)
            os.replace(tmp_name, dest / name)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
    return dest


def resolve_model_dir(env: Mapping[str, str], client: Any = None) -> Path:
    """MODEL_PATH, or s3://MODEL_BUCKET/MODEL_KEY_PREFIX downloaded to MODEL_CACHE_DIR."""
    local = env.get("MODEL_PATH")
    if local:
        return Path(local)
    bucket = env.get("MODEL_BUCKET")
    if not bucket:
        raise RuntimeError(
            "no model configured: set MODEL_PATH to a directory with "
            f"{', '.join(MODEL_FILES)}, or MODEL_BUCKET (+ MODEL_KEY_PREFIX) to fetch them from S3"
        )
    prefix = env.get("MODEL_KEY_PREFIX", DEFAULT_KEY_PREFIX)
    dest = Path(env.get("MODEL_CACHE_DIR") or DOWNLOAD_DIR)
    return fetch_from_s3(bucket, prefix, MODEL_FILES, dest, client)


@dataclass(frozen=True)
class Stored:
    bucket: str
    key: str
    presigned_url: str

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class OutputStore:
    """Where STORE puts the PNGs: s3://OUTPUT_BUCKET/OUTPUT_PREFIX<request id>.png."""

    def __init__(self, env: Mapping[str, str], client: Any = None) -> None:
        self.bucket = env.get("OUTPUT_BUCKET", "")
        self.prefix = env.get("OUTPUT_PREFIX", DEFAULT_OUTPUT_PREFIX)
        raw = env.get("PRESIGN_EXPIRES_SECONDS", "").strip()
        self.expires = int(raw) if raw else DEFAULT_PRESIGN_SECONDS
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = s3_client()
        return self._client

    def put_png(self, png: bytes, name: str, metadata: Mapping[str, str]) -> Stored:
        if not self.bucket:
            raise RuntimeError("STORE is on but OUTPUT_BUCKET is not set: nowhere to write the PNG")
        from botocore.exceptions import ClientError

        key = f"{self.prefix}{name}.png"
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=key, Body=png, ContentType="image/png",
                Metadata=dict(metadata),
            )  # fmt: skip
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchBucket":
                raise RuntimeError(f"OUTPUT_BUCKET {self.bucket!r} does not exist") from exc
            raise
        presigned = self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=self.expires
        )
        return Stored(self.bucket, key, presigned)
