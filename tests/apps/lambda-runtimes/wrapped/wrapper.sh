#!/bin/bash
# An exec wrapper: Lambda runs it with the runtime's command line as its arguments.
export WRAPPED_BY="wrapper.sh"
export WRAPPED_ARGC="$#"
exec "$@"
