handler () {
  EVENT_DATA=$1
  echo "{\"custom\": true, \"event\": $EVENT_DATA, \"cwd\": \"$(pwd)\", \"runtime_dir\": \"$LAMBDA_RUNTIME_DIR\"}"
}
