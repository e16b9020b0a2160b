#!/usr/bin/env bash
#  deploy_systemd: checks the units in systemd/ without a running systemd.
#    systemd_test.sh UNIT_DIR BIN_DIR
#  1. systemd-analyze verify on a copy whose ExecStart points into BIN_DIR (the build's binaries);
#     a binary not built yet is replaced by /bin/true, and the output says so. verify exits 0 on
#     unknown keys and bad values (it only warns), so any output at all is a failure; a unit with a
#     bogus key is verified first to prove that such warnings do reach us here.
#  2. systemd-analyze security --offline: the exposure score stays at or below EXPOSURE_MAX.
#  3. Plain checks that each unit carries the directives the deployment relies on.
set -uo pipefail

unit_dir=${1:?usage: systemd_test.sh UNIT_DIR BIN_DIR}
bin_dir=${2:?usage: systemd_test.sh UNIT_DIR BIN_DIR}
services=(configd scheduler healthmon modelsync ingress)
EXPOSURE_MAX=25         #  2.5 on systemd's 0-10 scale; the units score 1.7

failures=0
fail () { echo "FAIL: $*"; failures=$((failures + 1)); }
note () { echo "note: $*"; }

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "FAIL: systemd-analyze not found: install Debian package 'systemd' (scripts/install-deps.sh)"
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
units=()
for name in "${services[@]}"; do
    units+=("ollamaflow-$name.service")
done
units+=(ollamaflow-ingress@.service ollamaflow.target)
for unit in "${units[@]}"; do
    if [ ! -f "$unit_dir/$unit" ]; then
        fail "$unit is missing from $unit_dir"
    else
        cp "$unit_dir/$unit" "$work/"
    fi
done
[ "$failures" -eq 0 ] || exit 1

