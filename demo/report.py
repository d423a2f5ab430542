"""The demo's report: a timeline table (report.md) and a picture (report.svg) of capacity, the
gold image's refresh phases (canary, bake time, rolling, rollback) and the DNS target over time,
DNS flips marked, steps labelled."""
from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

WIDTH, LEFT, RIGHT = 1100, 70, 20
CAPACITY_TOP, CAPACITY_HEIGHT = 76, 210
REFRESH_TOP, REFRESH_HEIGHT = 298, 18
DNS_TOP, DNS_HEIGHT = 330, 40
HEIGHT = 470
# The refresh band: each phase of an instance refresh the gold-image loop reported.
REFRESH_COLOURS = {"Starting": "#d0d7de", "Canary": "#fb8f44", "CanaryBake": "#f6d365", "Rolling": "#54aeff",
                   "RollingBack": "#cf222e", "Stopping": "#8c959f"}
REFRESH_LABELS = {"Canary": "canary launching", "CanaryBake": "canary bake time", "Rolling": "rolling the rest",
                  "RollingBack": "rollback"}


def write_report(world: Any, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.svg").write_text(svg(world))
    (out / "report.md").write_text(markdown(world))


def markdown(world: Any) -> str:
    passed = sum(ok for _, _, ok in world.checks)
    lines = [
        "# halfhour demo report",
        "",
        f"{passed}/{len(world.checks)} checks passed, {len(world.rows)} events, "
        f"{world.rows[-1].t if world.rows else 0:.0f} s. Picture: [report.svg](report.svg).",
        "",
        "![capacity and DNS over time](report.svg)",
        "",
        "## Checks",
        "",
        "| step | check | result |",
        "|---|---|---|",
    ]
    lines += [f"| {step} | {escape(what)} | {'PASS' if ok else '**FAIL**'} |" for step, what, ok in world.checks]
    lines += ["", "## Timeline", "",
              "| t (s) | step | event | function | decision | desired | InService | waiting | refresh | DNS |",
              "|---:|---:|---|---|---|---:|---:|---:|---|---|"]
    lines += [
        f"| {r.t:.1f} | {r.step} | {escape(r.source)} | {r.function} | {escape(r.outcome).replace('|', '/')} | "
        f"{r.desired} | {r.in_service} | {r.waiting} | {REFRESH_LABELS.get(r.refresh, r.refresh)} | {r.dns} |"
        for r in world.rows
    ]
    lines += ["", "## Steps", ""] + [f"{n}. {title}" for n, title in sorted(world.steps.items())]
    return "\n".join(lines) + "\n"


def svg(world: Any) -> str:
    rows = world.rows
    end = max((r.t for r in rows), default=1.0) or 1.0
    plot = WIDTH - LEFT - RIGHT

    def x(t: float) -> float:
        return LEFT + plot * t / end

    def y(capacity: int) -> float:
        return CAPACITY_TOP + CAPACITY_HEIGHT * (1 - capacity / 10)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{LEFT}" y="24" font-size="16" font-weight="bold">halfhour demo: capacity, refresh and DNS over time</text>',
    ]
    for capacity in (0, 2, 4, 6, 8, 10):
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(capacity)}" y2="{y(capacity)}" stroke="#ddd"/>')
        parts.append(f'<text x="{LEFT - 8}" y="{y(capacity) + 4}" text-anchor="end">{capacity}</text>')
    parts.append(f'<text x="16" y="{CAPACITY_TOP + CAPACITY_HEIGHT / 2}" transform="rotate(-90 16 {CAPACITY_TOP + CAPACITY_HEIGHT / 2})" text-anchor="middle">instances</text>')
    for step in sorted(world.steps):
        first = next((r.t for r in rows if r.step == step), None)
        if first is not None:
            parts.append(f'<line x1="{x(first)}" x2="{x(first)}" y1="{CAPACITY_TOP - 30}" y2="{DNS_TOP + DNS_HEIGHT}" stroke="#999" stroke-dasharray="2,3"/>')
            label_y = CAPACITY_TOP - 6 - 14 * (step % 2)  # alternate rows: steps can start close together
            parts.append(f'<text x="{x(first) + 3}" y="{label_y}" fill="#555">step {step}</text>')
    for key, colour, label in (("desired", "#1f6feb", "desired"), ("in_service", "#2da44e", "InService")):
        points = step_points([(r.t, getattr(r, key)) for r in rows], x, y)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
    parts.append(legend(WIDTH - RIGHT - 330, CAPACITY_TOP + 10, [("#1f6feb", "desired capacity"), ("#2da44e", "InService")]))
    # Refresh band: the phase of the gold image's instance refresh, segment by segment.
    parts.append(f'<text x="{LEFT - 8}" y="{REFRESH_TOP + REFRESH_HEIGHT / 2 + 4}" text-anchor="end">refresh</text>')
    for (t0, phase), (t1, _) in zip([(r.t, r.refresh) for r in rows], [(r.t, r.refresh) for r in rows[1:]] + [(end, "")]):
        if phase:
            parts.append(f'<rect x="{x(t0)}" y="{REFRESH_TOP}" width="{max(x(t1) - x(t0), 0) + 0.6}" '
                         f'height="{REFRESH_HEIGHT}" fill="{REFRESH_COLOURS.get(phase, "#8c959f")}"/>')
    # DNS band: what the record answers, segment by segment.
    parts.append(f'<text x="{LEFT - 8}" y="{DNS_TOP + DNS_HEIGHT / 2 + 4}" text-anchor="end">DNS</text>')
    for (t0, answer), (t1, _) in zip([(r.t, r.dns) for r in rows], [(r.t, r.dns) for r in rows[1:]] + [(end, "")]):
        colour = "#2da44e" if answer == "balancer" else "#e3a008"
        parts.append(f'<rect x="{x(t0)}" y="{DNS_TOP}" width="{max(x(t1) - x(t0), 0) + 0.6}" height="{DNS_HEIGHT}" fill="{colour}"/>')
    flips = [b.t for a, b in zip(rows, rows[1:]) if a.dns != b.dns]
    for t in flips:
        parts.append(f'<line x1="{x(t)}" x2="{x(t)}" y1="{DNS_TOP - 8}" y2="{DNS_TOP + DNS_HEIGHT + 8}" stroke="#d1242f" stroke-width="2"/>')
    parts.append(legend(LEFT, DNS_TOP + DNS_HEIGHT + 28, [("#2da44e", "load balancer"), ("#e3a008", "static S3 page"),
                                                           ("#d1242f", f"DNS flip ({len(flips)})")]))
    parts.append(legend(LEFT, DNS_TOP + DNS_HEIGHT + 52,
                        [(REFRESH_COLOURS[phase], label) for phase, label in REFRESH_LABELS.items()]))
    parts.append(f'<text x="{WIDTH - RIGHT}" y="{DNS_TOP + DNS_HEIGHT + 32}" text-anchor="end">time (s) → {end:.0f}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def step_points(samples: list[tuple[float, int]], x: Any, y: Any) -> str:
    points: list[str] = []
    for i, (t, value) in enumerate(samples):
        if i:
            points.append(f"{x(t):.1f},{y(samples[i - 1][1]):.1f}")
        points.append(f"{x(t):.1f},{y(value):.1f}")
    return " ".join(points)


def legend(left: float, top: float, items: list[tuple[str, str]]) -> str:
    parts, offset = [], 0.0
    for colour, label in items:
        parts.append(f'<rect x="{left + offset}" y="{top - 10}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{left + offset + 16}" y="{top}">{escape(label)}</text>')
        offset += 30 + 7 * len(label)
    return "\n".join(parts)
