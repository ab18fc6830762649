"""Issue 9, item 2: image files as users have them. Each is either converted correctly (mode,
bit depth, EXIF rotation) or refused with a DataError that names the file, directly and through
``artforge run`` (exit status 2, one message, no step folder published)."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from artforge.errors import DataError
from artforge.images import load_image

from .conftest import subprocess_env

RGB = (np.arange(24 * 32 * 3) * 7 % 251).astype(np.uint8).reshape(24, 32, 3)


def encoded(img: Image.Image, fmt: str = "PNG", **save) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **save)
    return buf.getvalue()


def png_claiming(width: int, height: int, bit_depth: int = 8, colour_type: int = 2) -> bytes:
    """A valid PNG header that claims ``width`` x ``height`` pixels, with almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


PNG = encoded(Image.fromarray(RGB))
JPEG = encoded(Image.fromarray(RGB), "JPEG", quality=90)

REFUSED = {
    "empty.png": (b"", "image file is empty"),
    "truncated.png": (PNG[: len(PNG) // 2], "corrupt or truncated image"),
    "header-only.png": (PNG[:40], "corrupt or truncated image"),
    "truncated.jpg": (JPEG[: len(JPEG) // 2], "corrupt or truncated image"),
    "truncated-early.jpg": (JPEG[:200], "corrupt or truncated image"),
    "text.png": (b"these are my holiday notes, not a picture\n", "not an image file"),
    "html.jpg": (b"<html><body>404 Not Found</body></html>", "not an image file"),
    "bomb-100000x100000.png": (png_claiming(100_000, 100_000), "image too large"),
    "bomb-16bit.png": (png_claiming(100_000, 100_000, 16, 0), "image too large"),
    # above Pillow's warning (89 Mpx) but under its error (179 Mpx): only our guard refuses
    "10000x10000.png": (png_claiming(10_000, 10_000), "image too large"),
    # above artforge's 64 Mpx limit, under Pillow's warning: only our size check refuses
    "9000x8000.png": (png_claiming(9_000, 8_000), "is 9000x8000 pixels"),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_bad_file_is_refused_with_its_name(name, tmp_path, tally):
    data, words = REFUSED[name]
    path = tmp_path / name
    path.write_bytes(data)
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(DataError) as info:
            load_image(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    msg = str(info.value)
    assert str(path) in msg and words in msg
    # a bomb is refused from its header: nothing is decoded or allocated
    assert time.perf_counter() - t0 < 2 and peak < 16 * 2**20
    tally["bad image files refused"] += 1


def test_a_folder_or_a_missing_file_is_refused(tmp_path):
    with pytest.raises(DataError, match="found a folder"):
        load_image(tmp_path)
    with pytest.raises(DataError, match="image not found"):
        load_image(tmp_path / "nope.png")


def test_max_pixels_of_the_images_step(tmp_path):
    (tmp_path / "big.png").write_bytes(encoded(Image.new("RGB", (300, 200))))
    with pytest.raises(DataError, match=r"big.png is 300x200 pixels"):
        load_image(tmp_path / "big.png", max_pixels=50_000)


# -- extreme shapes the pixel guard admits ---------------------------------------------------
def striped(width: int, height: int) -> bytes:
    """A real (fully decodable) PNG of ``width`` x ``height`` pixels."""
    n = width * height
    pixels = (np.arange(n * 3) * 37 % 256).astype(np.uint8).reshape(height, width, 3)
    return encoded(Image.fromarray(pixels))


EXTREME = {"300000x1.png": (300_000, 1), "1x300000.png": (1, 300_000), "150000x2.png": (150_000, 2)}

PEAK_PROBE = """
import resource, sys
from artforge.images import load_image, resize_crop
# a regression fails here with a MemoryError rather than taking gigabytes of a shared machine
vm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmSize"))
limit = vm * 1024 + 1024 * 2**20
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = resize_crop(load_image(sys.argv[1]), int(sys.argv[2]))
assert out.shape == (int(sys.argv[2]),) * 2 + (3,), out.shape
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


@pytest.mark.parametrize("name", list(EXTREME))
def test_an_extreme_shape_loads_and_crops_in_bounded_memory(name, tmp_path, tally):
    """300000 x 1 passes the 64-megapixel guard; scaled to 64 px before the crop it would be
    19200000 x 64 pixels (3.7 GB). The peak RSS of loading and cropping it stays small."""
    path = tmp_path / name
    path.write_bytes(striped(*EXTREME[name]))
    proc = subprocess.run(
        [sys.executable, "-c", PEAK_PROBE, str(path), "64"],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    grown_mib = int(proc.stdout.split()[-1]) / 1024  # ru_maxrss is in KiB on Linux
    assert grown_mib < 48, f"peak grew by {grown_mib:.0f} MiB"
    tally["extreme-shape images cropped in bounded memory (< 48 MiB peak growth)"] += 1


def test_an_extreme_crop_matches_the_whole_resize_where_that_is_affordable():
    """The bounded path resizes only the kept box: the same picture as resizing the whole
    image and cropping (within interpolation rounding)."""
    from artforge.images import resize, resize_crop

    img = (np.arange(6 * 400 * 3) * 13 % 256).astype(np.uint8).reshape(6, 400, 3)
    img[:, 190:210] = 255  # a bright bar in the centre: it must land in the centre
    out = resize_crop(img, 24)
    whole = resize(img, (1600, 24), "bicubic")[:, 788:812]
    assert out.shape == (24, 24, 3)
    assert np.abs(out.astype(int) - whole).mean() < 2


def test_crop_none_refuses_an_extreme_shape_by_name(tmp_path, fresh_cli, capsys, tally):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "strip.png").write_bytes(striped(300_000, 1))
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        IMAGES_RECIPE.replace("{path: photos}", "{path: photos, size: 64, crop: none}")
    )
    rc = fresh_cli(["run", str(recipe), "--out", str(tmp_path / "out"), "-q"])
    err = capsys.readouterr().err
    assert rc == 2 and str(photos / "strip.png") in err, err
    assert "19200000x64" in err and "crop: center" in err and "Traceback" not in err
    tally["bad image files refused"] += 1


def test_an_extreme_shape_through_the_images_step(tmp_path, fresh_cli, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "strip.png").write_bytes(striped(1, 300_000))
    recipe = tmp_path / "r.yaml"
    recipe.write_text(IMAGES_RECIPE.replace("{path: photos}", "{path: photos, size: 32}"))
    rc = fresh_cli(["run", str(recipe), "--out", str(tmp_path / "out"), "-q"])
    assert rc == 0, capsys.readouterr().err
    assert load_image(tmp_path / "out/steps/load/images/strip.png").shape == (32, 32, 3)


# -- converted correctly -------------------------------------------------------------------
def test_16_bit_grayscale_keeps_its_range(tmp_path):
    values = np.array([[0, 200, 32896, 65535]], dtype=np.uint16)  # 200: a very dark pixel
    (tmp_path / "g16.png").write_bytes(encoded(Image.fromarray(values)))
    out = load_image(tmp_path / "g16.png")
    assert out.shape == (1, 4, 3) and out.dtype == np.uint8
    assert out[0, :, 0].tolist() == [0, 1, 128, 255]
    assert (out == out[..., :1]).all()


def test_16_bit_rgb_keeps_its_range(tmp_path):
    """A 48-bit PNG (Pillow cannot write one: encoded here by hand)."""
    pixels = np.array([[[65535, 32768, 0], [200, 4095, 65280]]], dtype=">u2")
    raw = b"".join(b"\0" + row.tobytes() for row in pixels)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", 2, 1, 16, 2, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
    (tmp_path / "rgb48.png").write_bytes(data)
    out = load_image(tmp_path / "rgb48.png")
    assert out.dtype == np.uint8 and out.tolist() == [[[255, 128, 0], [0, 15, 255]]]


def test_palette_image_gives_its_colours(tmp_path):
    img = Image.fromarray(RGB).quantize(16)
    (tmp_path / "p.png").write_bytes(encoded(img))
    out = load_image(tmp_path / "p.png")
    assert np.array_equal(out, np.asarray(img.convert("RGB")))


def test_palette_with_transparency_is_composited_on_white(tmp_path):
    img = Image.new("P", (2, 1))
    img.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    img.putdata([0, 1])
    img.info["transparency"] = 0  # colour 0 is transparent
    (tmp_path / "pt.png").write_bytes(encoded(img, transparency=0))
    out = load_image(tmp_path / "pt.png")
    assert out[0].tolist() == [[255, 255, 255], [200, 100, 50]]


def test_grayscale_becomes_three_equal_channels(tmp_path):
    gray = RGB[..., 0]
    (tmp_path / "l.png").write_bytes(encoded(Image.fromarray(gray)))
    out = load_image(tmp_path / "l.png")
    assert out.shape == (*gray.shape, 3) and all(
        np.array_equal(out[..., c], gray) for c in range(3)
    )
    assert np.array_equal(load_image(tmp_path / "l.png", mode="L"), gray)


def test_one_bit_image(tmp_path):
    img = Image.fromarray(np.array([[0, 255]], np.uint8)).convert("1")
    (tmp_path / "b.png").write_bytes(encoded(img))
    assert load_image(tmp_path / "b.png")[0].tolist() == [[0, 0, 0], [255, 255, 255]]


@pytest.mark.parametrize("alpha", [0, 128, 255])
def test_rgba_is_composited_on_white(tmp_path, alpha):
    rgba = np.dstack([RGB, np.full(RGB.shape[:2], alpha, np.uint8)])
    (tmp_path / "a.png").write_bytes(encoded(Image.fromarray(rgba, "RGBA")))
    out = load_image(tmp_path / "a.png").astype(int)
    expected = (RGB.astype(int) * alpha + 255 * (255 - alpha)) / 255
    assert out.shape == RGB.shape and np.abs(out - expected).max() <= 1


def test_grayscale_with_alpha(tmp_path):
    la = np.dstack([np.full((1, 2), 40, np.uint8), np.array([[0, 255]], np.uint8)])
    (tmp_path / "la.png").write_bytes(encoded(Image.fromarray(la, "LA")))
    assert load_image(tmp_path / "la.png")[0].tolist() == [[255, 255, 255], [40, 40, 40]]


@pytest.mark.parametrize("fmt", ["TIFF", "JPEG"])
def test_cmyk_becomes_rgb(tmp_path, fmt):
    cmyk = np.zeros((2, 2, 4), np.uint8)
    cmyk[0, 0] = (255, 0, 0, 0)  # cyan
    cmyk[0, 1] = (0, 255, 0, 0)  # magenta
    cmyk[1, 0] = (0, 0, 255, 0)  # yellow
    cmyk[1, 1] = (0, 0, 0, 255)  # black
    name = f"cmyk.{fmt.lower()}"
    (tmp_path / name).write_bytes(encoded(Image.fromarray(cmyk, "CMYK"), fmt, quality=100))
    out = load_image(tmp_path / name).astype(int)
    expected = np.array([[[0, 255, 255], [255, 0, 255]], [[255, 255, 0], [0, 0, 0]]])
    assert out.shape == (2, 2, 3) and np.abs(out - expected).max() <= (0 if fmt == "TIFF" else 40)


@pytest.mark.parametrize(
    ("orientation", "rotate"),
    [
        (1, lambda a: a),
        (3, lambda a: np.rot90(a, 2)),
        (6, lambda a: np.rot90(a, -1)),
        (8, lambda a: np.rot90(a, 1)),
        (2, lambda a: a[:, ::-1]),
    ],
)
def test_exif_orientation_is_applied(tmp_path, orientation, rotate):
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.jpg"
    path.write_bytes(encoded(Image.fromarray(RGB), "JPEG", quality=95, exif=exif.tobytes()))
    with Image.open(path) as im:
        stored = np.asarray(im.convert("RGB"))  # the pixels as stored, before rotation
    out = load_image(path)
    assert np.array_equal(out, rotate(stored))
    if orientation in (6, 8):
        assert out.shape[:2] == RGB.shape[1::-1]


def test_animated_gif_gives_its_first_frame(tmp_path):
    frames = [Image.new("RGB", (4, 4), c) for c in ((255, 0, 0), (0, 0, 255))]
    (tmp_path / "a.gif").write_bytes(
        encoded(frames[0], "GIF", save_all=True, append_images=frames[1:])
    )
    assert load_image(tmp_path / "a.gif")[0, 0].tolist() == [255, 0, 0]


# -- through the images step ---------------------------------------------------------------
IMAGES_RECIPE = """name: imgs
steps:
  - id: load
    uses: images
    with: {path: photos}
"""


def run_images(tmp_path, main, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(IMAGES_RECIPE)
    out = tmp_path / "out"
    rc = main(["run", str(recipe), "--out", str(out), "-q"])
    return rc, capsys.readouterr().err, out


@pytest.mark.parametrize(
    "name", ["empty.png", "truncated.jpg", "text.png", "bomb-100000x100000.png"]
)
def test_a_bad_file_among_good_ones_stops_the_step_naming_it(name, tmp_path, fresh_cli, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        (photos / f"good{i}.png").write_bytes(PNG)
    (photos / name).write_bytes(REFUSED[name][0])
    rc, err, out = run_images(tmp_path, fresh_cli, capsys)
    assert rc == 2 and err.startswith("error: ") and str(photos / name) in err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 2
    assert not (out / "steps" / "load").exists() and not (out / ".staging").exists()


@pytest.mark.parametrize("content", ["nothing", "only text files", "images in a sub-folder"])
def test_a_folder_without_images(content, tmp_path, fresh_cli, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    if content == "only text files":
        (photos / "notes.txt").write_text("hello")
        (photos / "README").write_text("hello")
    if content == "images in a sub-folder":
        (photos / "2024").mkdir()
        (photos / "2024" / "a.png").write_bytes(PNG)
    rc, err, out = run_images(tmp_path, fresh_cli, capsys)
    assert rc == 2 and f"no images in folder {photos}" in err
    assert "recursive: true" in err
    assert not (out / "steps" / "load").exists()


def test_every_kind_of_image_in_one_folder(tmp_path, fresh_cli, capsys):
    """16-bit, palette, grayscale, RGBA, CMYK and a rotated JPEG side by side: all loaded."""
    photos = tmp_path / "photos"
    photos.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6
    files = {
        "g16.png": encoded(Image.fromarray(RGB[..., 0].astype(np.uint16) * 257)),
        "p.png": encoded(Image.fromarray(RGB).quantize(8)),
        "l.png": encoded(Image.fromarray(RGB[..., 1])),
        "rgba.png": encoded(Image.fromarray(np.dstack([RGB, RGB[..., 2]]), "RGBA")),
        "cmyk.jpg": encoded(Image.fromarray(RGB).convert("CMYK"), "JPEG"),
        "rot.jpg": encoded(Image.fromarray(RGB), "JPEG", exif=exif.tobytes()),
    }
    for name, data in files.items():
        (photos / name).write_bytes(data)
    rc, err, out = run_images(tmp_path, fresh_cli, capsys)
    assert rc == 0, err
    written = sorted(p.name for p in (out / "steps/load/images").iterdir())
    assert written == sorted(Path(n).stem + ".png" for n in files)
    for name in written:
        img = load_image(out / "steps/load/images" / name)
        assert img.shape == ((32, 24, 3) if name == "rot.png" else (24, 32, 3))


@pytest.mark.slow
def test_ten_thousand_tiny_images_load_lazily_in_bounded_memory(tmp_path, tally):
    """10000 images through `images` and a grid `collage` (400 per sheet): memory stays far
    below what the decoded images would take (10000 x 48 x 48 x 3 bytes = 69 MB)."""
    from artforge.plugins import PluginHost
    from artforge.recipe import load_recipe
    from artforge.runner import Runner

    n, size = 10_000, 48
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(n):
        (photos / f"img{i:05d}.png").write_bytes(
            encoded(Image.new("RGB", (size, size), (i % 256, 0, 0)))
        )
    (tmp_path / "r.yaml").write_text(
        "name: many\nsteps:\n  - id: load\n    uses: images\n    with: {path: photos}\n"
        "  - id: sheet\n    uses: collage\n"
        "    with: {sets: ['${load.images}'], layout: grid, columns: 20, rows_per_sheet: 20, cell: 16}\n"
        "gallery: {enabled: false}\n"
    )
    host = PluginHost(load_installed=False)
    recipe = load_recipe(tmp_path / "r.yaml", host)
    tracemalloc.start()
    try:
        Runner(recipe, host, tmp_path / "out", quiet=True, log=lambda m: None).run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(list((tmp_path / "out/steps/load/images").iterdir())) == n
    assert len(list((tmp_path / "out/steps/sheet/sheets").iterdir())) == n // 400
    decoded = n * size * size * 3
    assert peak < decoded / 4, f"peak {peak / 2**20:.1f} MiB"
    tally[f"tiny images loaded lazily (peak {peak / 2**20:.0f} MiB traced)"] = n
