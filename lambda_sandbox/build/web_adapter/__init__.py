"""The sandbox's stand-in for the AWS Lambda Web Adapter layer: its files go to /opt."""

__all__: list[str] = []
