"""AWS SAM templates, read with the SAM project's own library (aws-sam-translator).

- the YAML: `samtranslator.yaml_helper.yaml_parse` (CloudFormation's short-form tags, !Ref,
  !Sub, !GetAtt, ..., as SAM reads them);
- Globals: SAM's Globals merge (`samtranslator.plugins.globals.globals.Globals`);
- Parameters: their values (overrides, samconfig.toml, Default, pseudo parameters) resolved
  by SAM's `IntrinsicsResolver`; a parameter with no value is an error that names it;
- the property schema: SAM's own (see config/function.py).

What is left after that are references to the template's resources (`!Ref MyTable`,
`!GetAtt MyTable.Arn`, `!Sub "${MyQueue}"`) and functions SAM leaves to CloudFormation (Join,
If, Select, FindInMap, ...). Their values exist only once CloudFormation deploys the stack, so
the sandbox resolves them to local stand-ins, as SAM CLI does: a resource's Ref is its name or
logical id, a GetAtt is an ARN in the sandbox's account and region. That part, and Conditions,
are written here (SAM's translator has no evaluator for them).
"""

from __future__ import annotations

import copy
import shlex
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from samtranslator.intrinsics.resolver import IntrinsicsResolver
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.plugins.globals.globals import Globals, InvalidGlobalsSectionException
from samtranslator.yaml_helper import yaml_parse

from lambda_sandbox.config.function import (
    LAMBDA_FUNCTION,
    SERVERLESS_FUNCTION,
    FunctionConfig,
    build_config,
)
from lambda_sandbox.config.layers import LAYER_TYPES, LayerRef, layer_from_resource, resolve_arn
from lambda_sandbox.exceptions import ConfigError
from lambda_sandbox.limits import Limits, load_limits

__all__ = ["load_sam_template", "parse_parameter_overrides", "read_template"]

REGION, ACCOUNT = "us-east-1", "000000000000"
_PSEUDO: dict[str, Any] = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::StackName": "sandbox",
    "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/sandbox/local",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::NoValue": None,
    "AWS::NotificationARNs": [],
}


# --------------------------------------------------------------------------- parameters
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


