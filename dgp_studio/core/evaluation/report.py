"""Write an evaluation as report.json (every number), report.md (tables) and <task>.png sheets."""
from __future__ import annotations

import io
import json
import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from ..fsutil import atomic_write_bytes as _atomic_write_bytes
from ..imaging import to_uint8

ARROW = {True: " ↑", False: " ↓", None: ""}


def _json_safe(x):
    """inf/NaN are not JSON: write them as null (a PSNR of identical images is +inf)."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    return x


def fmt(key: str, v) -> str:
    if v is None:
        return "—"
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    if key.startswith("psnr"):
        return f"{v:.2f}"
    if key.startswith("ssim"):
        return f"{v:.4f}"
    if key in ("mse", "rmse"):
        return f"{v:.5f}"
    if key.startswith("ab_"):
        return f"{v:.2f}"
    if key == "colourfulness":
        return f"{v:.1f}"
    if key.endswith("_s"):
        return f"{v:.2f}"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _table(header, rows) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out


def _class(cid, names) -> str:
    if cid is None:
        return "—"
    return f"{names[cid]} ({cid})" if names and 0 <= cid < len(names) else str(cid)


def _task_md(key, t, n_images, names=None) -> list[str]:
    lines = [f"## {t['title']} (paper {t['paper']})", ""]
    metrics = t["metrics"]
    labels = {m["key"]: m["label"] for m in t["methods"]}
    head = ["method"] + [m["label"] + ARROW[m["higher_is_better"]] for m in metrics] + ["time / image (s)"]
    rows = [[labels[m]] + [fmt(x["key"], t["mean"][m].get(x["key"])) for x in metrics]
            + [fmt("time_s", t["mean"][m].get("time_s"))] for m in labels if m in t["mean"]]
    lines += [f"Means over {n_images} image(s).", ""] + _table(head, rows) + [""]
    head = ["image", "method"] + [m["label"] for m in metrics] + ["time (s)", "class used"]
    rows = []
    for rec in t["per_image"]:
        for m, vals in rec["methods"].items():
            rows.append([rec["image"], labels[m]] + [fmt(x["key"], vals.get(x["key"])) for x in metrics]
                        + [fmt("time_s", vals.get("time_s")), _class(vals.get("class_id"), names)])
    lines += ["Per image:", ""] + _table(head, rows) + ["", f"![{t['title']}]({key}.png)", ""]
    return lines


def _ablation_md(t, n_images) -> list[str]:
    lines = [f"## {t['title']} (paper {t['paper']})", "",
             "The paper's ordering is MSE < perceptual < discriminator < discriminator + progressive "
             "(no perceptual row: VGG weights cannot be had offline). 'MSE' and 'discriminator' tune every "
             "generator group from stage 1; 'discriminator + progressive' is the task's preset where that "
             "preset tunes shallow-to-deep (colorization, super-resolution). The inpainting preset tunes every "
             "group in every stage, so there 'discriminator' is the preset and the progressive row uses the "
             "super-resolution ramp (2, 3, 4, 5, all groups).", ""]
    labels = {m["key"]: m["label"] for m in t["methods"]}
    head = ["task", "metric"] + list(labels.values()) + ["ordering holds (means)", "images where it holds"]
    rows = []
    for sub in t["subtasks"]:
        o = t["ordering"][sub["key"]]
        lab = next(m["label"] for m in sub["metrics"] if m["key"] == o["metric"]) + ARROW[o["higher_is_better"]]
        rows.append([sub["key"], lab] + [fmt(o["metric"], v) for v in o["means"]]
                    + ["yes" if o["holds_on_means"] else "no", f"{o['images_holding']}/{o['n_images']}"])
    lines += [f"Means over {n_images} image(s).", ""] + _table(head, rows) + [""]
    head = ["image", "task"] + list(labels.values()) + ["time (s), each variant"]
    rows = []
    for rec in t["per_image"]:
        for sub in t["subtasks"]:
            m = sub["metric"]
            d = rec["methods"][sub["key"]]
            rows.append([rec["image"], sub["key"]] + [fmt(m, d[v][m]) for v in labels]
                        + [" / ".join(fmt("time_s", d[v]["time_s"]) for v in labels)])
    lines += ["Per image (main metric of each task):", ""] + _table(head, rows) + ["", "![ablation](ablation.png)", ""]
    return lines


def markdown(report: dict) -> str:
    s, m = report["settings"], report["model"]
    n = len(report["images"])
    lines = ["# DGP Studio evaluation report", ""]
    if not report.get("complete", True):
        lines += [f"**Partial report: written after each task; the tasks below are done, "
                  f"{', '.join(t for t in s['tasks'] if t not in report['tasks'])} not yet.**", ""]
    if report.get("command"):
        lines += [f"- Command: `{report['command']}`"]
    lines += [f"- Model: {m['name']} — {m['resolution']} px, {m['n_classes']} classes, G_ch {m['G_ch']}, "
              f"D_ch {m['D_ch']} ({m['source']})",
              f"- Device: {report['device_description']}; torch {report['torch']}",
              f"- Schedule: every preset's iterations x {s['iters_scale']:g}; candidates searched: "
              f"{s['select_num'] if s['select_num'] is not None else 'preset (500)'}; seed {s['seed']}"
              + ("; --quick" if s["quick"] else ""),
              f"- Wall time: {report['wall_s']:.1f} s for {n} image(s); created {report['created']}"
              + (f"; {report['resumed_runs']} finished run(s) read back from an interrupted evaluation "
                 "(their times are the original runs')" if report.get("resumed_runs") else ""), ""]
    lines += ["Images (centre square, resized to the model's resolution; class from a matching folder name, "
              "otherwise searched by the engine):", ""]
    lines += _table(["#", "image", "class"], [[i + 1, im["name"], im["class_name"] or "unknown (searched)"]
                                               for i, im in enumerate(report["images"])]) + [""]
    for key, t in report["tasks"].items():
        lines += _ablation_md(t, n) if key == "ablation" else _task_md(key, t, n, m.get("class_names"))
    return "\n".join(lines) + "\n"


def _font(size=11):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # older Pillow
        return ImageFont.load_default()


def _wrap(draw, text, font, width) -> str:
    out = []
    for para in str(text).split("\n"):
        line = ""
        for word in para.replace("/", "/ ").split(" "):
            cand = (line + " " + word).strip() if line else word
            if draw.textlength(cand, font=font) <= width or not line:
                line = cand
            else:
                out.append(line)
                line = word
        out.append(line)
    return "\n".join(x.replace("/ ", "/") for x in out)


def image_sheet(columns, rows, min_cell: int = 96) -> Image.Image:
    """Grid: a header of column labels, one row per entry (label on the left, then its images)."""
    if not rows:
        return Image.new("RGB", (200, 40), "white")
    res = rows[0][1][0][1].shape[-1]
    cell = res * max(1, math.ceil(min_cell / res))
    pad, label_w, head_h = 4, 150, 34
    n_cols = max(len(c) for _, c in rows)
    W = label_w + n_cols * (cell + pad) + pad
    H = head_h + len(rows) * (cell + pad) + pad
    sheet = Image.new("RGB", (W, H), "white")
    draw = ImageDraw.Draw(sheet)
    font = _font()
    for j, name in enumerate(columns[:n_cols]):
        draw.multiline_text((label_w + pad + j * (cell + pad), 2), _wrap(draw, name, font, cell), fill="black",
                            font=font, spacing=1)
    for i, (label, cells) in enumerate(rows):
        y = head_h + pad + i * (cell + pad)
        draw.multiline_text((pad, y), _wrap(draw, label, font, label_w - 2 * pad), fill="black", font=font)
        for j, (_, img) in enumerate(cells):
            tile = Image.fromarray(to_uint8(img)).resize((cell, cell), Image.NEAREST)
            sheet.paste(tile, (label_w + pad + j * (cell + pad), y))
    return sheet


def write_report(report: dict, sheets: dict, out_dir) -> dict:
    """-> {'json': path, 'markdown': path, 'sheets': {task: path}}; every file written atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "report.json", "markdown": out / "report.md", "sheets": {}}
    _atomic_write_bytes(paths["json"], (json.dumps(_json_safe(report), indent=1, allow_nan=False) + "\n").encode())
    _atomic_write_bytes(paths["markdown"], markdown(report).encode())
    for key, sh in sheets.items():
        img = image_sheet(sh["columns"], sh["rows"])
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        p = out / f"{key}.png"
        _atomic_write_bytes(p, buf.getvalue())
        paths["sheets"][key] = p
    return paths
