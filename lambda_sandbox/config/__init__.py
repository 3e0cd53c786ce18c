"""Function definitions: function.yaml folders and AWS SAM templates, read into FunctionConfig."""

from lambda_sandbox.config.function import SERVABLE_RUNTIMES, FunctionConfig, validate_update
from lambda_sandbox.config.function_yaml import discover_functions, load_function
from lambda_sandbox.config.sam import load_sam_template

__all__ = [
    "SERVABLE_RUNTIMES",
    "FunctionConfig",
    "discover_functions",
    "load_function",
    "load_sam_template",
    "validate_update",
]
