"""The ``collage`` step: labelled contact sheets of one or more image sets."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageColor, ImageDraw, ImageFont

from artforge.errors import StepError
from artforge.images import as_uint8


def run(ctx, p):
    sets = [ctx.images(ref) for ref in p.sets]
    labels = list(p.labels) if p.labels else [ref.strip("${}") for ref in p.sets]
    if len(labels) != len(sets):
        raise StepError(
            f"collage: {len(labels)} labels for {len(sets)} image sets",
            hint="give one label per set",
        )
    bg = _colour(p.background, "background")
    fg = _colour(p.text_color, "text_color")
    out = ctx.image_writer("sheets")
    # images are loaded one sheet at a time: memory stays bounded however large the sets
    if p.layout == "columns":
        n = min(len(s) for s in sets)
        if p.limit:
            n = min(n, p.limit)
        if n == 0:
            raise StepError("collage: an input image set is empty")
        for k, start in enumerate(range(0, n, p.rows_per_sheet)):
            rows = [[s.load(i) for s in sets] for i in range(start, min(n, start + p.rows_per_sheet))]
            sheet = render_sheet(rows, labels, p, bg, fg)
            out.add(sheet, name=f"sheet{k + 1:03d}")
    else:
        items = []  # (set, index): loaded when its sheet is drawn
        for s in sets:
            count = min(len(s), p.limit) if p.limit else len(s)
            items.extend((s, i) for i in range(count))
        if not items:
            raise StepError("collage: the input image sets are empty")
        per_sheet = p.columns * p.rows_per_sheet
        for k, start in enumerate(range(0, len(items), per_sheet)):
            chunk = [s.load(i) for s, i in items[start : start + per_sheet]]
            grid = [chunk[r : r + p.columns] for r in range(0, len(chunk), p.columns)]
            sheet = render_sheet(grid, [], p, bg, fg)
            out.add(sheet, name=f"sheet{k + 1:03d}")
    return {"sheets": out.finish(labels=labels, layout=p.layout, view="wide")}


def render_sheet(rows, labels, p, bg, fg) -> np.ndarray:
    """Lay out ``rows`` (lists of HxWx3 arrays) in cells of ``p.cell`` pixels with labels."""
    cols = max(len(r) for r in rows)
    font = _font(max(10, p.cell // 10))
    label_h = (font.size + 8) if labels else 0
    title_h = (font.size + 14) if p.title else 0
    width = cols * p.cell + (cols + 1) * p.margin
    height = title_h + label_h + len(rows) * p.cell + (len(rows) + 1) * p.margin
    canvas = Image.new("RGB", (width, height), bg)
    draw = ImageDraw.Draw(canvas)
    y0 = p.margin
    if p.title:
        draw.text((p.margin, y0), p.title, fill=fg, font=font)
        y0 += title_h
    if labels:
        for c, label in enumerate(labels):
            x = p.margin + c * (p.cell + p.margin)
            draw.text((x + 2, y0), _fit(draw, label, font, p.cell), fill=fg, font=font)
        y0 += label_h
    for r, row in enumerate(rows):
        for c, img in enumerate(row):
            tile = Image.fromarray(as_uint8(img)).convert("RGB")
            tile.thumbnail(
                (p.cell, p.cell),
                Image.Resampling.LANCZOS if tile.width > p.cell else Image.Resampling.NEAREST,
            )
            if tile.width < p.cell and tile.height < p.cell:
                s = p.cell / max(tile.width, tile.height)
                tile = tile.resize(
                    (round(tile.width * s), round(tile.height * s)), Image.Resampling.NEAREST
                )
            x = p.margin + c * (p.cell + p.margin) + (p.cell - tile.width) // 2
            y = y0 + r * (p.cell + p.margin) + (p.cell - tile.height) // 2
            canvas.paste(tile, (x, y))
    return np.asarray(canvas)


def _fit(draw, text: str, font, width: int) -> str:
    while text and draw.textlength(text, font=font) > width - 4:
        text = text[:-2] + "…" if len(text) > 2 else text[:-1]
    return text


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _colour(value: str, key: str):
    try:
        return ImageColor.getrgb(value)
    except ValueError:
        raise StepError(
            f"collage: {key}: unknown colour {value!r}", hint="use #rrggbb or a CSS colour name"
        ) from None
