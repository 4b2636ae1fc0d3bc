#!/usr/bin/env bash
# The package as users get it: the wheel, without extras, in a fresh environment outside the checkout,
# must validate a bundle, import a KDA and run one federated round (every dependency it needs is declared).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
PYTHON=${PYTHON:-python3}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

"$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$WORK/dist" .
"$PYTHON" -m venv "$WORK/venv"
. "$WORK/venv/bin/activate"
python -m pip install --quiet --upgrade pip
python -m pip install --quiet "torch==${TORCH_VERSION:-2.13.0}"   # the CPU build, as setup.sh does
python -m pip install --quiet "$WORK"/dist/nvflare_fdd-*.whl
cp -r "$REPO/tests/kmelloddy/bundles/mlp" "$WORK/bundle"
# K-MELLODDY's mlp hard-codes cuda:0; the site's device instead, as `fdd validate` advises
sed -i 's/^DEVICE = torch.device("cuda:0")$/from model_manager import DEVICE/' "$WORK/bundle/train_eval.py"
cd "$WORK"
python - <<'PY'
import csv

header = ["chemical_id", "smiles_structure_parent", "test", "measurement_type", "measurement_relation",
          "measurement_value", "data_type"]
for site, offset in (("site_a", 0.0), ("site_b", 1.0)):
    with open(f"{site}.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for i in range(24):
            smiles = "C" * (1 + i % 7) + "O" * (i % 3)
            writer.writerow([f"CHEM-{i:04d}", smiles, "Solubility", "logS", "=", -(i % 9) * 0.5 - offset, "ADMET"])
PY
fdd validate bundle
for site in site_a site_b; do
    fdd kda import --kda "sqlite:///$WORK/$site.db" --institution "$site" "$site.csv"
done
fdd run bundle --rounds 1 --out out --timeout 300 \
    --site "site_a=sqlite:///$WORK/site_a.db" --site "site_b=sqlite:///$WORK/site_b.db"
test -s out/global_model.safetensors
echo "check-wheel: the wheel without extras validated, imported and ran a round"
