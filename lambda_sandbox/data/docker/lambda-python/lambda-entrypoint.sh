#!/bin/sh
# The handler is the one argument (the image's CMD). Outside Lambda (no AWS_LAMBDA_RUNTIME_API)
# the RIE serves the Runtime API and the invoke endpoint on :8080 and starts the runtime.
if [ $# -ne 1 ]; then
  echo "entrypoint requires the handler name to be the first argument" 1>&2
  exit 142
fi
export _HANDLER="$1"
if [ -z "${AWS_LAMBDA_RUNTIME_API}" ]; then
  exec /usr/local/bin/aws-lambda-rie /var/runtime/bootstrap
fi
exec /var/runtime/bootstrap
