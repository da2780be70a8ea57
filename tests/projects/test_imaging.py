"""Every rule of `prepare_image`, on synthetic bytes (no database)."""

from __future__ import annotations

import hashlib
import io
import time

import pytest
from PIL import Image

from engine.imaging import (
    ImageRejected,
    ImageRules,
    ImageStatus,
    decoded_bytes,
    decoding_cost,
    prepare_image,
)
from tests import images


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def rejected(data: bytes, rules: ImageRules | None = None) -> ImageRejected:
    with pytest.raises(ImageRejected) as info:
        prepare_image(data, rules)
    return info.value


def test_plain_jpeg_is_stored_byte_for_byte():
    data = images.solid((640, 480))
    prepared = prepare_image(data)
    assert prepared.data == data
    assert (prepared.width, prepared.height, prepared.extension) == (640, 480, "jpg")
    assert prepared.source_format == "JPEG"
    assert prepared.content_hash == hashlib.sha256(data).hexdigest()
    assert max(decode(prepared.thumbnail).size) == 320


def test_png_named_jpg_is_judged_by_content():
    # The service never looks at the file name: a PNG called photo.jpg is a PNG.
    prepared = prepare_image(images.solid(fmt="PNG"))
    assert (prepared.source_format, prepared.extension) == ("PNG", "png")


def test_bmp_is_converted_to_png():
    prepared = prepare_image(images.solid(fmt="BMP"))
    assert prepared.source_format == "BMP"
    assert decode(prepared.data).format == "PNG"


def test_small_image_is_scaled_up_to_256_keeping_aspect():
    prepared = prepare_image(images.solid((100, 80)))
    assert (prepared.width, prepared.height) == (320, 256)
    assert decode(prepared.data).size == (320, 256)


def test_too_many_bytes_is_error_image_size():
    data = images.noise_png((1500, 1500))
    assert len(data) > 6 * 1024 * 1024
    assert rejected(data).status == ImageStatus.ERROR_IMAGE_SIZE


def test_size_limit_is_configurable():
    data = images.solid((300, 300))
    error = rejected(data, ImageRules(max_bytes=len(data) - 1))
    assert error.status == ImageStatus.ERROR_IMAGE_SIZE


def test_decompression_bomb_is_refused_before_decoding():
    error = rejected(images.png_header_only(60_000, 60_000))
    assert error.status == ImageStatus.ERROR_IMAGE_DIMENSIONS


def test_pixel_heavy_image_is_refused_from_its_header_in_well_under_a_second():
    data = images.pixel_heavy_png()
    assert len(data) < 1024 * 1024  # under every file-size limit
    started = time.perf_counter()
    error = rejected(data)
    assert time.perf_counter() - started < 0.5
    assert error.status == ImageStatus.ERROR_IMAGE_DIMENSIONS
    # 400 MiB of RGBA pixels, and 400 more for the RGB they are put on, white.
    assert "10240×10240 RGBA" in error.message and "804 MB" in error.message


def test_decoded_size_is_pillows_storage_not_the_files_channels():
    def decoded(size, mode):
        return decoded_bytes(Image.new(mode, size))

    # What Pillow really allocates: RGB is kept as RGBX, LA as L, L, L, A.
    assert decoded((100, 100), "RGB") == 40_000
    assert decoded((100, 100), "LA") == 40_000
    assert decoded((100, 100), "I;16") == 20_000
    assert decoded((100, 100), "P") == 10_000
    assert decoded((100, 100), "1") == 10_000


def test_the_limit_counts_the_peak_of_the_plan_not_the_pixels():
    grey = images.pixel_heavy_png(2048, 2048, mode="L")  # 4 MiB of pixels, stored as it came
    cost = decoding_cost(grey)
    assert 4 * 1024 * 1024 < cost < 10 * 1024 * 1024  # pixels, a thumbnail, fixed slack
    assert prepare_image(grey, ImageRules(max_decoded_bytes=cost)).width == 2048
    error = rejected(grey, ImageRules(max_decoded_bytes=cost - 1))
    assert error.status == ImageStatus.ERROR_IMAGE_DIMENSIONS
    # Turned upright, the same pixels are held twice.
    assert decoding_cost(images.exif_rotated_jpeg()) > decoding_cost(images.solid((400, 300)))


def test_longest_edge_over_10240_is_error_dimensions():
    error = rejected(images.png_header_only(10_241, 2_000))
    assert error.status == ImageStatus.ERROR_IMAGE_DIMENSIONS
    assert "10240" in error.message


def test_aspect_ratio_over_25_is_error_dimensions():
    error = rejected(images.solid((2600, 100), fmt="PNG"))
    assert error.status == ImageStatus.ERROR_IMAGE_DIMENSIONS
    assert "aspect" in error.message


def test_aspect_ratio_of_exactly_25_is_accepted_and_scaled():
    prepared = prepare_image(images.solid((2500, 100), fmt="PNG"))
    assert (prepared.width, prepared.height) == (6400, 256)


def test_truncated_jpeg_is_error_image_format():
    error = rejected(images.truncated_jpeg())
    assert error.status == ImageStatus.ERROR_IMAGE_FORMAT
    assert "truncated" in error.message


def test_html_renamed_jpg_is_error_image_format():
    assert rejected(images.HTML).status == ImageStatus.ERROR_IMAGE_FORMAT


def test_unsupported_format_is_error_image_format():
    assert rejected(images.solid(fmt="WEBP")).status == ImageStatus.ERROR_IMAGE_FORMAT


def test_empty_file_is_error_source():
    assert rejected(b"").status == ImageStatus.ERROR_SOURCE


def test_cmyk_jpeg_is_stored_as_rgb():
    prepared = prepare_image(images.cmyk_jpeg())
    stored = decode(prepared.data)
    assert stored.mode == "RGB"
    red, green, blue = stored.getpixel((150, 150))
    assert red > 200 and green < 60 and blue < 60  # CMYK (0, 255, 255, 0) is red


def test_16bit_png_is_scaled_not_clipped():
    prepared = prepare_image(images.png_16bit())
    stored = decode(prepared.data)
    assert stored.mode == "L"
    assert 120 <= stored.getpixel((10, 10)) <= 135  # 32768 / 65535 of white, not 255


def test_palette_transparency_is_flattened_on_white():
    stored = decode(prepare_image(images.palette_with_transparency()).data)
    assert stored.mode == "RGB"
    assert stored.getpixel((50, 150)) == (0, 200, 0)
    assert stored.getpixel((250, 150)) == (255, 255, 255)


def test_animated_gif_keeps_its_first_frame():
    prepared = prepare_image(images.animated_gif())
    stored = decode(prepared.data)
    assert prepared.source_format == "GIF"
    assert stored.format == "PNG"
    assert stored.convert("RGB").getpixel((5, 5)) == (255, 0, 0)


def test_exif_orientation_is_applied():
    prepared = prepare_image(images.exif_rotated_jpeg())
    stored = decode(prepared.data)
    assert (prepared.width, prepared.height) == (300, 400)
    assert stored.size == (300, 400)
    # Rotated 90° clockwise: the red left half is now the top half.
    top, bottom = stored.getpixel((150, 20)), stored.getpixel((150, 380))
    assert top[0] > 200 and top[2] < 60
    assert bottom[2] > 200 and bottom[0] < 60
    assert "Orientation" not in str(stored.getexif().get(0x0112, ""))
