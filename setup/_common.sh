# Shared prerequisites for setup/run-tests and setup/demo (sourced, not run).
#
# Odoo 18 itself is a prerequisite and is never installed here. What this file
# does provide: find Odoo and its Python, install the missing Debian packages,
# start the local PostgreSQL cluster with a role for the current user, and
# install the repository's Python requirements into Odoo's virtualenv.
# shellcheck shell=bash

DM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DEBIAN_FRONTEND=noninteractive

dm_say() { printf '==> %s\n' "$*"; }
dm_warn() { printf 'warning: %s\n' "$*" >&2; }
dm_err() { printf 'error: %s\n' "$*" >&2; }

# Run a command as root: directly when we are root, else through sudo.
dm_as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        dm_err "root rights needed for: $*"
        return 1
    fi
}

# Run a command as the postgres OS user (local cluster administration).
dm_as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        sudo -n -u postgres "$@"
    fi
}

# Sets DM_ODOO (the odoo command), DM_PY (the python of its virtualenv),
# DM_ODOO_ADDONS (Odoo's own addons dirs) and DM_ADDONS_PATH (those plus this
# repository). Returns 2 with instructions when Odoo 18 is not installed.
dm_find_odoo() {
    DM_ODOO="$(command -v odoo 2>/dev/null || true)"
    if [ -z "$DM_ODOO" ] && [ -x /opt/odoo-venv/bin/odoo ]; then
        DM_ODOO=/opt/odoo-venv/bin/odoo
    fi
    if [ -z "$DM_ODOO" ]; then
        cat >&2 <<'EOF'
error: Odoo 18 was not found (no `odoo` on PATH, no /opt/odoo-venv/bin/odoo).
  Odoo 18.0 is a prerequisite; install it once, for example:
    git clone --depth 1 --branch 18.0 https://github.com/odoo/odoo /opt/odoo
    python3 -m venv /opt/odoo-venv
    /opt/odoo-venv/bin/pip install -r /opt/odoo/requirements.txt -e /opt/odoo
  (the layout of OCA's CI image, ghcr.io/oca/oca-ci/py3.10-odoo18.0), then
  run this command again.
EOF
        return 2
    fi
    DM_ODOO="$(readlink -f "$DM_ODOO")"
    DM_PY="$(dirname "$DM_ODOO")/python"
    if [ ! -x "$DM_PY" ]; then
        # Not a virtualenv script: use the interpreter of its shebang.
        DM_PY="$(head -n1 "$DM_ODOO" | sed -e 's/^#! *//' -e 's/ .*//')"
    fi
    local odoo_pkg version
    if ! odoo_pkg="$("$DM_PY" -c 'import odoo, os; print(os.path.dirname(odoo.__file__))' 2>/dev/null)"; then
        dm_err "$DM_PY cannot import odoo (found via $DM_ODOO)"
        return 2
    fi
    version="$("$DM_PY" -c 'import odoo.release as r; print(r.version_info[0])' 2>/dev/null || true)"
    if [ "$version" != "18" ]; then
        dm_warn "this addon targets Odoo 18; $DM_ODOO is Odoo ${version:-?}"
    fi
    DM_ODOO_ADDONS=""
    local d
    for d in "$odoo_pkg/addons" "$(dirname "$odoo_pkg")/addons"; do
        if [ -d "$d" ]; then
            DM_ODOO_ADDONS="${DM_ODOO_ADDONS:+$DM_ODOO_ADDONS,}$d"
        fi
    done
    DM_ADDONS_PATH="$DM_ODOO_ADDONS,$DM_ROOT"
    export DM_ODOO DM_PY DM_ODOO_ADDONS DM_ADDONS_PATH
    dm_say "Odoo: $DM_ODOO (python $DM_PY)"
}

# A PostgreSQL server elsewhere (PGHOST naming another machine, as in OCA's CI
# container with its postgres service) needs no local server.
dm_pg_is_remote() {
    case "${PGHOST:-}" in
        "" | localhost | 127.* | ::1 | /*) return 1 ;;
        *) return 0 ;;
    esac
}

dm_have_browser() {
    local b
    for b in google-chrome chromium chromium-browser google-chrome-stable; do
        command -v "$b" >/dev/null 2>&1 && return 0
    done
    return 1
}

# Install what is missing among the Debian packages the tests and the demo
# need. A package counts as present when dpkg knows it or when the command it
# provides is already there (other distributions, CI images).
dm_ensure_system_packages() {
    local missing=()
    _dm_need() { # package, then a test command that succeeds when present
        local pkg="$1"
        shift
        if dpkg -s "$pkg" >/dev/null 2>&1 || "$@" >/dev/null 2>&1; then
            return 0
        fi
        missing+=("$pkg")
    }
    if ! dm_pg_is_remote; then
        _dm_need postgresql command -v pg_ctlcluster
    fi
    _dm_need postgresql-client command -v psql
    _dm_need openssh-server test -x /usr/sbin/sshd
    _dm_need openssh-client command -v ssh-keygen
    _dm_need chromium dm_have_browser
    _dm_need gettext command -v msgfmt
    _dm_need rsync command -v rsync
    _dm_need git command -v git
    # The test reports are printed to PDF by Odoo through wkhtmltopdf.
    _dm_need wkhtmltopdf command -v wkhtmltopdf
    unset -f _dm_need
    [ "${#missing[@]}" -eq 0 ] && return 0
    dm_say "installing system packages: ${missing[*]}"
    if ! command -v apt-get >/dev/null 2>&1; then
        dm_warn "no apt-get here: install ${missing[*]} yourself"
        return 0
    fi
    if ! dm_as_root apt-get update -qq ||
        ! dm_as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
        dm_warn "could not install ${missing[*]}; continuing without them"
    fi
}

# Start the local cluster listening on PGPORT (5432) when it is down, wait for
# it, and make sure the current OS user has a superuser role (Odoo refuses to
# run as "postgres").
dm_ensure_postgres() {
    if [ "$(id -u)" -eq 0 ]; then
        mkdir -p /run/sshd # sshd as root refuses to start without it
    fi
    if dm_pg_is_remote; then
        dm_say "PostgreSQL: remote server $PGHOST"
        _dm_wait_pg || { dm_err "PostgreSQL at $PGHOST is not answering"; return 1; }
        return 0
    fi
    local port="${PGPORT:-5432}"
    if ! pg_isready -q -p "$port" 2>/dev/null; then
        local cluster=""
        if command -v pg_lsclusters >/dev/null 2>&1; then
            cluster="$(pg_lsclusters -h 2>/dev/null | awk -v p="$port" '$3 == p {print $1 " " $2; exit}')"
        fi
        if [ -n "$cluster" ]; then
            dm_say "starting PostgreSQL cluster $cluster"
            # shellcheck disable=SC2086  # "version name"
            dm_as_root pg_ctlcluster $cluster start || true
        elif command -v pg_createcluster >/dev/null 2>&1; then
            local version
            version="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n1)"
            dm_say "creating PostgreSQL cluster $version main on port $port"
            dm_as_root pg_createcluster "$version" main --port "$port" --start || true
        else
            dm_as_root service postgresql start || true
        fi
        _dm_wait_pg || { dm_err "PostgreSQL does not answer on port $port"; return 1; }
    fi
    local user
    user="$(id -un)"
    if [ "$user" = postgres ]; then
        dm_err "Odoo refuses to run as the postgres user; run this as another user"
        return 1
    fi
    if ! psql -d postgres -XtAc 'select 1' >/dev/null 2>&1; then
        dm_say "creating PostgreSQL role $user (superuser)"
        dm_as_postgres createuser -s "$user"
    fi
}

_dm_wait_pg() {
    local i
    for i in $(seq 1 60); do
        pg_isready -q 2>/dev/null && return 0
        [ "$i" -eq 1 ] && dm_say "waiting for PostgreSQL..."
        sleep 1
    done
    return 1
}

# Install requirements.txt (and, with "test" as $1, test-requirements.txt) into
# Odoo's virtualenv. Quiet and fast when everything is already satisfied.
dm_ensure_python_requirements() {
    local reqs=(-r "$DM_ROOT/requirements.txt")
    if [ "${1:-}" = test ]; then
        reqs+=(-r "$DM_ROOT/test-requirements.txt")
    fi
    local help constraint args=(-q --disable-pip-version-check)
    help="$("$DM_PY" -m pip install --help 2>/dev/null || true)"
    constraint="$(mktemp)"
    # Old sdists do not build with setuptools 70+ (pkg_resources changes).
    echo 'setuptools<70' >"$constraint"
    if grep -q -- '--build-constraint' <<<"$help"; then
        args+=(--build-constraint "$constraint")
    fi
    if grep -q -- '--root-user-action' <<<"$help"; then
        args+=(--root-user-action=ignore)
    fi
    local rc=0 out
    if grep -q -- '--build-constraint' <<<"$help"; then
        out="$("$DM_PY" -m pip install "${args[@]}" "${reqs[@]}" 2>&1)" || rc=$?
    else
        # Older pip: PIP_CONSTRAINT also reaches the isolated build environments.
        out="$(PIP_CONSTRAINT="$constraint" "$DM_PY" -m pip install "${args[@]}" "${reqs[@]}" 2>&1)" || rc=$?
    fi
    rm -f "$constraint"
    # pip repeats a notice per configured find-links/index location: noise.
    out="$(grep -v -E 'Location .* is ignored|^$' <<<"$out" || true)"
    [ -n "$out" ] && printf '%s\n' "$out"
    if [ "$rc" -ne 0 ]; then
        dm_err "pip could not install the requirements into $(dirname "$DM_PY")"
        return "$rc"
    fi
}

# A TCP port nobody listens on right now.
dm_free_port() {
    "$DM_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

dm_port_in_use() {
    "$DM_PY" - "$1" <<'EOF'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Odoo does
try:
    s.bind(("0.0.0.0", int(sys.argv[1])))
except OSError:
    sys.exit(0)
sys.exit(1)
EOF
}

dm_db_exists() {
    [ "$(psql -d postgres -XtAc "select 1 from pg_database where datname = '$1'" 2>/dev/null)" = 1 ]
}

dm_drop_db() {
    dropdb --if-exists --force "$1" 2>/dev/null || dropdb --if-exists "$1"
}
