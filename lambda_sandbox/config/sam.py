"""AWS SAM templates: the AWS::Serverless::Function resources, with Globals and intrinsics.

CloudFormation's short tags (!Ref, !Sub, ...) are read; Ref / Sub / GetAtt resolve to local
stand-ins (a parameter's default, the resource's logical id, pseudo parameters).
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import yaml

from lambda_sandbox.config.function import FunctionConfig, build_config
from lambda_sandbox.exceptions import ConfigError
from lambda_sandbox.limits import Limits, load_limits

__all__ = ["load_sam_template", "parse_parameter_overrides"]


class _SamLoader(yaml.SafeLoader):
    """A loader that accepts CloudFormation's short intrinsic tags (!Ref, !Sub, ...)."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node)
    else:
        value = loader.construct_mapping(node)  # type: ignore[arg-type]
    return {tag_suffix: value}


_SamLoader.add_multi_constructor("!", _intrinsic)


_PSEUDO = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "000000000000",
    "AWS::StackName": "sandbox",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}


def _resolve(value: Any, params: dict[str, str]) -> Any:
    """Local stand-ins for CloudFormation intrinsics: a Ref is the resource's logical id (or a
    parameter's default), Sub substitutes those, GetAtt is "Resource.Attribute"."""
    if isinstance(value, dict) and len(value) == 1:
        ((key, arg),) = value.items()
        if key in ("Ref", "!Ref"):
            return params.get(str(arg), str(arg))
        if key in ("Sub", "Fn::Sub"):
            text = arg[0] if isinstance(arg, list) else str(arg)
            return re.sub(r"\$\{([^}]+)\}", lambda m: params.get(m.group(1), m.group(1)), text)
        if key in ("GetAtt", "Fn::GetAtt"):
            return ".".join(arg) if isinstance(arg, list) else str(arg)
    if isinstance(value, dict):
        return {k: _resolve(v, params) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, params) for v in value]
    return value


def parse_parameter_overrides(
    overrides: tuple[str, ...] | list[str], template: Path | None = None
) -> dict[str, str]:
    """Parameter values as `sam deploy --parameter-overrides` takes them ("Key=Value Key2=V2"
    or "ParameterKey=Key,ParameterValue=Value"), after those of samconfig.toml next to the
    template ([default.deploy.parameters] or [default.global.parameters] parameter_overrides)."""
    texts: list[str] = []
    if template is not None:
        samconfig = template.parent / "samconfig.toml"
        if samconfig.is_file():
            try:
                data = tomllib.loads(samconfig.read_text())
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{samconfig}: not valid TOML: {exc}") from exc
            default = data.get("default") or {}
            for section in ("global", "deploy"):
                value = ((default.get(section) or {}).get("parameters") or {}).get(
                    "parameter_overrides"
                )
                if isinstance(value, list):
                    texts += [str(v) for v in value]
                elif value:
                    texts.append(str(value))
    texts += list(overrides)
    values: dict[str, str] = {}
    for text in texts:
        for item in shlex.split(text):
            if item.startswith("ParameterKey="):
                key, _, value = item.removeprefix("ParameterKey=").partition(",ParameterValue=")
            else:
                key, sep, value = item.partition("=")
                if not sep:
                    raise ConfigError(
                        f"parameter override {item!r}: give Key=Value or "
                        "ParameterKey=Key,ParameterValue=Value"
                    )
            values[key] = value
    return values


def load_sam_template(
    path: Path, limits: Limits | None = None, parameters: dict[str, str] | None = None
) -> list[FunctionConfig]:
    """Read the AWS::Serverless::Function resources of a SAM template (Globals applied)."""
    try:
        doc = yaml.load(path.read_text(), Loader=_SamLoader) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    params = dict(_PSEUDO)
    missing = []
    given = parameters or {}
    for name, param in (doc.get("Parameters") or {}).items():
        if name in given:
            params[name] = given[name]
        elif isinstance(param, dict) and "Default" in param:
            params[name] = str(param["Default"])
        else:
            missing.append(name)
    if missing:
        raise ConfigError(
            f"{path}: parameter(s) {', '.join(missing)} have no Default and no value: pass "
            f"--parameter-overrides '{missing[0]}=...' (or set them in samconfig.toml)"
        )
    globals_fn = _resolve((doc.get("Globals") or {}).get("Function") or {}, params)
    configs = []
    for logical_id, res in (doc.get("Resources") or {}).items():
        if not isinstance(res, dict) or res.get("Type") != "AWS::Serverless::Function":
            continue
        props = {**globals_fn, **_resolve(res.get("Properties") or {}, params)}
        if "Environment" in globals_fn and "Environment" in (res.get("Properties") or {}):
            merged = dict((globals_fn["Environment"] or {}).get("Variables") or {})
            merged.update((props["Environment"] or {}).get("Variables") or {})
            props["Environment"] = {"Variables": merged}
        name = props.pop("FunctionName", None)
        name = name if isinstance(name, str) else logical_id
        configs.append(build_config(name, path, props, limits or load_limits(), logical_id))
    return configs
