"""Layers built as `sam build` builds them, and merged at /opt in order."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from lambda_sandbox.build.layers import build_layer, build_opt
from lambda_sandbox.config import load_sam_template
from lambda_sandbox.config.layers import WEB_ADAPTER, LayerRef
from lambda_sandbox.exceptions import BuildError, ConfigError

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Made:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: made/}
    Metadata: {BuildMethod: makefile}
  Plain:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: plain/}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.11
      Layers: [!Ref Made, !Ref Plain, "arn:aws:lambda:us-east-1:123456789012:layer:zipped:3"]
"""


def project(root: Path) -> Path:
    (root / "src").mkdir()
    (root / "src" / "app.py").write_text("def handler(e, c):\n    return 1\n")
    (root / "made").mkdir()
    (root / "made" / "Makefile").write_text(
        "build-Made:\n\tmkdir -p $(ARTIFACTS_DIR)/python\n"
        "\techo 'WHO = \"made\"' > $(ARTIFACTS_DIR)/python/who.py\n"
        "\techo made > $(ARTIFACTS_DIR)/only-made\n"
    )
    (root / "plain" / "python").mkdir(parents=True)
    (root / "plain" / "python" / "who.py").write_text('WHO = "plain"\n')
    with zipfile.ZipFile(root / "zipped.zip", "w") as z:
        z.writestr("bin/tool", "#!/bin/sh\necho tool\n")
    (root / "template.yaml").write_text(TEMPLATE)
    return root / "template.yaml"


def test_layers_merge_in_order_the_later_file_winning(tmp_path: Path) -> None:
    template = project(tmp_path)
    arn = "arn:aws:lambda:us-east-1:123456789012:layer:zipped:3"
    (config,) = load_sam_template(template, layer_arns={arn: str(tmp_path / "zipped.zip")})
    opt = build_opt(config, tmp_path / "build", lambda _m: None)
    assert opt is not None
    assert (opt / "python" / "who.py").read_text() == 'WHO = "plain"\n'  # Plain after Made
    assert (opt / "only-made").read_text() == "made\n"  # the makefile's target ran
    assert (opt / "bin" / "tool").read_text().startswith("#!/bin/sh")  # the mapped zip
    assert not (opt / "Makefile").exists()  # a makefile layer is its ARTIFACTS_DIR only


def test_a_layer_arn_that_cannot_be_had_offline_is_named(tmp_path: Path) -> None:
    template = project(tmp_path)
    with pytest.raises(ConfigError, match="layer:zipped:3 cannot be downloaded offline"):
        load_sam_template(template)


def test_a_failing_makefile_says_which_target(tmp_path: Path) -> None:
    (tmp_path / "Makefile").write_text("build-Broken:\n\tfalse\n")
    layer = LayerRef(name="Broken", content_dir=tmp_path, build_method="makefile")
    with pytest.raises(BuildError, match="make build-Broken failed"):
        build_layer(layer, "python3.11", tmp_path / "build", lambda _m: None)


def test_an_unknown_build_method_says_what_to_do(tmp_path: Path) -> None:
    layer = LayerRef(name="Odd", content_dir=tmp_path, build_method="nodejs20.x")
    with pytest.raises(BuildError, match="map its ARN to the folder"):
        build_layer(layer, "python3.11", tmp_path / "build", lambda _m: None)


def test_the_web_adapter_stand_in_has_its_exec_wrapper(tmp_path: Path) -> None:
    layer = LayerRef(name="arn:aws:lambda:us-east-1:753240598075:layer:LambdaAdapterLayerX86:25",
                     builtin=WEB_ADAPTER)  # fmt: skip
    built = build_layer(layer, "python3.12", tmp_path / "build", lambda _m: None)
    bootstrap = built / "bootstrap"
    assert bootstrap.stat().st_mode & 0o111, "/opt/bootstrap is executable"
    assert (built / "lambda_web_adapter.py").is_file()


def test_more_than_five_layers_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    arns = [f"arn:aws:lambda:us-east-1:123456789012:layer:l{i}:1" for i in range(6)]
    (tmp_path / "template.yaml").write_text(
        "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        "      CodeUri: src/\n      Handler: app.handler\n      Runtime: python3.11\n"
        f"      Layers: {arns}\n"
    )
    mapping = {arn: str(tmp_path / "src") for arn in arns}
    with pytest.raises(ConfigError, match="at most 5 layers"):
        load_sam_template(tmp_path / "template.yaml", layer_arns=mapping)
