#!/usr/bin/env bash
# Deploy the git checkout this script lives in.
#
# 1. Resolve the release (the full SHA of HEAD) and ask `booty check-config`
#    whether the service would start with it and the host's secrets.env.
# 2. Write DIR/release.env atomically: a temporary file in DIR, then rename.
# 3. Restart the service and wait until the health URL answers from the new
#    process; otherwise restore the previous release.env, restart, and fail.
# 4. Record the release and the deploy in Sentry when sentry-cli is configured.
#
# secrets.env is only ever read, to give check-config what systemd will give
# the service; nothing from it is printed.
set -Eeuo pipefail

usage() {
    cat <<'EOF'
usage: scripts/deploy.sh [--environment ENV] [--etc-dir DIR] [--service NAME]
                         [--health-url URL] [--no-restart]

  --environment ENV   SENTRY_ENVIRONMENT to deploy (default: production)
  --etc-dir DIR       directory of secrets.env and release.env (default: /etc/booty)
  --service NAME      systemd service to restart (default: booty)
  --health-url URL    must answer 2xx after the restart
                      (default: http://127.0.0.1:8000/health)
  --no-restart        only check and write release.env

environment: BOOTY_PYTHON (the service virtualenv's python, which runs this
checkout's booty as systemd does; default: the first python3 on PATH),
DEPLOY_HEALTH_TIMEOUT (seconds, default 30), and SENTRY_AUTH_TOKEN with
SENTRY_ORG and SENTRY_PROJECT to record the release with sentry-cli.
EOF
}

say() { printf 'deploy: %s\n' "$*"; }
warn() { printf 'deploy: warning: %s\n' "$*" >&2; }
die() {
    printf 'deploy: error: %s\n' "$*" >&2
    exit 1
}

environment=production
etc_dir=/etc/booty
service=booty
health_url=http://127.0.0.1:8000/health
restart=yes
health_timeout=${DEPLOY_HEALTH_TIMEOUT:-30}

value_of() {
    [[ $# -ge 2 && -n $2 ]] || {
        usage >&2
        die "$1 needs a value"
    }
}

while [[ $# -gt 0 ]]; do
    case $1 in
        --environment) value_of "$@"; environment=$2; shift 2 ;;
        --etc-dir) value_of "$@"; etc_dir=$2; shift 2 ;;
        --service) value_of "$@"; service=$2; shift 2 ;;
        --health-url) value_of "$@"; health_url=$2; shift 2 ;;
        --no-restart) restart=no; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

# release.env is read by systemd, which would strip quotes and spaces: keep
# the value one plain token so the file means exactly what it says.
[[ $environment =~ ^[A-Za-z0-9._-]{1,64}$ ]] ||
    die "--environment must be 1 to 64 of A-Z a-z 0-9 . _ -"
[[ $health_timeout =~ ^[0-9]+$ ]] || die "DEPLOY_HEALTH_TIMEOUT must be a number of seconds"
[[ -d $etc_dir ]] || die "$etc_dir is not a directory"

repo=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
sha=$(git -C "$repo" rev-parse --verify --quiet 'HEAD^{commit}') ||
    die "cannot resolve HEAD of $repo; nothing written"
[[ $sha =~ ^[0-9a-f]{40}([0-9a-f]{24})?$ ]] || die "unexpected commit id from git; nothing written"

python=${BOOTY_PYTHON:-$(command -v python3 || true)}
[[ -n $python && -x $python ]] || die "no python to run booty (set BOOTY_PYTHON to the service virtualenv's)"

release_env=$etc_dir/release.env
secrets_env=$etc_dir/secrets.env
tmp=
backup=

