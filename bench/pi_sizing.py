"""What the figures of bench/pi_memory.py mean for a Raspberry Pi: per-service footprints
(measured under emulation, then the emulator taken out), and how many services fit on each Pi.

The Pi's own side is estimated, not measured here (there is no Pi): what the kernel, Raspberry
Pi OS Lite (bookworm) and the Docker engine take is in :data:`MODELS` with where each number
comes from, and a fifth of what is left is kept free (page cache, bursts, the odd apt run).
"""

from __future__ import annotations

from typing import Any

#: name, RAM MiB, MiB Linux sees (the GPU/CMA reserve taken out), idle OS, idle Docker engine
MODELS = (
    ("Pi Zero 2 W", 512, 430, 70, 60),
    ("Pi 3 B/B+", 1024, 920, 80, 60),
    ("Pi 4 / Pi 5, 2 GB", 2048, 1900, 90, 60),
    ("Pi 4 / Pi 5, 4 GB", 4096, 3900, 90, 60),
)
SOURCES = ("RAM Linux sees: the board's memory less the GPU/CMA reserve Raspberry Pi OS "
           "bookworm keeps (estimate); idle OS: Raspberry Pi OS Lite after boot, systemd, "
           "sshd and NetworkManager (estimate); Docker engine: dockerd and containerd idle "
           "(estimate, Go programs of about the same size on arm64 as on amd64). A fifth of "
           "the rest is kept free.")
HEADROOM = 0.8
#: the gateway of compose/pi-iot-gateway
GATEWAY = ("iot-receiver", "mqtt-bridge", "ssh")


def footprint(row: dict[str, Any]) -> dict[str, float]:
    """One service's memory (MiB): measured under emulation, qemu-user's part, and the
    estimate for a real Pi (the guest's PSS plus the engine's shim)."""
    parts = row["parts"].values()
    emulated = sum(p["all_pss_mb"] for p in parts)
    qemu = sum(p["qemu_pss_mb"] for p in parts)
    guest = sum(p["guest_pss_mb"] for p in parts)
    shim = float(row.get("shim", {}).get("pss_mb", 0.0))
    return {"emulated_pss_mb": round(emulated, 1), "qemu_pss_mb": round(qemu, 1),
            "guest_pss_mb": round(guest, 1), "shim_pss_mb": round(shim, 1),
            "pi_estimate_mb": round(guest + shim, 1),
            "cgroup_emulated_mb": row["usage_mb"],
            "cgroup_pi_estimate_mb": round(max(0.0, row["usage_mb"] - sum(
                p["qemu_uss_mb"] for p in parts)), 1)}


def fit(result: dict[str, Any], native: dict[str, Any]) -> dict[str, Any]:
    """Per template its footprint and the amd64 native one beside it; per Pi model how many
    of each fit, and whether the gateway does."""
    amd64 = {r["template"]: r for r in native.get("templates", [])}
    services = {}
    for row in result["templates"]:
        entry = footprint(row)
        base = amd64.get(row["template"])
        if base:
            entry["amd64_native_rss_mb"] = base["rss_mb"]
            entry["amd64_native_cgroup_mb"] = base["usage_mb"]
        services[row["template"]] = entry
    models = []
    for name, ram, seen, os_mb, engine in MODELS:
        free = (seen - os_mb - engine) * HEADROOM
        counts = {t: int(free // s["pi_estimate_mb"]) for t, s in services.items()
                  if s["pi_estimate_mb"] > 0}
        gateway = sum(services[t]["pi_estimate_mb"] for t in GATEWAY if t in services)
        models.append({"model": name, "ram_mb": ram, "for_services_mb": round(free),
                       "fits": counts, "gateway_mb": round(gateway, 1),
                       "gateways": int(free // gateway) if gateway else 0})
    return {"services": services, "models": models, "sources": SOURCES}


def markdown(result: dict[str, Any]) -> str:
    pi, arch = result["pi"], result["arch"]
    lines = [f"# Templates on {arch}: memory, and what fits on a Raspberry Pi "
             f"({result['measured']})", "",
             f"Each template shared for {arch} on the local test network, under emulation "
             f"(qemu-user) on this {result['machine']['cpus']}-core amd64 machine, then idle "
             f"for {result['idle_seconds']:.0f} s. Per process, on the host: RSS / PSS / USS "
             "(MiB) of the whole process (measured), and of its qemu-user part (the emulator's "
             "binary, heap, translated code: measured by address, see bench/pi_memory.py); the "
             "rest is the arm64 program's — the estimate of what it takes on a Pi.", "",
             "| template | process | whole (emulated) RSS / PSS / USS | qemu-user's | "
             "the arm64 program's |", "|---|---|---|---|---|"]
    for row in result["templates"]:
        for proc in row["processes"]:
            cells = [" / ".join(str(proc[f"{part}_{kind}_mb"]) for kind in ("rss", "pss", "uss"))
                     for part in ("all", "qemu", "guest")]
            lines.append(f"| {row['template']} | {proc['comm']} (ELF{proc['bits']}) | "
                         + " | ".join(cells) + " |")
    lines += ["", "Per service (MiB): PSS summed over its processes — under emulation, "
              "qemu-user's share, the arm64 programs' — plus the engine's shim (its PSS, here); "
              "the container's memory as the engine counts it (cgroup, less page cache) under "
              "emulation and less qemu-user's private memory; beside them the amd64 native "
              "figures of bench/results/templates.json (the same programs built for amd64, not "
              "emulated).", "",
              "| template | emulated PSS | qemu-user's | arm64 programs' | + shim = **on a Pi "
              "(estimate)** | cgroup emulated → on a Pi | amd64 native RSS / cgroup |",
              "|---|---|---|---|---|---|---|"]
    for name, s in pi["services"].items():
        lines.append(f"| {name} | {s['emulated_pss_mb']} | {s['qemu_pss_mb']} | "
                     f"{s['guest_pss_mb']} | **{s['pi_estimate_mb']}** | "
                     f"{s['cgroup_emulated_mb']} → {s['cgroup_pi_estimate_mb']} | "
                     f"{s.get('amd64_native_rss_mb', '-')} / "
                     f"{s.get('amd64_native_cgroup_mb', '-')} |")
    names = list(pi["services"])
    lines += ["", "How many services of one template fit, idle, and how many gateways "
              "(iot-receiver + mqtt-bridge + ssh, compose/pi-iot-gateway):", "",
              "| Pi | RAM MiB | for services MiB | " + " | ".join(names) + " | gateways |",
              "|---|---|---|" + "---|" * len(names) + "---|"]
    for m in pi["models"]:
        lines.append(f"| {m['model']} | {m['ram_mb']} | {m['for_services_mb']} | "
                     + " | ".join(str(m["fits"].get(n, "-")) for n in names)
                     + f" | {m['gateways']} ({m['gateway_mb']} MiB each) |")
    lines += ["", pi["sources"]]
    return "\n".join(lines) + "\n"
