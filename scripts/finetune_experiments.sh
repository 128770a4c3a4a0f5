#!/usr/bin/env bash
# The fine-tuning measurements of weights/README.md (issue 17), on offline data that ships with
# Debian: text classification of Debian's fortune collections (scripts/fortunes_tsv.sh): the
# topic (eight English collections) and the language (those English fortunes against seven German
# collections of fortunes-de); and VQA on 2x2 scenes of Fashion-MNIST items
# (scripts/fmnist_vqa.py). Each task: the default model fine-tuned, the same architecture from
# scratch (fresh initialisation, same data and schedule), and the majority-class baseline.
#
#   bash scripts/finetune_experiments.sh [OUT_DIR] [text|lang|vqa|all]
#
# Needs the packages fortunes, fortunes-min, fortunes-de, dataset-fashion-mnist and python3; the
# program in build/ (CLIPPO=path overrides). Writes OUT_DIR (default out/finetune): data, models,
# logs and results.md (one line per run: metric, time; appended). Runs in the foreground for
# about 90 minutes on two CPU cores; Ctrl-C stops the current run with a checkpoint of its last
# step, which `clippo finetune` (the same arguments, --resume OUT_DIR/NAME.h5) continues.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-out/finetune}
what=${2:-all}
clippo=${CLIPPO:-$here/build/clippo}
model=${MODEL:-$here/weights/fmnist.h5}
mkdir -p "$out"
results=$out/results.md

# majority TRAIN DEV: accuracy on DEV of the most frequent label of TRAIN (TEXT<TAB>LABEL files
# with a header line)
majority() {
  awk -F'\t' 'FNR == 1 { next } NR == FNR { n[$2]++; next }
    { if (!picked) { for (l in n) if (n[l] > best || (n[l] == best && l < lab)) { best = n[l]; lab = l }
                     picked = 1 }
      total++; hit += ($2 == lab) }
    END { printf "majority class \"%s\": accuracy %.4f (%d of %d)\n", lab, hit / total, hit, total }' "$1" "$2"
}

# run NAME ARGS...: one fine-tuning run, timed, its JSON result appended to results.md
run() {
  local name=$1
  shift
  local t0 t1
  t0=$(date +%s)
  "$clippo" finetune "$@" --log "$out/$name.jsonl" --save "$out/$name.h5" --json >"$out/$name.json"
  t1=$(date +%s)
  echo "| $name | $(cat "$out/$name.json") | $((t1 - t0)) s |" >>"$results"
}

echo "# $(date -u +%F) $(uname -m), $(nproc) cores; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}" >>"$results"

if [ "$what" = all ] || [ "$what" = text ]; then
  bash "$here/scripts/fortunes_tsv.sh" "$out/fortunes" >"$out/fortunes.counts"
  echo "text: $(majority "$out/fortunes/train.tsv" "$out/fortunes/dev.tsv")" >>"$results"
  common=(--task tsv --train "$out/fortunes/train.tsv" --val "$out/fortunes/dev.tsv"
    --image-size 128 --epochs 10 --batch-size 32 --seed 0)
  run text_finetuned "${common[@]}" --model "$model" --lr 3e-4
  run text_scratch "${common[@]}" --model "$model" --scratch --lr 1e-3
fi

if [ "$what" = all ] || [ "$what" = lang ]; then
  [ -f "$out/fortunes/train.tsv" ] ||
    bash "$here/scripts/fortunes_tsv.sh" "$out/fortunes" >"$out/fortunes.counts"
  bash "$here/scripts/fortunes_tsv.sh" "$out/fortunes_de" /usr/share/games/fortunes/de \
    "zitate sprueche regeln wusstensie computer stilblueten sprichworte" >"$out/fortunes_de.counts"
  mkdir -p "$out/lang"
  for split in train dev; do
    { printf 'text\tlabel\n'
      awk -F'\t' 'FNR > 1 { print $1 "\ten" }' "$out/fortunes/$split.tsv"
      awk -F'\t' 'FNR > 1 { print $1 "\tde" }' "$out/fortunes_de/$split.tsv"; } >"$out/lang/$split.tsv"
  done
  echo "lang: $(majority "$out/lang/train.tsv" "$out/lang/dev.tsv")" >>"$results"
  common=(--task tsv --train "$out/lang/train.tsv" --val "$out/lang/dev.tsv"
    --image-size 128 --epochs 3 --batch-size 32 --seed 0)
  run lang_finetuned "${common[@]}" --model "$model" --lr 3e-4
  run lang_scratch "${common[@]}" --model "$model" --scratch --lr 1e-3
fi

if [ "$what" = all ] || [ "$what" = vqa ]; then
  python3 "$here/scripts/fmnist_vqa.py" "$out/vqa" --train-scenes 2000 --val-scenes 500 \
    --questions-per-scene 3 >"$out/vqa.counts"
  echo "vqa: $(grep '^majority answer' "$out/vqa.counts")" >>"$results"
  echo "vqa (majority answer of each question kind): $(grep '^per-kind' "$out/vqa.counts")" >>"$results"
  common=(--task vqa --train "$out/vqa/train_questions.json"
    --train-annotations "$out/vqa/train_annotations.json" --images "$out/vqa/train"
    --val "$out/vqa/val_questions.json" --val-annotations "$out/vqa/val_annotations.json"
    --val-images "$out/vqa/val" --image-size 96 --layout top:0.34 --epochs 10 --batch-size 32
    --seed 0)
  run vqa_finetuned "${common[@]}" --model "$model" --lr 1e-4
  run vqa_scratch "${common[@]}" --model "$model" --scratch --lr 1e-3
  # accuracy by question kind (question_type of the annotations) from `clippo predict`
  for name in vqa_finetuned vqa_scratch; do
    "$clippo" predict --model "$out/$name.h5" --input "$out/vqa/val_questions.json" \
      --images "$out/vqa/val" --out "$out/$name.val.tsv" >/dev/null
    python3 - "$out/vqa/val_annotations.json" "$out/$name.val.tsv" "$name" >>"$results" <<'PY'
import json, sys
ann = {a["question_id"]: a for a in json.load(open(sys.argv[1]))["annotations"]}
hit, tot = {}, {}
for line in open(sys.argv[2]).read().splitlines()[1:]:
    qid, pred = line.split("\t")[:2]
    a = ann[int(qid)]
    kind = a["question_type"]
    tot[kind] = tot.get(kind, 0) + 1
    hit[kind] = hit.get(kind, 0) + (pred == a["multiple_choice_answer"])
print(sys.argv[3] + " by question kind: " +
      ", ".join("%s %.4f (%d of %d)" % (k, hit[k] / tot[k], hit[k], tot[k]) for k in sorted(tot)))
PY
  done
fi
cat "$results"
