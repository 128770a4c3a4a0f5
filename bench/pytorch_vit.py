#!/usr/bin/env python3
"""PyTorch CPU beside `clippo bench`: the ViT-B/16 forward at 224 px, float32, eval mode, no_grad.

Prints one JSON object (the keys of clippo_bench_row) on its last line, which `clippo bench`
reads and puts next to its own B/16 embedding at the same batch (ratio clippo / PyTorch).

Model: torchvision's vit_b_16(weights=None) when torchvision imports (197 tokens: 196 patches
plus the class token, class-token pooling, 1000-class head), else a plain PyTorch ViT-B/16 with
the CLIPPO shapes (196 tokens, no class token, mean pooling, 768-wide head). --model chooses.
Timing: --warmup untimed forwards, then the median of --runs timed ones (wall clock).

usage: pytorch_vit.py [--batch 8] [--runs 5] [--warmup 1] [--threads 2] [--model auto|torchvision|plain]
"""
import argparse
import json
import statistics
import sys
import time


def row(**kw):
    base = {"suite": "embed", "name": "b16", "impl": "pytorch-cpu", "status": "ok",
            "rate_unit": "images/s"}
    base.update(kw)
    return base


def flops_per_image(tokens, width=768, depth=12, mlp=3072, patch=16, head=768):
    """Matrix products and attention, as clippo counts them (LayerNorm, softmax left out)."""
    f = 2.0 * 196 * patch * patch * 3 * width
    f += depth * (2.0 * tokens * width * (4 * width + 2 * mlp) + 4.0 * tokens * tokens * width)
    return f + 2.0 * width * head


def plain_vit(torch):
    nn = torch.nn

    class ViT(nn.Module):
        def __init__(self, width=768, depth=12, heads=12, mlp=3072, patch=16, size=224):
            super().__init__()
            self.embed = nn.Conv2d(3, width, patch, patch)
            self.pos = nn.Parameter(torch.randn(1, (size // patch) ** 2, width) * 0.02)
            layer = nn.TransformerEncoderLayer(width, heads, mlp, dropout=0.0, activation="gelu",
                                               batch_first=True, norm_first=True)
            self.blocks = nn.TransformerEncoder(layer, depth)
            self.norm = nn.LayerNorm(width, eps=1e-6)
            self.head = nn.Linear(width, width)

        def forward(self, x):
            x = self.embed(x).flatten(2).transpose(1, 2) + self.pos
            x = self.norm(self.blocks(x))
            return self.head(x.mean(dim=1))

    return ViT()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", choices=["auto", "torchvision", "plain"], default="auto")
    ap.add_argument("--quick", action="store_true", help="accepted for symmetry; no effect")
    a = ap.parse_args()
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - any import failure means "no PyTorch here"
        print(json.dumps(row(status="unavailable", batch=a.batch,
                             note=f"python3 cannot import torch: {e}")))
        return 0
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model, what, tokens, head = None, "", 196, 768
    if a.model in ("auto", "torchvision"):
        try:
            import torchvision
            model = torchvision.models.vit_b_16(weights=None)
            what = (f"torchvision {torchvision.__version__} vit_b_16(weights=None): 197 tokens "
                    "(class token), 1000-class head")
            tokens, head = 197, 1000
        except Exception as e:  # noqa: BLE001
            if a.model == "torchvision":
                print(json.dumps(row(status="unavailable", batch=a.batch,
                                     note=f"torchvision: {e}")))
                return 0
    if model is None:
        model = plain_vit(torch)
        what = "plain PyTorch ViT-B/16: 196 tokens, no class token, mean pooling, 768 head"
    model.eval()
    x = torch.rand(a.batch, 3, 224, 224, dtype=torch.float32) * 2 - 1
    times = []
    with torch.no_grad():
        t0 = time.perf_counter()
        for _ in range(max(a.warmup, 0)):
            model(x)
        first = time.perf_counter() - t0
        for _ in range(max(a.runs, 1)):
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(json.dumps(row(
        shape=f"12 layers, width 768, 224 px, {tokens} tokens; batch {a.batch}",
        batch=a.batch, runs=len(times), median_s=med, min_s=min(times),
        flops=flops_per_image(tokens, head=head) * a.batch, rate=a.batch / med,
        note=(f"PyTorch {torch.__version__}, {what}; float32, eval, no_grad, "
              f"{torch.get_num_threads()} threads; warm-up {first:.2f} s"))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