def _parameters(doc: dict[str, Any], path: Path, given: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = dict(_PSEUDO)
    missing = []
    declared = doc.get("Parameters") or {}
    for name, param in declared.items():
        if name in given:
            value: Any = given[name]
        elif isinstance(param, dict) and "Default" in param:
            value = param["Default"]
        else:
            missing.append(name)
            continue
        if (isinstance(param, dict) and str(param.get("Type", "")).startswith("List<")) or (
            isinstance(param, dict) and param.get("Type") == "CommaDelimitedList"
        ):
            value = [v.strip() for v in str(value).split(",")] if isinstance(value, str) else value
        allowed = param.get("AllowedValues") if isinstance(param, dict) else None
        if allowed and value not in allowed and str(value) not in map(str, allowed):
            raise ConfigError(
                f"{path}: parameter {name}: {value!r} is not one of its AllowedValues {allowed}"
            )
        values[name] = value
    unknown = set(given) - set(declared)
    if unknown:
        raise ConfigError(
            f"{path}: parameter override(s) {', '.join(sorted(unknown))}: the template declares "
            f"no such parameter (it has: {', '.join(declared) or 'none'})"
        )
    if missing:
        raise ConfigError(
            f"{path}: parameter(s) {', '.join(missing)} have no Default and no value: pass "
            f"--parameter-overrides '{missing[0]}=...' (or set them in samconfig.toml)"
        )
    return values


# --------------------------------------------------------------- local stand-ins (CFN)
class _StandIns:
    """What CloudFormation would put in for the template's resources, locally."""

    def __init__(self, doc: dict[str, Any], params: dict[str, Any]) -> None:
        self.resources: dict[str, Any] = doc.get("Resources") or {}
        self.params = params
        self.mappings: dict[str, Any] = doc.get("Mappings") or {}
        self.conditions: dict[str, Any] = doc.get("Conditions") or {}
        self._evaluated: dict[str, bool] = {}

    def ref(self, name: str) -> Any:
        if name in self.params:
            return self.params[name]
        res = self.resources.get(name)
        if isinstance(res, dict):
            if res.get("Type") in LAYER_TYPES:
                return name  # a layer's Ref is its ARN: the sandbox knows it by logical id
            props = res.get("Properties") or {}
            for key in ("FunctionName", "TableName", "QueueName", "TopicName", "BucketName",
                        "LayerName", "Name", "StateMachineName"):  # fmt: skip
                if isinstance(props.get(key), str):
                    return props[key]
            if res.get("Type") == "AWS::SQS::Queue":
                return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
        return name

    def get_att(self, name: str, attribute: str) -> Any:
        res = self.resources.get(name) or {}
        kind = str(res.get("Type", "")) if isinstance(res, dict) else ""
        ref = self.ref(name)
        if attribute == "Arn":
            if kind in (SERVERLESS_FUNCTION, LAMBDA_FUNCTION):
                return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{ref}"
            service = kind.split("::")[1].lower() if kind.count("::") >= 2 else "local"
            return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{ref}"
        if attribute in ("QueueName", "TopicName", "Name"):
            return ref
        service = kind.split("::")[1].lower() if kind.count("::") >= 2 else "local"
        return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{ref}/{attribute}"

    def condition(self, name: str) -> bool:
        if name not in self._evaluated:
            self._evaluated[name] = True  # a cycle counts as true rather than looping
            self._evaluated[name] = bool(self._truth(self.conditions.get(name, True)))
        return self._evaluated[name]

    def _truth(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Fn::Equals":
                a, b = (self.resolve(x) for x in arg)
                return str(a) == str(b)
            if key == "Fn::Not":
                return not self._truth(arg[0])
            if key == "Fn::And":
                return all(self._truth(x) for x in arg)
            if key == "Fn::Or":
                return any(self._truth(x) for x in arg)
            if key == "Condition":
                return self.condition(str(arg))
        return self.resolve(value)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [v for v in (self.resolve(x) for x in value) if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                result = self.ref(str(arg))
                return _NO_VALUE if result is None else result
            if key == "Fn::GetAtt":
                parts = arg.split(".", 1) if isinstance(arg, str) else list(arg)
                return self.get_att(str(parts[0]), str(parts[1]))
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Join":
                sep, items = arg
                return str(sep).join(str(self.resolve(x)) for x in self.resolve(items))
            if key == "Fn::If":
                name, yes, no = arg
                return self.resolve(yes if self.condition(str(name)) else no)
            if key == "Fn::Select":
                index, items = arg
                chosen, i = self.resolve(items), int(self.resolve(index))
                # a stand-in (an ARN made up here) may not split as the real value would
                return (
                    chosen[i]
                    if isinstance(chosen, list) and -len(chosen) <= i < len(chosen)
                    else ""
                )
            if key == "Fn::Split":
                sep, text = arg
                return str(self.resolve(text)).split(str(sep))
            if key == "Fn::FindInMap":
                m, k1, k2 = (self.resolve(x) for x in arg[:3])
                return self.mappings[m][k1][k2]
            if key == "Fn::ImportValue":
                return str(self.resolve(arg))
            if key == "Fn::Base64":
                import base64

                return base64.b64encode(str(self.resolve(arg)).encode()).decode()
            if key == "Fn::GetAZs":
                return [f"{REGION}a", f"{REGION}b"]
        return {k: r for k, v in value.items() if (r := self.resolve(v)) is not _NO_VALUE}

    def _sub(self, arg: Any) -> str:
        import re

        text, variables = (arg[0], arg[1]) if isinstance(arg, list) else (arg, {})
        local = {k: self.resolve(v) for k, v in (variables or {}).items()}

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in local:
                return str(local[name])
            if "." in name:
                res, attr = name.split(".", 1)
                return str(self.get_att(res, attr))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", one, str(text))


_NO_VALUE = object()  # AWS::NoValue: the property is removed


# ------------------------------------------------------------------------------ reading
def read_template(path: Path, parameters: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The template with Globals merged into each resource and every intrinsic resolved."""
    try:
        doc = yaml_parse(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("Resources"), dict):
        raise ConfigError(f"{path}: not a SAM template (no Resources)")
    doc = copy.deepcopy(doc)
    params = _parameters(doc, path, parameters or {})
    try:
        globals_ = Globals(doc)
        for logical_id, res in doc["Resources"].items():
            if isinstance(res, dict) and str(res.get("Type", "")).startswith("AWS::Serverless::"):
                res["Properties"] = globals_.merge(
                    res["Type"], res.get("Properties") or {}, logical_id, res.get("IgnoreGlobals")
                )
    except (InvalidGlobalsSectionException, InvalidDocumentException) as exc:
        raise ConfigError(f"{path}: Globals: {exc}") from exc
    Globals.del_section(doc)
    resolver = IntrinsicsResolver(params)
    stand_ins = _StandIns(doc, params)
    for res in doc["Resources"].values():
        if isinstance(res, dict):
            res["Properties"] = stand_ins.resolve(
                resolver.resolve_parameter_refs(res.get("Properties") or {})
            )
            res["Metadata"] = stand_ins.resolve(res.get("Metadata") or {})
    doc["_conditions"] = {name: stand_ins.condition(name) for name in doc.get("Conditions") or {}}
    return doc


def load_sam_template(
    path: Path,
    limits: Limits | None = None,
    parameters: Mapping[str, str] | None = None,
    layer_arns: Mapping[str, str] | None = None,
) -> list[FunctionConfig]:
    """The functions of a SAM template: AWS::Serverless::Function and AWS::Lambda::Function
    resources (Globals applied, intrinsics resolved), with their layers."""
    from lambda_sandbox.config.layers import layer_map

    lim = limits or load_limits()
    doc = read_template(path, parameters)
    resources: dict[str, Any] = doc["Resources"]
    arns = layer_map(path, layer_arns)
    local_layers = {
        lid: layer_from_resource(lid, res, path)
        for lid, res in resources.items()
        if isinstance(res, dict) and res.get("Type") in LAYER_TYPES
    }
    configs = []
    for logical_id, res in resources.items():
        if not isinstance(res, dict) or res.get("Type") not in (
            SERVERLESS_FUNCTION,
            LAMBDA_FUNCTION,
        ):
            continue
        condition = res.get("Condition")
        if condition is not None and not doc["_conditions"].get(condition, True):
            continue  # CloudFormation would not create it
        props = dict(res.get("Properties") or {})
        layers = tuple(
            _layer(entry, local_layers, arns, path) for entry in props.get("Layers") or []
        )
        name = props.pop("FunctionName", None)
        name = name if isinstance(name, str) else logical_id
        configs.append(
            build_config(
                name,
                path,
                props,
                lim,
                logical_id,
                resource_type=res["Type"],
                metadata=res.get("Metadata"),
                layers=layers,
            )
        )
    return configs


def _layer(
    entry: Any, local: Mapping[str, LayerRef], arns: Mapping[str, Path], path: Path
) -> LayerRef:
    if isinstance(entry, str) and entry in local:
        return local[entry]
    if isinstance(entry, str) and entry.startswith("arn:"):
        return resolve_arn(entry, arns, path)
    raise ConfigError(f"{path}: Layers: {entry!r} is neither a layer of the template nor an ARN")
