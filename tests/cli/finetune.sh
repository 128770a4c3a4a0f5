#!/usr/bin/env bash
# `clippo finetune` and `clippo predict` (issue 17) on the tiny fixture model: every GLUE TSV
# shape (train and dev with labels, test without; with the header GLUE has or, for CoLA, none),
# a plain TEXT<TAB>LABEL TSV, the VQAv2 question/annotation JSON shape with images; predictions
# in the task's submission form (GLUE index<TAB>prediction, VQA results JSON) and metrics;
# resume; the fine-tuned checkpoint's contents; bad inputs (a missing column, an unknown label,
# an answer outside the vocabulary, mismatched question and annotation files, a bad layout, a
# model that is not fine-tuned): a clear error naming the file and line (or question), exit 1,
# never a crash.
set -u
clippo=$1
shared=${CLIPPO_SHARED_DIR:?}
fail=0
# shellcheck source=lib/checks.sh
. "$(dirname "$0")/lib/checks.sh"
need_shared "$shared"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fx=$shared/fixtures/tiny
font=(--font "$shared/fonts/unifont-9.0.06.hex" --font "$shared/fonts/unifont_upper-9.0.06.hex")
if ! "$clippo" devices --check >/dev/null 2>&1; then
  skip "no OpenCL device"
  finish
fi
run=(--model "$fx/model.npz" "${font[@]}" --steps 2 --batch-size 4)
T=$'\t'

