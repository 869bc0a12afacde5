# scripts/lib/limits-off.sh — sourced by the benchmark scripts: the roomcore flags that turn the
# abuse limits off for a benchmark run (on, they would throttle the offered load). One list, so
# every script measures the same server.
# shellcheck disable=SC2034  # used by the scripts that source this file
LIMITS_OFF=(
  --max-conns-per-ip 0 --max-total-connections 0 --ws-max-msgs-per-sec 0 --max-msgs-per-10s 0
  --max-bytes-per-10s 0 --max-room-creates-per-ip-per-min 0 --http-api-rate-per-min 0
  --http-auth-rate-per-min 0
)
