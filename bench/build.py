"""Benchmark: building the images, and how much of them is shared.

For the tor layer and every built-in template:
- cold: `docker build` with no cache (``runtime.build(..., nocache=True)``), from the base image,
  into throw-away tags ``myonion-bench/<what>:cold`` (the templates on top of the cold tor layer),
  which are removed afterwards: the shared ``myonion/*`` images are never touched;
- with --parallel also every template at once (after the cold tor layer), to see whether
  parallel builds pay on 2 cores;
- warm, the way myonion does it: ``images.template_image`` when the digest-tagged image exists
  (render the context, hash it, look the tag up: no build at all);
- warm, the way a plain `docker build` would: the same context built again with the cache into a
  throw-away tag (every step cached);
- sizes: the base, the tor layer and each template image, split by `docker history` into what
  the base, the shared tor layer and the template's own steps add.
Writes bench/results/build.json and .md. Needs the Debian mirror for the cold builds.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import benchlib
from benchlib import summary

from myonion import paths
from myonion.build import images, render
from myonion.runtime.docker import DockerRuntime
from myonion.templates import TemplateRegistry, TemplateSpec

BENCH_REPO = "myonion-bench"
LABELS = {"org.myonion.role": "bench"}
MB = 1e6  # sizes in MB (10^6 bytes), as `docker images` shows them


def timed_build(runtime: DockerRuntime, context: render.BuildContext, tag: str,
                nocache: bool, labels: dict[str, str] | None = None) -> float:
    start = time.monotonic()
    runtime.build(context.tar(), tag, labels or LABELS, lambda _line: None, nocache=nocache)
    return round(time.monotonic() - start, 2)


def untag(runtime: DockerRuntime, tag: str) -> None:
    """Remove one of our throw-away tags (never by force: an image another tag or a container
    uses stays; an image that has other tags only loses this one)."""
    if not tag.startswith(f"{BENCH_REPO}/"):
        raise ValueError(f"{tag} is not a benchmark tag")
    try:
        runtime.client.images.remove(tag, force=False, noprune=False)
    except Exception as e:  # a benchmark tidies what it can and says what it could not
        print(f"could not remove {tag}: {e}", file=sys.stderr)


def layers(runtime: DockerRuntime, image: str) -> list[dict[str, Any]]:
    """`docker history`: newest first, each with its id ("<missing>" below the top) and size."""
    return [{"id": h.get("Id", ""), "size": int(h.get("Size", 0)),
             "created_by": str(h.get("CreatedBy", ""))[:80]}
            for h in runtime.client.api.history(image)]


def image_id(runtime: DockerRuntime, image: str) -> str:
    return str(runtime.client.images.get(image).id)


def sizes(runtime: DockerRuntime, base: str, tor: str, python: str,
          templates: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """Each image's size split into what is below it (the tor layer, or the python layer on
    the tor layer) and its own steps. ``templates``: id → (image, the layer it builds on)."""
    base_size = runtime.image_size(base)
    tor_size = runtime.image_size(tor)
    python_size = runtime.image_size(python)
    rows = []
    for tid, (tag, below) in templates.items():
        size = runtime.image_size(tag)
        below_size = runtime.image_size(below)
        history = layers(runtime, tag)
        own = history[: max(0, len(history) - len(layers(runtime, below)))]
        rows.append({"template": tid, "image": tag, "layer": below, "size_mb": round(size / MB, 1),
                     "own_mb": round((size - below_size) / MB, 1),
                     "own_layers": len(own),
                     "biggest_own_step": max(own, key=lambda h: h["size"])["created_by"]
                     if own else "",
                     "shared_fraction": round(below_size / size, 3) if size else 0.0})
    naive = sum(runtime.image_size(t) for t, _ in templates.values())
    uses_python = any(below == python for _, below in templates.values())
    on_disk = (tor_size + (python_size - tor_size if uses_python else 0)
               + sum(runtime.image_size(t) - runtime.image_size(b)
                     for t, b in templates.values()))
    return {"base": {"image": base, "size_mb": round(base_size / MB, 1)},
            "tor": {"image": tor, "size_mb": round(tor_size / MB, 1),
                    "tor_layer_mb": round((tor_size - base_size) / MB, 1)},
            "python": {"image": python, "size_mb": round(python_size / MB, 1),
                       "python_layer_mb": round((python_size - tor_size) / MB, 1)},
            "templates": rows,
            "sum_of_image_sizes_mb": round(naive / MB, 1),
            "on_disk_mb": round(on_disk / MB, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-cold", action="store_true", help="skip the cold builds")
    parser.add_argument("--parallel", action="store_true",
                        help="also build every template cold at once")
    parser.add_argument("--warm-runs", type=int, default=5)
    args = parser.parse_args()
    benchlib.require_local()
    runtime = DockerRuntime()
    runtime.ping()
    specs: list[TemplateSpec] = [s for s in TemplateRegistry(
        [(paths.builtin_templates_dir(), True)]).all()]
    base = images.base_image(runtime)
    tor = images.tor_image(runtime)  # the shared images exist (or are built once, kept)
    python = images.python_image(runtime)

    def context(spec: TemplateSpec, tor_tag: str, python_tag: str) -> render.BuildContext:
        return render.template_context(spec, tor_tag,
                                       python_tag if spec.layer == "python" else None)

    shared = {s.id: images.template_image(runtime, s) for s in specs}
    result: dict[str, Any] = {"measured": benchlib.stamp(), "machine": benchlib.machine(),
                              "base": base}

    # warm, the myonion way: digest tag exists -> no build
    warm_myonion: dict[str, Any] = {}
    for spec in specs:
        times = []
        for _ in range(args.warm_runs):
            start = time.monotonic()
            images.template_image(runtime, spec)
            times.append(time.monotonic() - start)
        warm_myonion[spec.id] = summary(times)
    # warm, the docker way: the same context built again with the cache, throw-away tag
    warm_docker: dict[str, float] = {}
    warm_same: dict[str, bool] = {}
    for spec in specs:
        tag = f"{BENCH_REPO}/{spec.id}:warm"
        # the labels myonion builds with (they become the last step), so every step is cached
        warm_docker[spec.id] = timed_build(
            runtime, context(spec, tor, python), tag, nocache=False,
            labels={"org.myonion.image": f"template '{spec.id}'"})
        same = image_id(runtime, tag) == image_id(runtime, shared[spec.id])
        warm_same[spec.id] = same
        untag(runtime, tag)  # only the tag goes when the image is the shared one
    result["warm"] = {"myonion_s": warm_myonion, "docker_cached_build_s": warm_docker,
                      "docker_cached_build_is_same_image": warm_same}
    print(f"warm: {result['warm']}", file=sys.stderr)

    made: list[str] = []
    try:
        if not args.no_cold:
            cold: dict[str, Any] = {}
            tor_tag = f"{BENCH_REPO}/tor:cold"
            cold["tor"] = timed_build(runtime, render.tor_image_context(base), tor_tag, True)
            made.append(tor_tag)
            print(f"cold tor layer: {cold['tor']} s", file=sys.stderr)
            python_tag = f"{BENCH_REPO}/python:cold"
            cold["python"] = timed_build(runtime, render.python_image_context(tor_tag),
                                         python_tag, True)
            made.append(python_tag)
            print(f"cold python layer: {cold['python']} s", file=sys.stderr)
            for spec in specs:
                tag = f"{BENCH_REPO}/{spec.id}:cold"
                cold[spec.id] = timed_build(runtime, context(spec, tor_tag, python_tag), tag,
                                            True)
                made.append(tag)
                print(f"cold {spec.id}: {cold[spec.id]} s", file=sys.stderr)
            result["cold_s"] = cold
            result["cold_sequential_total_s"] = round(sum(cold.values()), 2)
            cold_tags = [("tor", tor_tag), ("python", python_tag)] + [
                (s.id, f"{BENCH_REPO}/{s.id}:cold") for s in specs]
            result["cold_sizes"] = {k: round(runtime.image_size(t) / MB, 1)
                                    for k, t in cold_tags}
            if args.parallel:
                start = time.monotonic()

                def build(spec: TemplateSpec) -> tuple[str, float]:
                    tag = f"{BENCH_REPO}/{spec.id}:cold-par"
                    made.append(tag)
                    return spec.id, timed_build(
                        runtime, context(spec, tor_tag, python_tag), tag, True)

                with ThreadPoolExecutor(max_workers=len(specs)) as pool:
                    par = dict(pool.map(build, specs))
                result["cold_parallel"] = {"templates_s": par,
                                           "wall_s": round(time.monotonic() - start, 2),
                                           "sequential_templates_s": round(
                                               sum(cold[s.id] for s in specs), 2)}
                print(f"cold, in parallel: {result['cold_parallel']}", file=sys.stderr)
    finally:
        for tag in reversed(made):  # templates before the tor layer they are built on
            untag(runtime, tag)

    result["sizes"] = sizes(runtime, base, tor, python, {
        s.id: (shared[s.id], python if s.layer == "python" else tor) for s in specs})
    benchlib.write_results("build", result, markdown(result))
    return 0


def markdown(r: dict[str, Any]) -> str:
    s = r["sizes"]
    lines = [f"# Build: time and size of the images ({r['measured']}, "
             f"{r['machine']['cpus']} cores)", ""]
    cold = r.get("cold_s")
    lines += ["| image | cold build s (no cache) | warm: myonion (tag exists) s, median | "
              "warm: docker build, all cached s | size MB | own steps MB | shared layers below |",
              "|---|---|---|---|---|---|---|"]
    lines.append(f"| base `{s['base']['image']}` | (not rebuilt) | | | {s['base']['size_mb']} | "
                 f"{s['base']['size_mb']} | |")
    lines.append(f"| tor layer `{s['tor']['image']}` | {cold['tor'] if cold else '-'} | | | "
                 f"{s['tor']['size_mb']} | {s['tor']['tor_layer_mb']} | |")
    lines.append(f"| python layer `{s['python']['image']}` | "
                 f"{cold['python'] if cold else '-'} | | | {s['python']['size_mb']} | "
                 f"{s['python']['python_layer_mb']} | |")
    for t in s["templates"]:
        tid = t["template"]
        lines.append(
            f"| {tid} | {cold[tid] if cold else '-'} | "
            f"{r['warm']['myonion_s'][tid]['median']} | {r['warm']['docker_cached_build_s'][tid]} "
            f"| {t['size_mb']} | {t['own_mb']} | {round(100 * t['shared_fraction'])} % "
            f"({t['layer'].split(':')[0].removeprefix('myonion/')}) |")
    lines += ["", f"Sum of the {len(s['templates'])} template image sizes: "
              f"{s['sum_of_image_sizes_mb']} MB; on disk, with the tor and python layers (and the "
              f"base in them) stored once: **{s['on_disk_mb']} MB**."]
    if cold:
        lines.append(f"Cold, everything one after the other (tor and python layers + every "
                     f"template): "
                     f"**{r['cold_sequential_total_s']} s**.")
    par = r.get("cold_parallel")
    if par:
        lines.append(f"Cold templates all at once (on the cold tor layer): {par['wall_s']} s "
                     f"wall, against {par['sequential_templates_s']} s one after the other.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
