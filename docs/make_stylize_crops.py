"""Side-by-side crops of a `recipes/stylize.yaml` run for the README.

    artforge run recipes/stylize.yaml
    python docs/make_stylize_crops.py gallery/stylize docs/stylize-crops.png

Rows: the recipe's photographs; columns: photograph, colour transfer only (the baseline),
Gatys optimisation (the old default) and patches (Elad & Milanfar 2017, the new default), each
the centre 128x128 pixels of the 256-pixel result shown at 2x, with its texture distance to
the style (lower is closer) under it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

COLUMNS = [
    ("painted", "photos", "images", "photograph"),
    ("painted", "painted", "baseline", "colour transfer only"),
    ("optimised", "optimised", "images", "Gatys optimisation (before)"),
    ("painted", "painted", "images", "patches (Elad & Milanfar)"),
]
CROP, ZOOM, PAD, TEXT = 128, 2, 6, 30


def main(run: Path, out: Path) -> None:
    def folder(step: str, output: str) -> tuple[Path, list[str]]:
        rec = json.loads((run / "steps" / step / "record.json").read_text())
        o = rec["outputs"][output]
        return run / "steps" / step / o["path"], o["files"]

    per_image = {
        s: json.loads((run / "steps" / s / "record.json").read_text())["metrics"][
            "texture_per_image"
        ]
        for s in ("painted", "optimised")
        if (run / "steps" / s / "record.json").exists()
    }
    columns = [c for c in COLUMNS if c[0] in per_image]  # a step not run: its column left out
    _, names = folder("photos", "images")
    cell = CROP * ZOOM
    sheet = Image.new(
        "RGB",
        (len(columns) * (cell + PAD) + PAD, TEXT + len(names) * (cell + TEXT + PAD)),
        (30, 30, 36),
    )
    draw = ImageDraw.Draw(sheet)
    for j, (_, _, _, label) in enumerate(columns):
        draw.text((PAD + j * (cell + PAD), 8), label, fill=(240, 240, 240))
    for i, file in enumerate(names):
        stem = Path(file).stem
        for j, (score_step, step, output, _) in enumerate(columns):
            path, _ = folder(step, output)
            img = np.asarray(Image.open(path / file).convert("RGB"))
            h, w = img.shape[:2]
            y0, x0 = (h - CROP) // 2, (w - CROP) // 2
            crop = Image.fromarray(img[y0 : y0 + CROP, x0 : x0 + CROP])
            x, y = PAD + j * (cell + PAD), TEXT + i * (cell + TEXT + PAD)
            sheet.paste(crop.resize((cell, cell), Image.NEAREST), (x, y))
            row = per_image[score_step][stem]
            key = {"photos": "photo", "baseline": "colour_baseline"}.get(
                step if step == "photos" else output, "result"
            )
            draw.text((x, y + cell + 6), f"texture distance {row[key]:.3f}", fill=(240, 240, 240))
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, optimize=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
