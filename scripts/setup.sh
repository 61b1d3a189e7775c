#!/usr/bin/env bash
# Set up everything `make run` and `make test` need, from a fresh clone:
#   1. Debian packages used by later features and their tests
#      (espeak-ng, sox, ffmpeg, chromium, chromium-driver);
#   2. the ML virtual environment .venv/ (Python 3.11): CPU torch first and
#      alone, then requirements/ml.txt;
#   3. the Rasa virtual environment .venv-rasa/ (Python 3.10): requirements/rasa.txt.
#
# Idempotent: each venv holds a stamp file with a hash of its requirements
# (plus the torch version and the Python version), so a second run is a quick
# no-op and editing a requirements file reinstalls that venv's packages.
#
# Usage: scripts/setup.sh [--no-apt] [--force]
#   --no-apt   do not install Debian packages (only report the missing ones)
#   --force    reinstall the Python packages even when the stamps match
# Environment: SETUP_NO_APT=1 is the same as --no-apt.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# Bump STAMP_VERSION when the install steps below change in a way that needs
# existing venvs to be redone.
STAMP_VERSION=1
STAMP_FILE=.setup-stamp
TORCH_VERSION=2.13.0
ML_VENV=.venv
ML_PYTHON_VERSION=3.11
ML_REQ=requirements/ml.txt
RASA_VENV=.venv-rasa
RASA_PYTHON_VERSION=3.10
RASA_REQ=requirements/rasa.txt
# Debian package -> command it provides (used where dpkg is not available).
APT_PACKAGES=(espeak-ng sox ffmpeg chromium chromium-driver)
declare -A APT_COMMANDS=(
    [espeak-ng]=espeak-ng [sox]=sox [ffmpeg]=ffmpeg [chromium]=chromium [chromium-driver]=chromedriver
)

NO_APT="${SETUP_NO_APT:-0}"
FORCE=0
for arg in "$@"; do
    case "$arg" in
        --no-apt) NO_APT=1 ;;
        --force) FORCE=1 ;;
        -h|--help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "setup.sh: unknown option: $arg (try --help)" >&2; exit 2 ;;
    esac
done

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
export RASA_TELEMETRY_ENABLED=false

