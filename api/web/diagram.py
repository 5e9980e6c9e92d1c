"""The process diagram as SVG, drawn from the process's own step definitions, with the
case's done, current and pending steps marked: steps top to bottom, parallel steps
side by side, and each way back (a step whose ``next`` names an earlier one) as a
dashed arrow on the right. A parallel group whose steps lead on to each other (the
aftercare's urgent work: stop the pension → recover the overpayment → approve a
waiver, beside the visit, the obituary → its approval, …) is drawn as branches: one
column each, in a dashed frame, a way back within a branch beside its column.

What the picture says is said in words too (WCAG 2.1 SC 1.1.1, SC 1.4.1; GB/T
37668-2019 §7.1.1): the ``<svg>`` is an image named after the process
(``role="img"``, ``aria-label``) and described (``aria-describedby``) by the steps in
order — an ordered list in a ``<details>`` under it, each step with its state in words,
the steps worked at the same time as a sub-list, then the ways back. A step's state is
not told by colour alone in the picture either: a mark before its name (✓ done,
▶ current, – skipped), explained by the legend under it."""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from models.process_spec import ProcessSpec

COLOURS = {
    "done": "#1e7d3a",
    "current": "#2b6cb0",
    "pending": "#a0aec0",
    "skipped": "#718096",
}
# The mark before a step's name in the picture, and the state in words.
MARKS = {"done": "✓", "current": "▶", "skipped": "–", "pending": ""}
BOX_W, BOX_H, GAP_X, GAP_Y = 176, 40, 14, 34
LANE = 12  # room for each way back (a dashed arrow right of the boxes)


def stages(spec: ProcessSpec) -> list[list[str]]:
    """Steps in order; the steps of a parallel group share one stage."""
    out: list[list[str]] = []
    for step in spec.steps:
        if step.group and out and spec.step(out[-1][0]).group == step.group:
            out[-1].append(step.key)
        else:
            out.append([step.key])
    return out


def branches(spec: ProcessSpec, keys: list[str]) -> list[list[str]]:
    """The branches of a parallel stage: each starts at a step no earlier step of the
    stage leads to and follows the stage's own ``next`` forward."""
    order = {k: i for i, k in enumerate(keys)}
    ahead = {
        k: [t for t in spec.step(k).next if order.get(t, -1) > order[k]] for k in keys
    }
    led = {t for ts in ahead.values() for t in ts}
    out: list[list[str]] = []
    seen: set[str] = set()
    for key in [k for k in keys if k not in led] + keys:
        if key in seen:
            continue
        chain = [key]
        while nxt := next((t for t in ahead[chain[-1]] if t not in seen), None):
            chain.append(nxt)
            seen.add(nxt)
        seen.update(chain)
        out.append(chain)
    return out


def step_states(
    spec: ProcessSpec, task_states: list[tuple[str, str]]
) -> dict[str, str]:
    """done / current / skipped / pending per step, from the case's (step, status) rows.
    A task withdrawn (the process no longer waited for it) reads as skipped; a step
    worked again (a correction round) shows its latest round."""
    state = {s.key: "pending" for s in spec.steps}
    for step, status in task_states:  # in creation order: the latest row wins
        if step in state:
            state[step] = {
                "open": "current",
                "completed": "done",
                "skipped": "skipped",
                "withdrawn": "skipped",
                "cancelled": "skipped",
            }.get(status, state[step])
    return state


def back_edges(spec: ProcessSpec, layout: list[list[str]]) -> list[tuple[str, str]]:
    """The ways back: a step whose ``next`` names a step drawn above it (a correction
    round goes back to the report, an interview back to the review)."""
    row_of = {key: i for i, row in enumerate(layout) for key in row}
    return [
        (step.key, target)
        for step in spec.steps
        for target in step.next
        if target in row_of and row_of[target] < row_of[step.key]
    ]


def state_words(gettext: Callable[[str], str]) -> dict[str, str]:
    _ = gettext
    return {
        "done": _("已办结"),
        "current": _("办理中"),
        "skipped": _("已跳过"),
        "pending": _("未开始"),
    }


