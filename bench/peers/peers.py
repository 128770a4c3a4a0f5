#!/usr/bin/env python3
"""Peer runtimes beside clippo: ViT-B/16 image embedding in ONNX Runtime, OpenVINO and PyTorch 2
(eager and torch.compile), ONNX Runtime with int8 dynamic quantisation, and the 64 px training
step of a PyTorch twin of the default model. One JSON line per measurement on stdout.

  peers.py export [--dir DIR]            torchvision ViT-B/16 (random weights) -> DIR/vit_b16.onnx,
                                         and its int8 dynamic quantisation DIR/vit_b16_int8.onnx
  peers.py embed --runtime R --batch B   R: onnxruntime, onnxruntime-int8, openvino, torch,
                                         torch-compile
  peers.py train [--batch 64]            training steps/s of the default model's PyTorch twin
  peers.py versions                      the peers' versions, one JSON object

Every run uses --threads threads (default 2) and reports the environment it found (never
changes it). Made by bench/peers/setup.sh's virtual environment."""
import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from pytorch_vit import flops_per_image  # noqa: E402 - bench/pytorch_vit.py, clippo's FLOP count
DEFAULT_DIR = os.path.join(HERE, ".cache")


def env_info():
    return {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OMP_NUM_THREADS",
                                              "MKL_NUM_THREADS") if os.environ.get(k)}


def timed(fn, runs, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times


def cmd_export(args):
    import torch
    import torchvision
    os.makedirs(args.dir, exist_ok=True)
    torch.manual_seed(0)
    model = torchvision.models.vit_b_16(weights=None).eval()
    x = torch.randn(1, 3, 224, 224)
    path = os.path.join(args.dir, "vit_b16.onnx")
    torch.onnx.export(model, x, path, input_names=["images"], output_names=["logits"],
                      dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}},
                      opset_version=17, dynamo=False)
    from onnxruntime.quantization import QuantType, quantize_dynamic
    qpath = os.path.join(args.dir, "vit_b16_int8.onnx")
    quantize_dynamic(path, qpath, weight_type=QuantType.QInt8)
    print(json.dumps({"exported": path, "int8": qpath}))


def embed_fn(runtime, batch, threads, model_dir):
    import numpy as np
    x = np.random.default_rng(0).standard_normal((batch, 3, 224, 224), dtype=np.float32)
    if runtime in ("onnxruntime", "onnxruntime-int8"):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        name = "vit_b16_int8.onnx" if runtime.endswith("int8") else "vit_b16.onnx"
        sess = ort.InferenceSession(os.path.join(model_dir, name), so,
                                    providers=["CPUExecutionProvider"])
        return lambda: sess.run(None, {"images": x}), ort.__version__
    if runtime == "openvino":
        import openvino as ov
        core = ov.Core()
        compiled = core.compile_model(os.path.join(model_dir, "vit_b16.onnx"), "CPU", {
            "INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32",
            "PERFORMANCE_HINT": "LATENCY"})
        req = compiled.create_infer_request()
        return lambda: req.infer({0: x}), ov.__version__
    if runtime in ("torch", "torch-compile"):
        import torch
        import torchvision
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        model = torchvision.models.vit_b_16(weights=None).eval()
        if runtime == "torch-compile":
            model = torch.compile(model)
        xt = torch.from_numpy(x)

        def run():
            with torch.inference_mode():
                model(xt)
        return run, torch.__version__
    raise SystemExit(f"peers.py: unknown runtime '{runtime}'")


def unavailable(suite, name, runtime, batch, why):
    """A row clippo bench shows as unavailable (the peer is not installed or cannot run)."""
    return {"suite": suite, "name": name, "impl": "peer-" + runtime, "status": "unavailable",
            "batch": batch, "note": why[:400]}


def cmd_embed(args):
    try:
        fn, version = embed_fn(args.runtime, args.batch, args.threads, args.dir)
        med, times = timed(fn, args.runs, args.warmup)
    except Exception as e:  # noqa: BLE001 - a peer that cannot run is a row, not a traceback
        print(json.dumps(unavailable("embed", "b16", args.runtime, args.batch,
                                     f"{args.runtime}: {type(e).__name__}: {e}")))
        return
    int8 = args.runtime.endswith("int8")
    print(json.dumps({"suite": "embed", "name": "b16", "impl": "peer-" + args.runtime,
                      "status": "ok", "rate_unit": "images/s", "runtime": args.runtime,
                      "version": version, "model": "torchvision vit_b_16 (random weights)",
                      "shape": f"torchvision vit_b_16, 197 tokens, {'int8 dynamic' if int8 else 'float32'}; batch {args.batch}",
                      "batch": args.batch, "runs": len(times), "threads": args.threads,
                      "median_s": med, "min_s": min(times), "rate": args.batch / med,
                      "flops": flops_per_image(197, head=1000) * args.batch, "images_per_s": args.batch / med,
                      "note": f"{args.runtime} {version}, {args.threads} threads; env as found: "
                              f"{env_info() or 'no thread/BLAS variables set'}",
                      "times_s": times, "env": env_info()}))


