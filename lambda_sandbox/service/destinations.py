"""Where an asynchronous invocation's outcome goes: the on-success and on-failure
destinations of its event invoke configuration, and the function's dead-letter queue.

A destination gets Lambda's invocation record (version 1.0: requestContext with the
condition, the request and, when the function ran, its response), as AWS sends it
(LocalStack's snapshot tests test_assess_lambda_destination_invocation, test_retries,
test_maxeventage, test_reserved_concurrency and test_invoke_lambda_eventbridge, recorded
against AWS). Another function of the sandbox receives it as an asynchronous event; an SQS
queue, SNS topic or EventBridge bus receives it on the AWS side the functions use (the
embedded one by default). A dead-letter queue gets the event itself, with the RequestID,
ErrorCode and ErrorMessage attributes. A delivery that fails is written to the function's log;
it never fails the event's own handling.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from lambda_sandbox.log_lines import sandbox_line
from lambda_sandbox.service.environment_variables import AwsSide
from lambda_sandbox.service.function_state import FunctionState
from lambda_sandbox.service.invoke import InvokeOutcome, trace_id

__all__ = ["Destinations", "invocation_record"]

# (a function's name or ARN, the record) -> None: an asynchronous invoke inside the sandbox
InvokeEvent = Callable[[str, bytes], None]


def _json_or_text(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return data.decode("utf-8", "replace")


def invocation_record(
    request_id: str,
    invoked_arn: str,
    condition: str,
    attempts: int,
    payload: bytes,
    outcome: InvokeOutcome | None,
) -> dict[str, Any]:
    """Lambda's record of one asynchronous invocation (`outcome`: its last attempt's)."""
    now = time.time()
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
        + f".{int(now % 1 * 1000):03d}Z",
        "requestContext": {
            "requestId": request_id,
            "functionArn": invoked_arn,
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "requestPayload": _json_or_text(payload),
    }
    if outcome is not None:
        response: dict[str, Any] = {"statusCode": 200, "executedVersion": outcome.executed_version}
        if outcome.function_error:
            response["functionError"] = outcome.function_error
        record["responseContext"] = response
        record["responsePayload"] = _json_or_text(outcome.payload) if outcome.payload else None
    return record


class Destinations:
    def __init__(self, aws: AwsSide, invoke_event: InvokeEvent) -> None:
        self.aws = aws
        self._invoke_event = invoke_event

    def _client(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.aws.endpoint_url,
            region_name=self.aws.region,
            aws_access_key_id=self.aws.access_key_id,
            aws_secret_access_key=self.aws.secret_access_key,
            aws_session_token=self.aws.session_token,
        )

    async def send(self, state: FunctionState, arn: str, record: dict[str, Any]) -> None:
        """Deliver `record` to the destination `arn`."""
        service = arn.split(":")[2]
        body = json.dumps(record)
        if service == "lambda":
            self._invoke_event(arn, body.encode())
            return
        success = record["requestContext"]["condition"] == "Success"
        await self._on_aws(state, arn, lambda: self._aws_send(service, arn, body, success))

    async def dead_letter(
        self, state: FunctionState, arn: str, request_id: str, payload: bytes, error: str
    ) -> None:
        """The event itself to the function's DeadLetterConfig target (SQS or SNS)."""
        attributes = {
            "RequestID": {"DataType": "String", "StringValue": request_id},
            "ErrorCode": {"DataType": "Number", "StringValue": "200"},
            "ErrorMessage": {"DataType": "String", "StringValue": error or "Unhandled"},
        }
        body = payload.decode("utf-8", "replace")

        def send() -> None:
            if arn.split(":")[2] == "sns":
                self._client("sns").publish(
                    TopicArn=arn, Message=body, MessageAttributes=attributes
                )
            else:
                url = self._queue_url(arn)
                self._client("sqs").send_message(
                    QueueUrl=url, MessageBody=body, MessageAttributes=attributes
                )

        await self._on_aws(state, arn, send)

    async def _on_aws(self, state: FunctionState, arn: str, call: Callable[[], None]) -> None:
        if not self.aws.endpoint_url:
            state.log.write([sandbox_line("", f"destination {arn} not delivered: the sandbox "
                             "runs without an AWS side (start it without --no-aws)")])  # fmt: skip
            return
        try:
            await asyncio.to_thread(call)
        except Exception as exc:  # the AWS side said no: the event's own handling goes on
            state.log.write([sandbox_line("", f"destination {arn} not delivered: {exc}")])

    def _queue_url(self, arn: str) -> str:
        parts = arn.split(":")
        answer = self._client("sqs").get_queue_url(
            QueueName=parts[5], QueueOwnerAWSAccountId=parts[4]
        )
        return str(answer["QueueUrl"])

    def _aws_send(self, service: str, arn: str, body: str, success: bool) -> None:
        if service == "sqs":  # with the trace header Lambda's own sends carry
            trace = {"AWSTraceHeader": {"DataType": "String", "StringValue": trace_id()}}
            self._client("sqs").send_message(
                QueueUrl=self._queue_url(arn), MessageBody=body, MessageSystemAttributes=trace
            )
        elif service == "sns":
            self._client("sns").publish(TopicArn=arn, Message=body)
        elif service == "events":
            result = "Success" if success else "Failure"
            record = json.loads(body)
            self._client("events").put_events(
                Entries=[
                    {
                        "Source": "lambda",
                        "DetailType": f"Lambda Function Invocation Result - {result}",
                        "Detail": body,
                        "EventBusName": arn,
                        "Resources": [record["requestContext"]["functionArn"]],
                    }
                ]
            )
