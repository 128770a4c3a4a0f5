#!/usr/bin/env python3
"""Builds a small, reproducible VQA data set from Fashion-MNIST, in the VQAv2 file format.

Issue 17 needs VQA data that can be made offline (the real VQAv2 needs COCO images and a
download): this script makes it from Debian's Fashion-MNIST package (fashion-mnist, installed
under /usr/share/datasets/fashion-mnist) so that `clippo finetune --task vqa` can be exercised
and its accuracy compared with a trivial baseline. Standard library only.

Each scene is a 2x2 grid of four 28x28 Fashion-MNIST items (56x56 RGB PNG, the gray values
replicated to RGB, white item on black as in the data set). Training scenes take their items from
the train split, validation scenes from the t10k split. Each scene gets Q distinct questions of
three kinds drawn about equally often:
  position: "what is in the top left?" (top right, bottom left, bottom right) -> class name
  presence: "is there a sandal?" -> yes / no (the class is present for exactly half of them)
  count:    "how many shoes?" (sandal, sneaker, ankle boot) -> "0" .. "4"

  python3 scripts/fmnist_vqa.py OUT_DIR [--train-scenes N] [--val-scenes N]
                                [--questions-per-scene Q] [--seed S] [--data DIR]

writes OUT_DIR/{train,val}/<image_id>.png, OUT_DIR/{train,val}_questions.json and
OUT_DIR/{train,val}_annotations.json (VQAv2 format, 10 identical answers per question;
question_id = image_id * 10 + k; train image ids from 1, val image ids from 1000001), and prints
the counts, the train answer distribution and the majority-answer baseline on val.
"""

import argparse
import gzip
import json
import os
import random
import struct
import sys
import time
import zlib

CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
           "ankle boot"]
SHOES = {5, 7, 9}
POSITIONS = ["top left", "top right", "bottom left", "bottom right"]
KINDS = ["position", "presence", "count"]
QUESTION_TYPE = {"position": "what is in the", "presence": "is there a", "count": "how many"}
ANSWER_TYPE = {"position": "other", "presence": "yes/no", "count": "number"}
VAL_ID_BASE = 1000000
ITEM = 28
SIDE = 2 * ITEM


def read_idx(path, want_magic):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    if magic != want_magic:
        sys.exit("%s: not an idx file (magic %#x)" % (path, magic))
    if want_magic == 2051:
        n, rows, cols = struct.unpack(">III", data[4:16])
        if rows != ITEM or cols != ITEM or len(data) != 16 + n * rows * cols:
            sys.exit("%s: unexpected image shape" % path)
        return n, data[16:]
    n = struct.unpack(">I", data[4:8])[0]
    if len(data) != 8 + n:
        sys.exit("%s: truncated" % path)
    return n, data[8:]


def load_split(data_dir, prefix):
    n, images = read_idx(os.path.join(data_dir, prefix + "-images-idx3-ubyte.gz"), 2051)
    m, labels = read_idx(os.path.join(data_dir, prefix + "-labels-idx1-ubyte.gz"), 2049)
    if n != m:
        sys.exit("%s: %d images but %d labels" % (prefix, n, m))
    return images, labels


def png_chunk(tag, body):
    return (struct.pack(">I", len(body)) + tag + body
            + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF))