# ---- the GLUE shapes -------------------------------------------------------------------------
# glue_files TASK: writes $tmp/TASK/{train,dev,test}.tsv in GLUE's layout for TASK.
glue_files() {
  local d=$tmp/$1 i
  mkdir -p "$d"
  case $1 in
  sst2)
    { echo "sentence${T}label"; for i in 1 2 3 4 5 6; do echo "a fine movie number $i$T$((i % 2))"; done; } >"$d/train.tsv"
    { echo "sentence${T}label"; echo "dull and slow${T}0"; echo "a gem${T}1"; } >"$d/dev.tsv"
    { echo "index${T}sentence"; echo "0${T}what a film"; echo "1${T}boring"; } >"$d/test.tsv" ;;
  cola)
    for i in 1 2 3 4 5 6; do echo "gj04$T$((i % 2))$T${T}the cat sat $i times."; done >"$d/train.tsv"
    { echo "gj04${T}1${T}${T}she left."; echo "gj04${T}0${T}*${T}left she the."; } >"$d/dev.tsv"
    { echo "index${T}sentence"; echo "0${T}he ran."; echo "1${T}ran he the."; } >"$d/test.tsv" ;;
  mnli)
    local h="index${T}promptID${T}pairID${T}genre${T}sentence1_binary_parse${T}sentence2_binary_parse${T}sentence1_parse${T}sentence2_parse${T}sentence1${T}sentence2"
    local labs=(contradiction entailment neutral)
    { echo "$h${T}label1${T}gold_label"; for i in 0 1 2 3 4 5; do
        echo "$i${T}1${T}1e${T}fiction${T}(x)${T}(y)${T}(X)${T}(Y)${T}a man sleeps $i${T}a man rests${T}${labs[i % 3]}${T}${labs[i % 3]}"; done; } >"$d/train.tsv"
    { echo "$h${T}label1${T}label2${T}label3${T}label4${T}label5${T}gold_label"
      echo "7${T}1${T}1e${T}fiction${T}(x)${T}(y)${T}(X)${T}(Y)${T}it rains${T}it is dry${T}contradiction${T}contradiction${T}contradiction${T}neutral${T}contradiction${T}contradiction"; } >"$d/dev.tsv"
    { echo "$h"; echo "9${T}1${T}1e${T}fiction${T}(x)${T}(y)${T}(X)${T}(Y)${T}a dog barks${T}an animal makes noise"; } >"$d/test.tsv" ;;
  qqp)
    { echo "id${T}qid1${T}qid2${T}question1${T}question2${T}is_duplicate"; for i in 1 2 3 4 5 6; do
        echo "$i${T}$i${T}$((i + 10))${T}how do i cook rice $i?${T}what is the way to cook rice?${T}$((i % 2))"; done; } >"$d/train.tsv"
    { echo "id${T}qid1${T}qid2${T}question1${T}question2${T}is_duplicate"; echo "20${T}1${T}2${T}why?${T}how?${T}0"; } >"$d/dev.tsv"
    { echo "id${T}question1${T}question2"; echo "0${T}who is he?${T}who's he?"; } >"$d/test.tsv" ;;
  qnli | rte)
    local a=question b=sentence
    [ "$1" = rte ] && a=sentence1 b=sentence2
    { echo "index${T}$a${T}$b${T}label"; for i in 1 2 3 4 5 6; do
        if [ $((i % 2)) = 0 ]; then l=entailment; else l=not_entailment; fi
        echo "$i${T}what is $i?${T}$i is a number.${T}$l"; done; } >"$d/train.tsv"
    { echo "index${T}$a${T}$b${T}label"; echo "0${T}who won?${T}nobody knows.${T}not_entailment"; } >"$d/dev.tsv"
    { echo "index${T}$a${T}$b"; echo "0${T}where?${T}here."; } >"$d/test.tsv" ;;
  mrpc)
    { echo "Quality${T}#1 ID${T}#2 ID${T}#1 String${T}#2 String"; for i in 1 2 3 4 5 6; do
        echo "$((i % 2))${T}$i${T}$((i + 9))${T}he said $i words.${T}he spoke $i words."; done; } >"$d/train.tsv"
    { echo "Quality${T}#1 ID${T}#2 ID${T}#1 String${T}#2 String"; echo "1${T}1${T}2${T}yes.${T}yes indeed."; } >"$d/dev.tsv"
    { echo "index${T}#1 ID${T}#2 ID${T}#1 String${T}#2 String"; echo "0${T}1${T}2${T}no.${T}not at all."; } >"$d/test.tsv" ;;
  stsb)
    local h="index${T}genre${T}filename${T}year${T}old_index${T}source1${T}source2${T}sentence1${T}sentence2"
    { echo "$h${T}score"; for i in 0 1 2 3 4 5; do
        echo "$i${T}main-news${T}f${T}2012${T}$i${T}none${T}none${T}a plane takes off $i.${T}an air plane is taking off.${T}$i.000"; done; } >"$d/train.tsv"
    { echo "$h${T}score"; echo "0${T}main-news${T}f${T}2012${T}0${T}none${T}none${T}a man plays.${T}a man sings.${T}1.500"
      echo "1${T}main-news${T}f${T}2012${T}1${T}none${T}none${T}a cat.${T}a cat.${T}5.000"; } >"$d/dev.tsv"
    { echo "$h"; echo "0${T}main-news${T}f${T}2012${T}0${T}none${T}none${T}a boy.${T}a child."; } >"$d/test.tsv" ;;
  esac
}

declare -A metric=([sst2]=accuracy [cola]=matthews [mnli]=accuracy [qqp]=f1 [qnli]=accuracy
  [rte]=accuracy [mrpc]=f1 [stsb]=pearson)
for task in sst2 cola mnli qqp qnli rte mrpc stsb; do
  glue_files "$task"
  d=$tmp/$task
  "$clippo" finetune --task "$task" --train "$d/train.tsv" --val "$d/dev.tsv" "${run[@]}" \
    --save "$d/ft.h5" --quiet >"$d/out" 2>"$d/err"
  check "$task: finetune" 0 $?
  expect "$task: validation reported" "$d/out" "${metric[$task]}"
  "$clippo" predict --model "$d/ft.h5" --input "$d/test.tsv" "${font[@]}" >"$d/pred" 2>"$d/err"
  check "$task: predict on the test file (no labels)" 0 $?
  lines=$(wc -l <"$d/pred")
  want=$(($(wc -l <"$d/test.tsv")))
  if [ "$lines" != "$want" ]; then
    echo "FAIL: $task: $lines prediction lines, expected $want (header + one per example)"
    cat "$d/pred"
    fail=1
  fi
  expect "$task: GLUE's index<TAB>prediction header" "$d/pred" "^index${T}prediction$"
  "$clippo" predict --model "$d/ft.h5" --input "$d/dev.tsv" "${font[@]}" --out "$d/dev.pred" \
    >"$d/met" 2>"$d/err"
  check "$task: predict on the dev file" 0 $?
  expect "$task: dev metrics" "$d/met" "${metric[$task]}"
