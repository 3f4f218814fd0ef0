"""Is a downloaded body an image the project keeps?  Decoded completely, within a pixel budget,
in one of the image formats, then the paper's minimum area (100 pixels).

Only the formats web images come in are opened (``IMAGE_FORMATS``): PIL's other plugins (DDS,
SPIDER, …) are never tried on bytes from the open web.  The image's size and mode are read from its
header and checked against the pixel budget before any pixel is decoded.  Every exception the
decoder raises on crafted bytes becomes ``corrupt``: one sample never fails its part.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from laionet_assets.core.images.pixels import JPEG_MAGIC, to_rgb

IMAGE_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp", "BMP": "bmp", "TIFF": "tif"}
_IMAGE_MAGIC = (JPEG_MAGIC, b"\x89PNG", b"GIF8", b"BM", b"II*\x00", b"MM\x00*", b"RIFF")

# Peak bytes per pixel of decoding an image of a mode and converting it to RGB (``to_rgb``): the
# decoded image, the intermediate images of the conversion, the RGB result.
_PEAK_BYTES_PER_PIXEL = {"RGB": 3, "L": 4, "1": 4, "P": 7, "CMYK": 7, "YCbCr": 6, "RGBA": 19, "LA": 21}
PEAK_BYTES_PER_PIXEL = 24  # the most of any mode (``I``/``F``: 4 decoded, two float64 copies, grey, RGB)


def peak_bytes(width: int, height: int, mode: str) -> int:
    """The memory decoding a ``width`` × ``height`` image of ``mode`` to RGB takes at its peak."""
    return width * height * _PEAK_BYTES_PER_PIXEL.get(mode, PEAK_BYTES_PER_PIXEL)


@dataclass
class Checked:
    status: str
    width: int | None = None
    height: int | None = None
    mode: str | None = None
    format: str | None = None
    error: str | None = None
    unexpected: bool = False  # the decoder raised an exception that is no image error


def check_image(data: bytes, min_area: int = 100, max_pixels: int = 50_000_000) -> Checked:
    """Decode completely and apply the filters; never raises on bad bytes."""
    return decode(data, min_area, max_pixels)[0]


def decode(data: bytes, min_area: int, max_pixels: int) -> tuple[Checked, Image.Image | None]:
    """``check_image``'s verdict and the RGB image it decoded (``None`` unless ok)."""
    try:
        with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as image:
            mode, fmt, (width, height) = image.mode, image.format, image.size
            if width * height > max_pixels:
                need = peak_bytes(width, height, mode)
                return Checked(
                    "too_large",
                    width,
                    height,
                    mode,
                    fmt,
                    f"{width}×{height} {mode} exceeds max_image_pixels {max_pixels:,} "
                    f"(decoding would take {need / 2**20:,.0f} MiB)",
                ), None
            image.load()
            rgb = to_rgb(image)
    except (UnidentifiedImageError, Image.DecompressionBombError) as e:
        # PIL's own message names the buffer object's address: not a fact about the sample
        message = "cannot identify the image file" if isinstance(e, UnidentifiedImageError) else str(e)
        if data.startswith(_IMAGE_MAGIC):
            return Checked("corrupt", error=f"image signature but undecodable: {message}"[:200]), None
        head = data[:64].lstrip().lower()
        reason = "HTML page, not an image" if head.startswith((b"<!doctype html", b"<html")) else message
        return Checked("not_image", error=reason[:200]), None
    except (OSError, SyntaxError, ValueError, IndexError, EOFError) as e:  # PIL's errors on bad data
        return Checked("corrupt", error=f"{type(e).__name__}: {e}"[:200]), None
    except MemoryError:
        return Checked("too_large", error="out of memory while decoding"), None
    except Exception as e:  # noqa: BLE001 - crafted bytes raise anything; the sample is corrupt
        return Checked("corrupt", error=f"{type(e).__name__}: {e}"[:200], unexpected=True), None
    width, height = rgb.size
    if width * height < min_area:
        return Checked("too_small", width, height, mode, fmt, f"{width}×{height} < {min_area} pixels"), None
    return Checked("ok", width, height, mode, fmt), rgb


RESIZED_JPEG_QUALITY = 95  # img2dataset's default


def shrink(rgb: Image.Image, shorter: int) -> bytes | None:
    """JPEG bytes of ``rgb`` with its shorter side cut to ``shorter`` (aspect kept, Lanczos), or
    ``None`` when it is no larger than that already."""
    width, height = rgb.size
    if min(width, height) <= shorter:
        return None
    scale = shorter / min(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    buffer = io.BytesIO()
    rgb.resize(size, Image.Resampling.LANCZOS).save(buffer, "JPEG", quality=RESIZED_JPEG_QUALITY)
    return buffer.getvalue()
