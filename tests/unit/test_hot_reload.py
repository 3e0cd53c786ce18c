"""What a change reloads: the functions whose code or layers changed, or the definitions."""

from __future__ import annotations

from pathlib import Path

from lambda_sandbox.config import load_sam_template
from lambda_sandbox.hot_reload import affected, watched_paths

TEMPLATE = """\
Resources:
  Shared:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: layer/}
  WithLayer:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: a/, Handler: app.handler, Runtime: python3.11, Layers: [!Ref Shared]}
  Alone:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: b/, Handler: app.handler, Runtime: python3.11}
"""


def test_a_layer_change_reloads_the_functions_that_use_it(tmp_path: Path) -> None:
    for folder in ("a", "b", "layer/python"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    configs = load_sam_template(tmp_path / "template.yaml")
    assert (tmp_path / "layer") in watched_paths(configs)
    assert affected(configs, [tmp_path / "layer" / "python" / "util.py"]) == ({"WithLayer"}, False)
    assert affected(configs, [tmp_path / "b" / "app.py"]) == ({"Alone"}, False)
    names, definitions = affected(configs, [tmp_path / "template.yaml"])
    assert definitions and names == {"WithLayer", "Alone"}
    assert affected(configs, [tmp_path / "a" / ".sandbox" / "x"]) == (set(), False)