done
# the pair layout and the labels survive in the checkpoint: predictions of a split layout
"$clippo" finetune --task rte --train "$tmp/rte/train.tsv" "${run[@]}" --layout split \
  --save "$tmp/rte/split.h5" --quiet >/dev/null 2>"$tmp/err"
check "rte with --layout split" 0 $? "$tmp/err"
"$clippo" finetune --task sst2 --train "$tmp/sst2/train.tsv" "${run[@]}" --layout split \
  --save "$tmp/x.h5" --quiet >/dev/null 2>"$tmp/err"
check "split layout of a single-sentence task" 1 $? "$tmp/err"
expect "bad layout named" "$tmp/err" "split"

# ---- a plain TSV, frozen tower, another image size, resume -----------------------------------
{ echo "text${T}label"; for i in $(seq 1 12); do
    case $((i % 3)) in 0) echo "the stock market fell $i points${T}finance" ;;
    1) echo "the team won the match $i to 0${T}sport" ;; 2) echo "rain and wind today $i${T}weather" ;; esac
  done; } >"$tmp/t.tsv"
"$clippo" finetune --task tsv --train "$tmp/t.tsv" --val "$tmp/t.tsv" "${run[@]}" --freeze \
  --image-size 64 --log "$tmp/t.jsonl" --save "$tmp/t.h5" --json >"$tmp/out" 2>"$tmp/err"
check "tsv, frozen, 64 px" 0 $? "$tmp/err"
expect "json result" "$tmp/out" '"val": {"count": 12'
expect "val line in the log" "$tmp/t.jsonl" '"val"'
"$clippo" inspect "$tmp/t.h5" >"$tmp/insp" 2>&1
expect "head kernel in the checkpoint" "$tmp/insp" "head_task/kernel"
"$clippo" predict --model "$tmp/t.h5" --input "$tmp/t.tsv" "${font[@]}" --json >"$tmp/out" 2>"$tmp/err"
check "predict tsv" 0 $? "$tmp/err"
expect "predict json" "$tmp/out" '"accuracy"'
# resume: 2 steps then 2 more equal 4 straight ones (same data order and optimizer state)
"$clippo" finetune --task tsv --train "$tmp/t.tsv" "${run[@]}" --steps 4 --stop-at 2 \
  --save "$tmp/r.h5" --quiet >/dev/null 2>"$tmp/err"
check "2 of 4 steps (--stop-at 2)" 0 $? "$tmp/err"
"$clippo" finetune --task tsv --train "$tmp/t.tsv" "${font[@]}" --batch-size 4 --steps 4 \
  --resume "$tmp/r.h5" --save "$tmp/r.h5" --json >"$tmp/resumed" 2>"$tmp/err"
check "resume for steps 3 and 4" 0 $? "$tmp/err"
"$clippo" finetune --task tsv --train "$tmp/t.tsv" "${run[@]}" --steps 4 --save "$tmp/s.h5" \
  --json >"$tmp/straight" 2>"$tmp/err"
check "4 straight steps" 0 $? "$tmp/err"
l1=$(sed -n 's/.*"last_loss": \([^,]*\),.*/\1/p' "$tmp/resumed")
l2=$(sed -n 's/.*"last_loss": \([^,]*\),.*/\1/p' "$tmp/straight")
if [ -z "$l1" ] || [ "$l1" != "$l2" ]; then
  echo "FAIL: resumed run's last loss '$l1' differs from the straight run's '$l2'"
  fail=1
else
  echo "ok: resumed = straight (last loss $l1)"
fi
"$clippo" finetune --task sst2 --train "$tmp/sst2/train.tsv" "${font[@]}" --resume "$tmp/r.h5" \
  --save "$tmp/x.h5" >/dev/null 2>"$tmp/err"
check "resume on another task" 1 $? "$tmp/err"
expect "another task named" "$tmp/err" "another task"