log() { printf '[setup] %s\n' "$*"; }
warn() { printf '[setup] WARNING: %s\n' "$*" >&2; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

START_ALL=$SECONDS
step_start=0
step() { step_start=$SECONDS; log "== $* =="; }
step_done() { log "   done in $((SECONDS - step_start))s"; }

# --------------------------------------------------------------------- Python

# Print the real path of a working python<version> interpreter (with venv), or fail.
find_python() {
    local want="$1" cand real pyenv_root=""
    local -a cands=()
    if command -v pyenv >/dev/null 2>&1; then
        pyenv_root="$(pyenv root 2>/dev/null || true)"
    fi
    # On PATH (a pyenv shim fails unless pyenv's version allows it: checked below).
    cands+=("python${want}")
    # pyenv installations, highest patch release first.
    local root
    for root in "$pyenv_root" "${PYENV_ROOT:-}" "${HOME:-/root}/.pyenv" /root/.pyenv; do
        [ -n "$root" ] && [ -d "$root/versions" ] || continue
        while IFS= read -r cand; do
            cands+=("$cand")
        done < <(ls -d "$root/versions/${want}"*/bin/"python${want}" 2>/dev/null | sort -rV)
    done
    cands+=("/usr/local/bin/python${want}" "/usr/bin/python${want}")
    for cand in "${cands[@]}"; do
        # The interpreter must run, be the right minor version and have venv.
        real="$("$cand" -c "
import sys, venv, ensurepip
assert '%d.%d' % sys.version_info[:2] == '${want}'
print(sys.executable)" 2>/dev/null)" || continue
        [ -n "$real" ] && [ -x "$real" ] || continue
        printf '%s\n' "$real"
        return 0
    done
    return 1
}

# Hash of what a venv's installed state depends on.
stamp_hash() {
    local req="$1" extra="$2"
    { echo "stamp-version ${STAMP_VERSION}"; echo "$extra"; cat "$req"; } | sha256sum | cut -d' ' -f1
}

# venv_ok VENV MAJOR.MINOR: the venv's python runs and is that version.
venv_ok() {
    [ -x "$1/bin/python" ] &&
        "$1/bin/python" -c "import sys; sys.exit('%d.%d' % sys.version_info[:2] != '$2')" 2>/dev/null
}

# make_venv VENV MAJOR.MINOR: create the venv unless a working one is there.
make_venv() {
    local venv="$1" want="$2" py
    if venv_ok "$venv" "$want"; then
        return 0
    fi
    if [ -e "$venv" ]; then
        warn "$venv exists but is not a working Python $want venv: recreating it"
        rm -rf "$venv"
    fi
    py="$(find_python "$want")" || die "Python $want is needed for $venv but was not found.
  Looked for: 'python$want' on PATH (it must actually run: a pyenv shim needs pyenv's
  version to include $want), \$(pyenv root)/versions/$want*/bin/python$want,
  ~/.pyenv and /root/.pyenv, /usr/bin/python$want.
  Install it, e.g. 'pyenv install $want' or 'apt-get install python$want python$want-venv'."
    log "creating $venv with $py"
    "$py" -m venv "$venv"
}

# venv_current VENV HASH: the stamp matches (and --force was not given).
venv_current() {
    [ "$FORCE" = 0 ] && [ -f "$1/$STAMP_FILE" ] && [ "$(cat "$1/$STAMP_FILE")" = "$2" ]
}

setup_ml_venv() {
    step "ML venv $ML_VENV (Python $ML_PYTHON_VERSION): torch==$TORCH_VERSION (CPU) + $ML_REQ"
    [ -f "$ML_REQ" ] || die "$ML_REQ is missing"
    local hash
    hash="$(stamp_hash "$ML_REQ" "torch==$TORCH_VERSION python=$ML_PYTHON_VERSION")"
    if venv_ok "$ML_VENV" "$ML_PYTHON_VERSION" && venv_current "$ML_VENV" "$hash"; then
        log "   up to date (stamp $ML_VENV/$STAMP_FILE matches $ML_REQ)"
        return 0
    fi
    make_venv "$ML_VENV" "$ML_PYTHON_VERSION"
    rm -f "$ML_VENV/$STAMP_FILE"
    local py="$ML_VENV/bin/python"
    log "pip install --upgrade pip"
    "$py" -m pip install --upgrade pip
    # torch first and alone: this takes the CPU wheel on disk. Asking for it
    # again with the requirements below keeps anything from pulling a CUDA build.
    log "pip install torch==$TORCH_VERSION (alone, CPU build)"
    "$py" -m pip install "torch==$TORCH_VERSION"
    log "pip install -r $ML_REQ"
    "$py" -m pip install -r "$ML_REQ" "torch==$TORCH_VERSION"
    if "$py" -m pip show torchvision >/dev/null 2>&1; then
        die "torchvision got installed in $ML_VENV: it breaks beside the CPU torch. Remove what pulled it in from $ML_REQ."
    fi
    "$py" - <<'EOF' || die "torch in .venv is not the CPU build asked for (see above)"
import sys, torch
print(f"[setup]    torch {torch.__version__}, CUDA build: {torch.version.cuda}")
sys.exit(1 if torch.version.cuda else 0)
EOF
    "$py" -m pip check || warn "pip check reports conflicts in $ML_VENV (see above)"
    echo "$hash" >"$ML_VENV/$STAMP_FILE"
    step_done
}

setup_rasa_venv() {
    step "Rasa venv $RASA_VENV (Python $RASA_PYTHON_VERSION): $RASA_REQ"
    [ -f "$RASA_REQ" ] || die "$RASA_REQ is missing"
    local hash
    hash="$(stamp_hash "$RASA_REQ" "python=$RASA_PYTHON_VERSION")"
    if venv_ok "$RASA_VENV" "$RASA_PYTHON_VERSION" && venv_current "$RASA_VENV" "$hash"; then
        log "   up to date (stamp $RASA_VENV/$STAMP_FILE matches $RASA_REQ)"
        return 0
    fi
    make_venv "$RASA_VENV" "$RASA_PYTHON_VERSION"
    rm -f "$RASA_VENV/$STAMP_FILE"
    local py="$RASA_VENV/bin/python"
    if "$py" -m pip show rasa >/dev/null 2>&1; then
        # Rasa pins older setuptools/wheel/packaging: upgrading them again on
        # top of an installed Rasa would only make pip undo it below.
        log "pip install --upgrade pip"
        "$py" -m pip install --upgrade pip
    else
        log "pip install --upgrade pip setuptools wheel"
        "$py" -m pip install --upgrade pip setuptools wheel
    fi
    log "pip install -r $RASA_REQ"
    "$py" -m pip install -r "$RASA_REQ"
    log "checking: $RASA_VENV/bin/rasa --version"
    "$RASA_VENV/bin/rasa" --version 2>/dev/null | sed 's/^/[setup]    /' ||
        die "$RASA_VENV/bin/rasa --version failed"
    echo "$hash" >"$RASA_VENV/$STAMP_FILE"
    step_done
}

# ------------------------------------------------------------ Debian packages

pkg_present() {
    local pkg="$1"
    if command -v dpkg-query >/dev/null 2>&1 &&
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        return 0
    fi
    command -v "${APT_COMMANDS[$pkg]}" >/dev/null 2>&1
}

setup_apt() {
    step "system packages: ${APT_PACKAGES[*]}"
    local -a missing=()
    local pkg
    for pkg in "${APT_PACKAGES[@]}"; do
        pkg_present "$pkg" || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        log "   all present"
        return 0
    fi
    log "   missing: ${missing[*]}"
    local -a sudo=()
    if [ "$NO_APT" = 1 ]; then
        warn "--no-apt given: not installing ${missing[*]} (features and tests that need them will fail or skip)"
        return 0
    elif ! command -v apt-get >/dev/null 2>&1; then
        warn "apt-get is not available: install ${missing[*]} yourself (features and tests that need them will fail or skip)"
        return 0
    elif [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            warn "not root (and no password-less sudo): run 'sudo apt-get install ${missing[*]}' yourself (features and tests that need them will fail or skip)"
            return 0
        fi
    fi
    log "apt-get update"
    "${sudo[@]}" apt-get update -qq
    log "apt-get install --no-install-recommends ${missing[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    for pkg in "${missing[@]}"; do
        pkg_present "$pkg" || die "$pkg is still missing after apt-get install"
    done
    step_done
}

# Rasa training data from the catalog vocabulary, then the Rasa model; both are skipped when
# their inputs (catalog vocabulary, config, domain, data, the parser's code) have not changed.
setup_rasa_model() {
    log "Rasa model (python -m bot train: regenerated data, retrained only when its inputs changed)"
    if [ "${SHOP_SKIP_RASA_TRAIN:-0}" = 1 ]; then
        warn "SHOP_SKIP_RASA_TRAIN=1: not training the Rasa model"
        return 0
    fi
    (cd "$ROOT" && RASA_TELEMETRY_ENABLED=false "$ML_VENV/bin/python" -m bot train) \
        || die "training the Rasa model failed (see the output above)"
}

# ----------------------------------------------------------------------- main

log "setting up $ROOT"
setup_apt
setup_ml_venv
setup_rasa_venv
setup_rasa_model
log "ready in $((SECONDS - START_ALL))s: $ML_VENV (ML, Python $ML_PYTHON_VERSION), $RASA_VENV (Rasa, Python $RASA_PYTHON_VERSION)"