def diagram_text(
    spec: ProcessSpec,
    states: dict[str, str],
    gettext: Callable[[str], str],
    list_id: str,
) -> str:
    """The steps in order with their states, for a screen reader and anyone who
    prefers words: the text alternative the diagram points at."""
    _ = gettext
    words = state_words(gettext)

    def step(key: str) -> str:
        st = states.get(key, "pending")
        return (
            f'<span data-step="{key}">{escape(_(spec.step(key).title))}</span>'
            f" <small>({escape(words[st])})</small>"
        )

    together = escape(_("同时办理："))
    items = []
    for keys in stages(spec):
        if len(keys) == 1:
            items.append(f"<li>{step(keys[0])}</li>")
            continue
        lanes = "".join(
            "<li>" + " → ".join(step(k) for k in lane) + "</li>"
            for lane in branches(spec, keys)
        )
        items.append(f"<li>{together}<ul>{lanes}</ul></li>")
    layout = [[k] for k in (s.key for s in spec.steps)]
    backs = "".join(
        f"<li>{escape(_(spec.step(a).title))} → {escape(_(spec.step(b).title))}</li>"
        for a, b in back_edges(spec, layout)
    )
    marks = " ".join(f"{m} {escape(words[st])}" for st, m in MARKS.items() if m)
    legend, unmarked = escape(_("图例：")), escape(_("无标记：未开始"))
    summary, back = escape(_("流程步骤(文字版)")), escape(_("可退回："))
    return (
        f'<p class="diagram-legend muted">{legend}{marks}；{unmarked}</p>'
        f'<details class="diagram-steps"><summary>{summary}</summary>'
        f'<ol id="{list_id}">{"".join(items)}</ol>'
        + (f'<p>{back}</p><ul class="diagram-back">{backs}</ul>' if backs else "")
        + "</details>"
    )