# ---- VQA: questions, annotations, images -----------------------------------------------------
mkdir -p "$tmp/vqa/img"
for id in 1 2 3; do
  "$clippo" render "${font[@]}" --image-size 32 --quiet "item $id" --out "$tmp/vqa/img/$id.png"
done
q() { # question_id image_id text
  printf '{"question_id": %s, "image_id": %s, "question": "%s"}' "$1" "$2" "$3"
}
a() { # question_id image_id answer
  local ans="" i
  for i in $(seq 1 10); do ans="$ans${ans:+, }{\"answer\": \"$3\", \"answer_id\": $i}"; done
  printf '{"question_id": %s, "image_id": %s, "multiple_choice_answer": "%s", "answers": [%s]}' \
    "$1" "$2" "$3" "$ans"
}
{ echo '{"questions": ['; q 11 1 "top left?"; echo ,; q 12 2 "is there a bag?"; echo ,
  q 13 3 "how many shoes?"; echo ,; q 14 1 "is there a bag?"; echo ']}'; } >"$tmp/vqa/q.json"
{ echo '{"annotations": ['; a 11 1 bag; echo ,; a 12 2 yes; echo ,; a 13 3 2; echo ,
  a 14 1 no; echo ']}'; } >"$tmp/vqa/a.json"
"$clippo" finetune --task vqa --train "$tmp/vqa/q.json" --train-annotations "$tmp/vqa/a.json" \
  --images "$tmp/vqa/img" --val "$tmp/vqa/q.json" --val-annotations "$tmp/vqa/a.json" \
  "${run[@]}" --save "$tmp/vqa/ft.h5" --quiet >"$tmp/out" 2>"$tmp/err"
check "vqa finetune" 0 $? "$tmp/err"
expect "vqa accuracy reported" "$tmp/out" "vqa_accuracy"
"$clippo" predict --model "$tmp/vqa/ft.h5" --input "$tmp/vqa/q.json" --images "$tmp/vqa/img" \
  "${font[@]}" --out "$tmp/vqa/pred" >"$tmp/out" 2>"$tmp/err"
check "vqa predict without annotations" 0 $? "$tmp/err"
expect "question ids in the predictions" "$tmp/vqa/pred" "^13${T}"
expect "VQA's question_id<TAB>answer header" "$tmp/vqa/pred" "^question_id${T}answer$"
"$clippo" predict --model "$tmp/vqa/ft.h5" --input "$tmp/vqa/q.json" --images "$tmp/vqa/img" \
  "${font[@]}" --out "$tmp/vqa/results.json" >"$tmp/out" 2>"$tmp/err"
check "vqa predict to VQA's results JSON" 0 $? "$tmp/err"
expect "VQA results JSON" "$tmp/vqa/results.json" '^\[{"question_id":11,"answer":"[^"]*"},'
expect "VQA results JSON: every question" "$tmp/vqa/results.json" '{"question_id":14,"answer":"[^"]*"}]$'

# ---- bad inputs: clear errors naming the file and line ----------------------------------------
printf 'sentence\tlabel\ngood\t1\nno label here\n' >"$tmp/missing.tsv"
"$clippo" finetune --task sst2 --train "$tmp/missing.tsv" "${run[@]}" --save "$tmp/x.h5" \
  >/dev/null 2>"$tmp/err"
check "TSV with a missing column" 1 $? "$tmp/err"
expect "missing column: file:line" "$tmp/err" "missing.tsv:3"
printf 'sentence\tlabel\nfine\t1\nbad\t7\n' >"$tmp/label.tsv"
"$clippo" finetune --task sst2 --train "$tmp/label.tsv" "${run[@]}" --save "$tmp/x.h5" \
  >/dev/null 2>"$tmp/err"
check "unknown label" 1 $? "$tmp/err"
expect "unknown label: file:line" "$tmp/err" "label.tsv:3"
printf 'text\tlabel\nnew words\tcooking\n' >"$tmp/unk.tsv"
"$clippo" predict --model "$tmp/t.h5" --input "$tmp/unk.tsv" "${font[@]}" >/dev/null 2>"$tmp/err"
check "a label the model does not know" 1 $? "$tmp/err"
expect "unknown label in predict: file:line" "$tmp/err" "unk.tsv:2"
{ echo '{"annotations": ['; a 11 1 bag; echo ,; a 12 2 yes; echo ,; a 99 3 2; echo ']}'; } \
  >"$tmp/vqa/bad_a.json"
