"""CPU settings benchmark (not a test: this machine is shared and timings are noisy; compare the
ratios printed within one run).

Prints:
  * prediction latency (median and 90th percentile of 30) on a busy machine (one other process
    keeps a core busy, as a training worker or another web worker would) with torch's thread
    count at 1 (what the web tier sets, core/threads.py) and at every core (torch's default);
  * fine-tuning images/s with glibc's default allocator settings and with the engine's
    (engine/runtime.py), each at 1 thread and at every core.

Each measurement runs in a fresh process: thread pools and malloc settings are per process.

    .venv/bin/python bench/cpu.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "custom-vision-sample"
sys.path.insert(0, str(ROOT))


def samples():
    import hashlib

    from engine.data import Sample

    found = []
    for folder in ("Hemlock", "Japanese_Cherry"):
        for path in sorted((SAMPLES / folder).glob("*.jpg")):
            data = path.read_bytes()
            found.append(Sample(hashlib.sha256(data).hexdigest(), lambda d=data: d))
    return found


def child_predict(bundle: Path, threads: int) -> dict:
    from engine.predict import Predictor

    predictor = Predictor.from_bytes(bundle.read_bytes(), threads=threads)
    photo = (SAMPLES / "Test" / "test_image.jpg").read_bytes()
    predictor.predict(photo)  # warm-up
    times = []
    for _ in range(30):
        started = time.perf_counter()
        predictor.predict(photo)
        times.append((time.perf_counter() - started) * 1000)
    return {"median_ms": statistics.median(times), "p90_ms": sorted(times)[26]}


def child_finetune(threads: int, tuned: bool) -> dict:
    import resource

    import torch

    from engine import finetune
    from engine.backbones import resolve
    from engine.head import LinearHead
    from engine.recipes import recipe_for
    from engine.runtime import keep_freed_memory
    from engine.squares import SquareStore

    torch.set_num_threads(threads)
    if tuned:
        keep_freed_memory()
    found = samples()
    recipe = recipe_for("General")
    backbone = resolve(recipe.torchvision, recipe.bundled)
    net = backbone.build()
    targets = torch.zeros(len(found), 2)
    targets[: len(found) // 2, 0] = 1
    targets[len(found) // 2 :, 1] = 1
    with tempfile.TemporaryDirectory() as tmp:
        store = SquareStore.build(found, backbone.spec.input_size, Path(tmp))
        setup = finetune.Setup(recipe, backbone.spec, store, targets, False, torch.device("cpu"))
        head = LinearHead(torch.zeros(net.feature_dim), torch.ones(net.feature_dim), 2)
        before = resource.getrusage(resource.RUSAGE_SELF)
        run = finetune.fine_tune(
            setup,
            net,
            head,
            torch.arange(len(found)),
            epochs=4,
            deadline=time.monotonic() + 600,
            seed=0,
            progress=lambda fraction, phase: None,
            label="bench",
        )
        after = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "images_per_second": run.images_per_second,
        "user_s": after.ru_utime - before.ru_utime,
        "sys_s": after.ru_stime - before.ru_stime,
    }


def spawn(*args: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def busy_core() -> subprocess.Popen:
    code = "import torch; torch.set_num_threads(1); a = torch.randn(512, 512)\nwhile True: a @ a"
    return subprocess.Popen([sys.executable, "-c", code])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs="+")
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "predict":
            result = child_predict(Path(rest[0]), int(rest[1]))
        else:
            result = child_finetune(int(rest[0]), rest[1] == "tuned")
        print(json.dumps(result))
        return

    import torch

    from engine.features import NoCache
    from engine.recipes import recipe_for
    from engine.train import TrainRequest, train

    cores = len(os.sched_getaffinity(0))
    found = samples()
    targets = torch.zeros(len(found), 2)
    targets[:10, 0] = 1
    targets[10:, 1] = 1
    result = train(
        TrainRequest(found, targets, ["Hemlock", "Cherry"], False, recipe_for("General")),
        cache=NoCache(),
    )
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "model.zip"
        assert result.bundle is not None
        bundle.write_bytes(result.bundle.to_bytes())
        hog = busy_core()
        try:
            time.sleep(1)
            for threads in (1, cores):
                r = spawn("predict", str(bundle), str(threads))
                print(
                    f"prediction on a busy machine, {threads} thread(s): median "
                    f"{r['median_ms']:.0f} ms, p90 {r['p90_ms']:.0f} ms"
                )
        finally:
            hog.kill()
    for threads in sorted({1, cores}):
        for tuned in (False, True):
            r = spawn("finetune", str(threads), "tuned" if tuned else "default")
            print(
                f"fine-tuning, {threads} thread(s), {'tuned' if tuned else 'default'} malloc: "
                f"{r['images_per_second']:.1f} images/s (user {r['user_s']:.1f} s, "
                f"sys {r['sys_s']:.1f} s)"
            )


if __name__ == "__main__":
    main()