def diagram_svg(
    spec: ProcessSpec,
    states: dict[str, str],
    title_of: Callable[[str], str] | None = None,
    diagram_id: str = "process-diagram",
) -> str:
    tr: Callable[[str], str] = title_of or (lambda s: s)
    rows = stages(spec)
    cols = 4
    # Wrap the wide parallel stage into rows of `cols` boxes; a stage of branches is
    # drawn a column per branch (``None``: no box in that column's row).
    layout: list[list[str | None]] = []
    block: dict[int, str] = {}  # row → the group of the branches drawn in it
    for r in rows:
        lanes = branches(spec, r) if len(r) > 1 else [r]
        if len(r) > 1 and any(len(b) > 1 for b in lanes):
            for i in range(max(len(b) for b in lanes)):
                block[len(layout)] = spec.step(r[0]).group or ""
                layout.append([b[i] if i < len(b) else None for b in lanes])
        else:
            for i in range(0, len(r), cols):
                layout.append([*r[i : i + cols]])
    column = {
        key: (i, j)
        for i, row in enumerate(layout)
        for j, key in enumerate(row)
        if key and i in block
    }
    keyed = [[k for k in row if k] for row in layout]
    # A way back within a branch is drawn beside its column, the others in lanes.
    local = [
        (a, b)
        for a, b in back_edges(spec, keyed)
        if a in column and b in column and column[a][1] == column[b][1]
    ]
    loops = [e for e in back_edges(spec, keyed) if e not in local]
    boxes = max(len(r) for r in layout) * (BOX_W + GAP_X) + GAP_X
    # The ways back run in lanes right of the boxes, one lane each.
    width = boxes + (len(loops) * LANE + GAP_X if loops else 0)
    height = len(layout) * (BOX_H + GAP_Y) + GAP_Y
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="diagram" id="{diagram_id}" viewBox="0 0 {width} {height}" style="width:100%;max-width:{width}px;height:auto" '
        f'role="img" aria-label="{escape(tr(spec.title))}：{escape(tr("流程图"))}" aria-describedby="{diagram_id}-steps">',
        '<defs><marker id="arr" markerWidth="8" markerHeight="8" refX="6" refY="4" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#5b6775"/></marker></defs>',
    ]
    at: dict[str, tuple[int, int]] = {}
    for i, row in enumerate(layout):
        y = GAP_Y // 2 + i * (BOX_H + GAP_Y)
        x0 = (boxes - len(row) * (BOX_W + GAP_X) + GAP_X) // 2
        group = block.get(i)
        if group is not None and block.get(i - 1) != group:
            rows_in = sum(1 for g in block.values() if g == group)
            parts.append(
                f'<rect class="parallel" data-group="{escape(group)}" x="{x0 - GAP_X // 2}" y="{y - 6}" '
                f'width="{len(row) * (BOX_W + GAP_X)}" height="{rows_in * (BOX_H + GAP_Y) - GAP_Y + 12}" rx="8" '
                'fill="none" stroke="#a0aec0" stroke-dasharray="6 4"/>'
            )
        if i and group is not None and block.get(i - 1) == group:
            # Within the branches: an arrow down each column that goes on.
            for j, key in enumerate(row):
                if key and layout[i - 1][j]:
                    cx = x0 + j * (BOX_W + GAP_X) + BOX_W // 2
                    parts.append(
                        f'<line x1="{cx}" y1="{y - GAP_Y + 4}" x2="{cx}" y2="{y - 4}" stroke="#5b6775" stroke-width="1.5" marker-end="url(#arr)"/>'
                    )
        elif i:
            parts.append(
                f'<line x1="{boxes // 2}" y1="{y - GAP_Y + 4}" x2="{boxes // 2}" y2="{y - 4}" stroke="#5b6775" stroke-width="1.5" marker-end="url(#arr)"/>'
            )
        for j, key in enumerate(row):
            if key is None:
                continue
            x = x0 + j * (BOX_W + GAP_X)
            at[key] = (x, y)
            st = states.get(key, "pending")
            title = escape(tr(spec.step(key).title))
            parts.append(
                f'<g class="step {st}" data-step="{key}" data-state="{st}"'
                + (f' data-branch="{column[key][1] + 1}"' if key in column else "")
                + f'><rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6" '
                f'fill="{COLOURS[st]}" fill-opacity="0.15" stroke="{COLOURS[st]}" stroke-width="2"/>'
                f'<text x="{x + BOX_W // 2}" y="{y + BOX_H // 2 + 5}" text-anchor="middle" font-size="13" fill="#1d2733">{title}</text>'
                + (
                    f'<text x="{x + 8}" y="{y + BOX_H // 2 + 5}" font-size="13" fill="#1d2733" font-weight="700">{MARKS[st]}</text>'
                    if MARKS[st]
                    else ""
                )
                + "</g>"
            )
    for lane, (source, target) in enumerate(loops):
        (sx, sy), (tx, ty) = at[source], at[target]
        lane_x = boxes + lane * LANE + GAP_X // 2
        parts.append(
            f'<path class="loop" data-from="{source}" data-to="{target}" '
            f'd="M{sx + BOX_W},{sy + BOX_H // 2 + 6} H{lane_x} V{ty + BOX_H // 2 - 6} H{tx + BOX_W + 4}" '
            'fill="none" stroke="#5b6775" stroke-width="1.2" stroke-dasharray="4 3" marker-end="url(#arr)"/>'
        )
    for source, target in local:
        (sx, sy), (_tx, ty) = at[source], at[target]
        side = sx + BOX_W + GAP_X // 2 - 1
        parts.append(
            f'<path class="loop" data-from="{source}" data-to="{target}" '
            f'd="M{sx + BOX_W},{sy + BOX_H // 2} H{side} V{ty + BOX_H // 2} H{sx + BOX_W + 4}" '
            'fill="none" stroke="#5b6775" stroke-width="1.2" stroke-dasharray="4 3" marker-end="url(#arr)"/>'
        )
    parts.append("</svg>")
    parts.append(diagram_text(spec, states, tr, f"{diagram_id}-steps"))
    return "".join(parts)