cleanup() {
    if [[ -n $tmp ]]; then rm -f -- "$tmp"; fi
    if [[ -n $backup ]]; then rm -f -- "$backup"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

exec {lock_fd}>>"$etc_dir/deploy.lock"
flock --nonblock "$lock_fd" || die "another deploy holds $etc_dir/deploy.lock"

# The environment systemd gives the service: the unit's safe default, then
# secrets.env, then the new release.env (a later assignment wins).
service_env=(SENTRY_ENVIRONMENT=production)

# The part of systemd's EnvironmentFile= syntax a hand-written file uses:
# comments, blank lines, KEY=VALUE with optional spaces and quotes.
read_env_file() {
    local line key value
    while IFS= read -r line || [[ -n $line ]]; do
        line=${line#"${line%%[![:space:]]*}"}
        if [[ -z $line || $line == [\#\;]* ]]; then continue; fi
        if [[ ! $line =~ ^([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*=[[:space:]]*(.*)$ ]]; then
            continue
        fi
        key=${BASH_REMATCH[1]}
        value=${BASH_REMATCH[2]}
        value=${value%"${value##*[![:space:]]}"}
        if [[ $value =~ ^\"(.*)\"$ || $value =~ ^\'(.*)\'$ ]]; then
            value=${BASH_REMATCH[1]}
        fi
        service_env+=("$key=$value")
    done <"$1"
}

if [[ -e $secrets_env ]]; then
    read_env_file "$secrets_env"
fi
service_env+=("SENTRY_RELEASE=$sha" "SENTRY_ENVIRONMENT=$environment")

say "checking release $sha for $environment"
# The checkout being deployed, as the unit runs it (`python -m booty.cli` in it).
if ! env -i PATH="$PATH" LANG=C.UTF-8 PYTHONPATH="$repo" "${service_env[@]}" \
    "$python" -m booty.cli check-config >/dev/null; then
    die "the service would refuse to start (see above); $release_env left unchanged"
fi

tmp=$(mktemp -- "$etc_dir/.release.env.XXXXXX")
printf 'SENTRY_RELEASE=%s\nSENTRY_ENVIRONMENT=%s\n' "$sha" "$environment" >"$tmp"
chmod 0644 -- "$tmp"
sync -- "$tmp"
if [[ -e $release_env ]]; then
    backup=$(mktemp -- "$etc_dir/.release.env.previous.XXXXXX")
    cp -p -- "$release_env" "$backup"
fi
mv -fT -- "$tmp" "$release_env"
tmp=
say "wrote $release_env"

healthy() {
    local pid deadline=$((SECONDS + health_timeout))
    systemctl restart -- "$service" || return 1
    pid=$(systemctl show --property=MainPID --value -- "$service")
    while ((SECONDS < deadline)); do
        systemctl is-active --quiet -- "$service" || return 1
        if curl --fail --silent --output /dev/null --max-time 2 "$health_url"; then
            # The answer counts only if it came while the restarted process lived.
            [[ $pid != 0 && $(systemctl show --property=MainPID --value -- "$service") == "$pid" ]]
            return
        fi
        sleep 0.5
    done
    return 1
}

record_in_sentry() {
    if [[ -z ${SENTRY_AUTH_TOKEN:-} ]]; then return 0; fi
    if [[ -z ${SENTRY_ORG:-} || -z ${SENTRY_PROJECT:-} ]]; then
        warn "SENTRY_AUTH_TOKEN is set without SENTRY_ORG and SENTRY_PROJECT; release not recorded"
        return 0
    fi
    if ! command -v sentry-cli >/dev/null; then
        warn "sentry-cli is not installed; release not recorded in Sentry"
        return 0
    fi
    if (
        cd -- "$repo" &&
            timeout 120 sentry-cli releases new "$sha" &&
            timeout 120 sentry-cli releases set-commits "$sha" --auto --ignore-missing &&
            timeout 120 sentry-cli releases finalize "$sha" &&
            timeout 120 sentry-cli deploys new --release "$sha" -e "$environment"
    ); then
        say "recorded release $sha and its deploy to $environment in Sentry"
    else
        warn "recording the release in Sentry failed; the deploy itself succeeded"
    fi
}

if [[ $restart == yes ]]; then
    say "restarting $service"
    if ! healthy; then
        warn "$service did not answer $health_url within ${health_timeout}s; rolling back"
        if [[ -n $backup ]]; then
            mv -fT -- "$backup" "$release_env"
            backup=
        else
            rm -f -- "$release_env"
        fi
        if healthy; then
            die "rolled back to the previous release.env; $service is healthy on it"
        fi
        die "rolled back to the previous release.env, but $service is not healthy on it either"
    fi
    say "$service is healthy on $sha"
fi

record_in_sentry
