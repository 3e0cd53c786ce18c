"""Files put in S3 by a promotion (model artifacts, and zips too big to send directly).

An upload is skipped when the object's ETag already equals the one S3 would give this file:
MD5 of the bytes for a single PUT, else MD5 of the parts' MD5s plus "-<parts>" for a multipart
upload, computed here with the same threshold and part size (adjusted as s3transfer adjusts
it) that the upload uses. A SHA-256 in the object's metadata is accepted too, for objects that
an upload with another part size wrote.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError
from s3transfer.utils import ChunksizeAdjuster

from lambda_sandbox.tools.promote.errors import aws_step, error_code
from lambda_sandbox.tools.promote.progress import Reporter

__all__ = ["CHUNK_BYTES", "Upload", "bucket_state", "file_digests", "plan_upload", "s3_etag"]

CHUNK_BYTES = 8 * 1024 * 1024  # boto3's default threshold and part size (not a Lambda limit)
_READ = 1024 * 1024


def transfer_config(chunk: int = CHUNK_BYTES) -> TransferConfig:
    return TransferConfig(
        multipart_threshold=chunk,
        multipart_chunksize=chunk,
        preferred_transfer_client="classic",  # the CRT client would choose its own part size
    )


def file_digests(path: Path, chunk: int = CHUNK_BYTES) -> tuple[str, str]:
    """(the ETag S3 gives this file when uploaded with `chunk`, its SHA-256 hex), one read."""
    size = path.stat().st_size
    part_size = ChunksizeAdjuster().adjust_chunksize(chunk, size)
    sha = hashlib.sha256()
    whole = hashlib.md5(usedforsecurity=False)
    parts: list[bytes] = []
    part = hashlib.md5(usedforsecurity=False)
    in_part = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_READ), b""):
            sha.update(block)
            whole.update(block)
            view = memoryview(block)
            while view:
                take = min(len(view), part_size - in_part)
                part.update(view[:take])
                in_part += take
                view = view[take:]
                if in_part == part_size:
                    parts.append(part.digest())
                    part, in_part = hashlib.md5(usedforsecurity=False), 0
    if in_part or not parts:
        parts.append(part.digest())
    if size < chunk:  # s3transfer uploads smaller files with one PutObject
        return whole.hexdigest(), sha.hexdigest()
    joined = hashlib.md5(b"".join(parts), usedforsecurity=False).hexdigest()
    return f"{joined}-{len(parts)}", sha.hexdigest()


def s3_etag(path: Path, chunk: int = CHUNK_BYTES) -> str:
    return file_digests(path, chunk)[0]


@dataclass(frozen=True)
class Upload:
    """One file and where it goes; `current_etag` is None when the object is absent."""

    label: str
    path: Path
    bucket: str
    key: str
    size: int
    etag: str
    sha256: str
    current_etag: str | None
    current_sha256: str | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def unchanged(self) -> bool:
        return self.current_etag == self.etag or (
            self.current_sha256 is not None and self.current_sha256 == self.sha256
        )


def bucket_state(s3: Any, bucket: str) -> str:
    """ "exists", "absent", or "foreign" (exists, but these credentials may not use it)."""
    with aws_step(f"checking bucket {bucket}"):
        try:
            s3.head_bucket(Bucket=bucket)
        except ClientError as exc:
            code = error_code(exc)
            if code in ("404", "NoSuchBucket", "NotFound"):
                return "absent"
            if code in ("403", "AccessDenied"):
                return "foreign"
            raise
    return "exists"


def plan_upload(
    s3: Any, label: str, path: Path, bucket: str, key: str, bucket_exists: bool
) -> Upload:
    """What uploading `path` to s3://bucket/key would do (reads the object's ETag only)."""
    etag, sha = file_digests(path)
    current, current_sha = None, None
    if bucket_exists:
        with aws_step(f"reading s3://{bucket}/{key}"):
            try:
                head = s3.head_object(Bucket=bucket, Key=key)
                current = str(head.get("ETag", "")).strip('"')
                current_sha = (head.get("Metadata") or {}).get("sha256")
            except ClientError as exc:
                if error_code(exc) not in ("404", "NoSuchKey", "NotFound"):
                    raise
    return Upload(label, path, bucket, key, path.stat().st_size, etag, sha, current, current_sha)


def upload(s3: Any, item: Upload, reporter: Reporter) -> None:
    callback = reporter.transfer(f"{item.label} -> {item.uri}", item.size)
    with aws_step(f"uploading {item.path.name} to {item.uri}"):
        s3.upload_file(
            str(item.path),
            item.bucket,
            item.key,
            ExtraArgs={"Metadata": {"sha256": item.sha256}},
            Callback=callback,
            Config=transfer_config(),
        )


def create_bucket(s3: Any, bucket: str, region: str) -> None:
    with aws_step(f"creating bucket {bucket}"):
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region}
            )