#  The directives of one section of a unit, one per line, comments and blank lines dropped.
s_section () {
    awk -v want="[$2]" '
        /^[ \t]*[#;]/ || /^[ \t]*$/ { next }
        /^\[/ { cur = $0; next }
        cur == want { print }' "$1"
}

#  Asserts that a unit's section holds exactly this line.
s_expect () {
    local unit=$1 section=$2 line=$3
    if ! s_section "$unit_dir/$unit" "$section" | grep -qxF -- "$line"; then
        fail "$unit: [$section] lacks '$line'"
    fi
}

# ---- 1. systemd-analyze verify -------------------------------------------------------------
#  Point ExecStart at the build's binaries (verify checks that they exist and are executable).
for unit in "$work"/*.service; do
    exe=$(s_section "$unit" Service | sed -n 's/^ExecStart=\([^ ]*\).*/\1/p')
    name=$(basename "$exe")
    if [ -x "$bin_dir/$name" ]; then
        target="$bin_dir/$name"
    else
        target=/bin/true
        note "$(basename "$unit"): $bin_dir/$name not built yet, verifying with ExecStart=/bin/true"
    fi
    sed -i "s#^ExecStart=$exe#ExecStart=$target#" "$unit"
done

#  Runs verify from the copy's directory; prints everything it said, returns its exit status.
s_verify () {
    (cd "$1" && shift && SYSTEMD_LOG_COLOR=0 systemd-analyze verify --man=no "$@" 2>&1)
}

#  Negative control: a unit with an unknown key must produce a warning, else this check is blind.
mkdir "$work/control"
sed 's/^\[Service\]$/[Service]\nNoSuchDirective=yes/' "$work/ollamaflow-configd.service" \
    > "$work/control/ollamaflow-configd.service"
control=$(s_verify "$work/control" ollamaflow-configd.service)
if ! grep -q NoSuchDirective <<<"$control"; then
    fail "systemd-analyze verify did not report a deliberately broken unit; output: '$control'"
fi

out=$(s_verify "$work" "${units[@]}")
status=$?
if [ "$status" -ne 0 ] || [ -n "$out" ]; then
    fail "systemd-analyze verify (exit $status):"
    printf '%s\n' "$out" | sed 's/^/    /'
else
    echo "ok: systemd-analyze verify: ${#units[@]} units, no errors and no warnings"
fi

# ---- 2. exposure score -----------------------------------------------------------------------
service_units=()
for unit in "${units[@]}"; do
    [[ $unit == *.service ]] && service_units+=("$unit")
done
out=$(cd "$work" && systemd-analyze security --offline=yes --man=no --no-pager \
          --threshold="$EXPOSURE_MAX" "${service_units[@]}" 2>&1)
status=$?
if [ "$status" -ne 0 ]; then
    fail "systemd-analyze security: exposure above $EXPOSURE_MAX/100 (exit $status):"
    grep -E 'Overall|rror' <<<"$out" | sed 's/^/    /'
else
    echo "ok: systemd-analyze security: every service at or below $EXPOSURE_MAX/100"
fi

# ---- 3. the directives each unit must carry -------------------------------------------------
hardening=(
    NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes PrivateDevices=yes
    LockPersonality=yes MemoryDenyWriteExecute=yes RestrictRealtime=yes
    SystemCallArchitectures=native ProtectKernelTunables=yes ProtectKernelModules=yes
    ProtectControlGroups=yes CapabilityBoundingSet=
)
allowed_families=" AF_UNIX AF_INET AF_INET6 AF_NETLINK "
config=/etc/ollamaflow/ollamaflow.json

for name in "${services[@]}" ingress@; do
    unit="ollamaflow-$name.service"
    exe="ollamaflow-${name%@}"
    before=$failures
    s_expect "$unit" Unit PartOf=ollamaflow.target
    s_expect "$unit" Install WantedBy=ollamaflow.target
    for line in Type=notify NotifyAccess=main Restart=always DynamicUser=yes User=ollamaflow \
                ConfigurationDirectory=ollamaflow "Environment=OLLAMAFLOW_CONFIG=$config" \
                "ExecStart=/usr/local/bin/$exe --config $config" "${hardening[@]}"; do
        s_expect "$unit" Service "$line"
    done
    service=$(s_section "$unit_dir/$unit" Service)
    restart_sec=$(sed -n 's/^RestartSec=//p' <<<"$service")
    [[ $restart_sec =~ ^([1-5](s|sec)?|[0-9]+ms)$ ]] || fail "$unit: RestartSec='$restart_sec' is not short (1-5s)"
    families=$(sed -n 's/^RestrictAddressFamilies=//p' <<<"$service")
    for family in AF_UNIX AF_INET AF_INET6; do
        [[ " $families " == *" $family "* ]] || fail "$unit: RestrictAddressFamilies lacks $family"
    done
    for family in $families; do
        [[ $allowed_families == *" $family "* ]] || fail "$unit: RestrictAddressFamilies allows $family"
    done
    if [ "$name" = configd ]; then
        s_expect "$unit" Service StateDirectory=ollamaflow
        s_expect "$unit" Service Environment=OLLAMAFLOW_DATABASE=/var/lib/ollamaflow/ollamaflow.db
    else
        grep -q OLLAMAFLOW_DATABASE <<<"$service" && fail "$unit: only configd may set OLLAMAFLOW_DATABASE"
        grep -q '^StateDirectory=' <<<"$service" && fail "$unit: only configd owns the state directory"
        s_section "$unit_dir/$unit" Unit | grep -q '^After=.*ollamaflow-configd\.service' \
            || fail "$unit: not ordered After=ollamaflow-configd.service"
    fi
    if [ "${name%@}" = ingress ]; then
        s_expect "$unit" Service LimitNOFILE=65536
        s_expect "$unit" Service Environment=OLLAMAFLOW_DEPLOYMENT=ollamaflow
    fi
    [ "$failures" -eq "$before" ] && echo "ok: $unit carries the required directives"
done

wants=$(s_section "$unit_dir/ollamaflow.target" Unit | sed -n 's/^Wants=//p' | tr ' ' '\n')
for name in "${services[@]}"; do
    grep -qxF "ollamaflow-$name.service" <<<"$wants" || fail "ollamaflow.target does not want ollamaflow-$name.service"
done
s_expect ollamaflow.target Install WantedBy=multi-user.target

if [ "$failures" -ne 0 ]; then
    echo "deploy_systemd: $failures failure(s)"
    exit 1
fi
echo "deploy_systemd: all checks passed"