def twin_model(torch, width=128, depth=4, heads=4, mlp=512, patch=8, size=64, out=128):
    """The default model's shape (configs/train_fmnist.json): a ViT with a MAP head."""
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1 = nn.LayerNorm(width, eps=1e-6)
            self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
            self.ln2 = nn.LayerNorm(width, eps=1e-6)
            self.mlp = nn.Sequential(nn.Linear(width, mlp), nn.GELU(approximate="tanh"),
                                     nn.Linear(mlp, width))

        def forward(self, x):
            y = self.ln1(x)
            x = x + self.attn(y, y, y, need_weights=False)[0]
            return x + self.mlp(self.ln2(x))

    class Tower(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Conv2d(3, width, patch, patch)
            self.pos = nn.Parameter(torch.randn(1, (size // patch) ** 2, width) * 0.02)
            self.blocks = nn.ModuleList([Block() for _ in range(depth)])
            self.ln = nn.LayerNorm(width, eps=1e-6)
            self.probe = nn.Parameter(torch.randn(1, 1, width) * 0.02)
            self.map = nn.MultiheadAttention(width, heads, batch_first=True)
            self.map_ln = nn.LayerNorm(width, eps=1e-6)
            self.map_mlp = nn.Sequential(nn.Linear(width, mlp), nn.GELU(approximate="tanh"),
                                         nn.Linear(mlp, width))
            self.head = nn.Linear(width, out)

        def forward(self, img):
            x = self.embed(img).flatten(2).transpose(1, 2) + self.pos
            for b in self.blocks:
                x = b(x)
            x = self.ln(x)
            p = self.probe.expand(x.shape[0], -1, -1)
            y = self.map(p, x, x, need_weights=False)[0]
            y = y + self.map_mlp(self.map_ln(y))
            return self.head(y[:, 0])

    return Tower()


def cmd_train(args):
    try:
        import torch
    except Exception as e:  # noqa: BLE001
        print(json.dumps(unavailable("train", "steps", "torch-compile" if args.compile else "torch",
                                     args.batch, f"torch: {e}")))
        return
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = twin_model(torch)
    if args.compile:
        model = torch.compile(model)
    t = torch.nn.Parameter(torch.tensor(2.302585))  # log(10), big_vision's temperature init
    opt = torch.optim.AdamW(list(model.parameters()) + [t], lr=1e-3, weight_decay=1e-4)
    imgs = torch.randn(args.batch, 3, 64, 64)
    txts = torch.randn(args.batch, 3, 64, 64)
    labels = torch.arange(args.batch)

    def step():
        z = torch.nn.functional.normalize(model(torch.cat([imgs, txts])), dim=-1)
        zi, zt = z[:args.batch], z[args.batch:]
        logits = zi @ zt.T * t.exp()
        loss = 0.5 * (torch.nn.functional.cross_entropy(logits, labels) +
                      torch.nn.functional.cross_entropy(logits.T, labels))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    med, times = timed(step, args.runs, args.warmup)
    runtime = "torch-compile" if args.compile else "torch"
    print(json.dumps({"suite": "train", "name": "steps", "impl": "peer-" + runtime, "status": "ok",
                      "rate_unit": "steps/s", "runtime": runtime,
                      "version": torch.__version__, "model": "default-model twin (64 px, patch 8, "
                      "width 128, depth 4, MAP head)", "batch_pairs": args.batch,
                      "shape": f"PyTorch twin of the default model: 64 px, patch 8, width 128, "
                               f"depth 4, MAP head; {args.batch} pairs, AdamW",
                      "runs": len(times), "threads": args.threads, "median_s": med,
                      "min_s": min(times), "rate": 1 / med, "steps_per_s": 1 / med,
                      "note": f"PyTorch {torch.__version__}, {args.threads} threads",
                      "times_s": times, "env": env_info()}))


def cmd_versions(_args):
    out = {"python": sys.version.split()[0]}
    for mod in ("onnxruntime", "openvino", "torch", "torchvision", "onnx", "numpy"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # a peer that is not installed is reported as missing
            out[mod] = None
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("--dir", default=DEFAULT_DIR)
    m = sub.add_parser("embed")
    m.add_argument("--runtime", required=True)
    m.add_argument("--batch", type=int, default=8)
    m.add_argument("--dir", default=DEFAULT_DIR)
    t = sub.add_parser("train")
    t.add_argument("--batch", type=int, default=64)
    t.add_argument("--compile", action="store_true")
    sub.add_parser("versions")
    for p in (m, t):
        p.add_argument("--runs", type=int, default=5)
        p.add_argument("--warmup", type=int, default=2)
        p.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    {"export": cmd_export, "embed": cmd_embed, "train": cmd_train,
     "versions": cmd_versions}[args.cmd](args)


if __name__ == "__main__":
    main()