"$clippo" finetune --task vqa --train "$tmp/vqa/q.json" --train-annotations "$tmp/vqa/bad_a.json" \
  --images "$tmp/vqa/img" "${run[@]}" --save "$tmp/x.h5" >/dev/null 2>"$tmp/err"
check "mismatched questions and annotations" 1 $? "$tmp/err"
expect "mismatch names the annotations file" "$tmp/err" "bad_a.json"
{ echo '{"annotations": ['; a 11 1 bag; echo ,; a 12 2 purple; echo ,; a 13 3 2; echo ,
  a 14 1 no; echo ']}'; } >"$tmp/vqa/other_a.json"
"$clippo" finetune --task vqa --train "$tmp/vqa/q.json" --train-annotations "$tmp/vqa/a.json" \
  --images "$tmp/vqa/img" --val "$tmp/vqa/q.json" --val-annotations "$tmp/vqa/other_a.json" \
  --answers-strict "${run[@]}" --save "$tmp/x.h5" >/dev/null 2>"$tmp/err"
check "an answer outside the vocabulary (--answers-strict)" 1 $? "$tmp/err"
expect "answer outside the vocabulary: file and question" "$tmp/err" "other_a.json.*12"
"$clippo" finetune --task vqa --train "$tmp/vqa/q.json" --train-annotations "$tmp/vqa/a.json" \
  --images "$tmp/vqa/img" "${run[@]}" --layout top:2 --save "$tmp/x.h5" >/dev/null 2>"$tmp/err"
check "bad vqa layout" 1 $? "$tmp/err"
expect "bad vqa layout named" "$tmp/err" "top:2"
"$clippo" predict --model "$fx/model.npz" --input "$tmp/t.tsv" "${font[@]}" >/dev/null 2>"$tmp/err"
check "predict with a model that is not fine-tuned" 1 $? "$tmp/err"
expect "not fine-tuned named" "$tmp/err" "not a fine-tuned model"
"$clippo" finetune --task nope --train "$tmp/t.tsv" "${run[@]}" --save "$tmp/x.h5" >/dev/null \
  2>"$tmp/err"
check "unknown task" 1 $? "$tmp/err"
expect "known tasks listed" "$tmp/err" "sst2"
"$clippo" finetune --task tsv --train "$tmp/t.tsv" "${run[@]}" >/dev/null 2>"$tmp/err"
check "no --save" 2 $? "$tmp/err"
# outputs never overwrite inputs: the starting model, the data, predict's input
cp "$fx/model.npz" "$tmp/m.npz"
before=$(cksum <"$tmp/m.npz")
"$clippo" finetune --task tsv --train "$tmp/t.tsv" --model "$tmp/m.npz" "${font[@]}" --steps 2 \
  --batch-size 4 --save "$tmp/m.npz" >/dev/null 2>"$tmp/err"
check "--save is the --model file" 2 $? "$tmp/err"
expect "--save over --model named" "$tmp/err" "is the --model file"
[ "$(cksum <"$tmp/m.npz")" = "$before" ] && echo "ok: the model is untouched" ||
  { echo "FAIL: the model was changed"; fail=1; }
"$clippo" finetune --task tsv --train "$tmp/t.tsv" "${run[@]}" --save x.h5 --log "$tmp/t.tsv" \
  >/dev/null 2>"$tmp/err"
check "--log is the --train file" 2 $? "$tmp/err"
cp "$tmp/t.tsv" "$tmp/in.tsv"
"$clippo" predict --model "$tmp/t.h5" --input "$tmp/in.tsv" "${font[@]}" --out "$tmp/in.tsv" \
  >/dev/null 2>"$tmp/err"
check "predict --out is the --input file" 2 $? "$tmp/err"
cmp -s "$tmp/t.tsv" "$tmp/in.tsv" && echo "ok: the input is untouched" ||
  { echo "FAIL: the input was changed"; fail=1; }
finish