def write_png_rgb(path, width, height, rows):
    """rows: height byte strings of width*3 RGB bytes."""
    raw = b"".join(b"\x00" + r for r in rows)
    png = (b"\x89PNG\r\n\x1a\n"
           + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
           + png_chunk(b"IDAT", zlib.compress(raw, 6)) + png_chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(png)


def scene_rows(images, idx):
    """The 56 RGB rows of the 2x2 grid of items idx[0..3] (top left, top right, bottom left,
    bottom right)."""
    items = [images[i * ITEM * ITEM:(i + 1) * ITEM * ITEM] for i in idx]
    rows = []
    for half in (0, 1):
        left, right = items[2 * half], items[2 * half + 1]
        for y in range(ITEM):
            gray = left[y * ITEM:(y + 1) * ITEM] + right[y * ITEM:(y + 1) * ITEM]
            rgb = bytearray(SIDE * 3)
            rgb[0::3] = gray
            rgb[1::3] = gray
            rgb[2::3] = gray
            rows.append(bytes(rgb))
    return rows


def article(name):
    return "an" if name[0] in "aeiou" else "a"


def pick_kinds(rng, q):
    """q question kinds for one scene, each kind about equally often over the data set: whole
    rounds of the three kinds in random order, then a random subset for the rest. Only one count
    question and four position questions exist per scene, so later rounds leave out the kinds
    used up."""
    cap = {"position": len(POSITIONS), "presence": len(CLASSES), "count": 1}
    kinds = []
    while len(kinds) < q:
        more = [k for k in KINDS if kinds.count(k) < cap[k]]
        rng.shuffle(more)
        kinds += more[:q - len(kinds)]
    return kinds


def make_split(name, images, labels, scenes, q, rng, id_base, out_dir):
    """Draws and writes `scenes` scenes; returns (questions, annotations, kind of each)."""
    os.makedirs(os.path.join(out_dir, name), exist_ok=True)
    n = len(labels)
    questions, annotations, kinds_of = [], [], []
    present_next = rng.random() < 0.5  # presence questions alternate yes / no from here
    for s in range(scenes):
        image_id = id_base + s + 1
        idx = [rng.randrange(n) for _ in range(4)]
        cls = [labels[i] for i in idx]
        write_png_rgb(os.path.join(out_dir, name, "%d.png" % image_id), SIDE, SIDE,
                      scene_rows(images, idx))
        positions = list(range(4))
        rng.shuffle(positions)
        # presence classes: this scene's present and absent classes, each in random order
        present = sorted(set(cls))
        absent = [c for c in range(len(CLASSES)) if c not in present]
        rng.shuffle(present)
        rng.shuffle(absent)
        for k, kind in enumerate(pick_kinds(rng, q)):
            if kind == "position":
                p = positions.pop()
                question = "what is in the %s?" % POSITIONS[p]
                answer = CLASSES[cls[p]]
            elif kind == "presence":
                # balanced; when one side is used up in this scene, the other
                use_present = (present_next and present) or not absent
                c = present.pop() if use_present else absent.pop()
                present_next = not use_present
                question = "is there %s %s?" % (article(CLASSES[c]), CLASSES[c])
                answer = "yes" if use_present else "no"
            else:
                question = "how many shoes?"
                answer = str(sum(1 for c in cls if c in SHOES))
            qid = image_id * 10 + k
            questions.append({"image_id": image_id, "question": question, "question_id": qid})
            annotations.append({
                "question_id": qid,
                "image_id": image_id,
                "question_type": QUESTION_TYPE[kind],
                "answer_type": ANSWER_TYPE[kind],
                "multiple_choice_answer": answer,
                "answers": [{"answer": answer, "answer_confidence": "yes", "answer_id": j + 1}
                            for j in range(10)],
            })
            kinds_of.append(kind)
    return questions, annotations, kinds_of


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
        f.write("\n")


def majority(answers):
    """Most frequent answer (ties: first appearance) and the counts, most frequent first."""
    counts, order = {}, []
    for a in answers:
        if a not in counts:
            counts[a] = 0
            order.append(a)
        counts[a] += 1
    ranked = sorted(order, key=lambda a: (-counts[a], order.index(a)))
    return ranked[0], [(a, counts[a]) for a in ranked]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--train-scenes", type=int, default=2000)
    ap.add_argument("--val-scenes", type=int, default=500)
    ap.add_argument("--questions-per-scene", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist",
                    help="directory of the Fashion-MNIST idx .gz files")
    a = ap.parse_args()
    if not 1 <= a.questions_per_scene <= 10:
        ap.error("--questions-per-scene must be 1..10 (question_id = image_id * 10 + k)")
    if a.train_scenes < 1 or a.val_scenes < 1:
        ap.error("--train-scenes and --val-scenes must be at least 1")
    if a.val_scenes >= VAL_ID_BASE // 10 or a.train_scenes >= VAL_ID_BASE:
        ap.error("too many scenes for the image id ranges")

    t0 = time.time()
    os.makedirs(a.out_dir, exist_ok=True)
    q = a.questions_per_scene
    info = {"description": "Fashion-MNIST VQA scenes (scripts/fmnist_vqa.py)",
            "seed": a.seed, "questions_per_scene": q,
            "train_scenes": a.train_scenes, "val_scenes": a.val_scenes}
    result = {}
    # separate streams: the val split does not change with --train-scenes
    for split, prefix, scenes, stream, id_base in (
            ("train", "train", a.train_scenes, 0, 0),
            ("val", "t10k", a.val_scenes, 1, VAL_ID_BASE)):
        images, labels = load_split(a.data, prefix)
        rng = random.Random("fmnist_vqa:%d:%d" % (a.seed, stream))
        qs, anns, kinds = make_split(split, images, labels, scenes, q, rng, id_base, a.out_dir)
        write_json(os.path.join(a.out_dir, split + "_questions.json"), {
            "info": dict(info, split=split, source=prefix), "task_type": "Open-Ended",
            "data_type": "fmnist", "data_subtype": split, "license": {},
            "questions": qs})
        write_json(os.path.join(a.out_dir, split + "_annotations.json"), {
            "info": dict(info, split=split, source=prefix), "data_type": "fmnist",
            "data_subtype": split, "license": {}, "annotations": anns})
        result[split] = (scenes, anns, kinds)

    for split in ("train", "val"):
        scenes, anns, kinds = result[split]
        per_kind = " ".join("%s %d" % (k, kinds.count(k)) for k in KINDS)
        print("%s: %d scenes, %d questions (%s)" % (split, scenes, len(anns), per_kind))
    tr_ans = [x["multiple_choice_answer"] for x in result["train"][1]]
    va_ans = [x["multiple_choice_answer"] for x in result["val"][1]]
    top, ranked = majority(tr_ans)
    print("train answers (%d distinct): %s" % (len(ranked), ", ".join(
        '"%s" %d' % (ans, c) for ans, c in ranked)))
    hit = sum(1 for x in va_ans if x == top)
    print('majority answer "%s": accuracy %.4f (%d of %d)' % (top, hit / len(va_ans), hit,
                                                             len(va_ans)))
    # per kind: the most frequent train answer of each kind, scored on val questions of the kind
    tr_kinds, va_kinds = result["train"][2], result["val"][2]
    total = 0
    for k in KINDS:
        ka = [x for x, kk in zip(tr_ans, tr_kinds) if kk == k]
        kv = [x for x, kk in zip(va_ans, va_kinds) if kk == k]
        if not ka or not kv:
            continue
        ktop = majority(ka)[0]
        khit = sum(1 for x in kv if x == ktop)
        total += khit
        print('  %s: majority answer "%s": accuracy %.4f (%d of %d)' % (
            k, ktop, khit / len(kv), khit, len(kv)))
    print("per-kind majority answer: accuracy %.4f (%d of %d)" % (total / len(va_ans), total,
                                                                  len(va_ans)))
    print("wrote %s in %.1f s" % (a.out_dir, time.time() - t0))


if __name__ == "__main__":
    main()
