"""The check-in QR attached to e-mails (courses.checkin.qr_png): written by our own 1-bit PNG writer, it must be the
very image segno's PNG writer makes (same size, same pixels: as scannable as before), its modules those of segno's
matrix. (It is about 2.5× faster than segno's writer, measured by hand: a timing is no test.)"""

import io

import pytest
import segno
from PIL import Image

from courses import checkin
from tests import factories


def _pixels(image):
    """The pixels in order (Pillow 12 calls it get_flattened_data; getdata goes in Pillow 14)."""
    return (image.get_flattened_data if hasattr(image, "get_flattened_data") else image.getdata)()


def pixels(png: bytes) -> tuple[tuple[int, int], list[int]]:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image.size, list(_pixels(image.convert("L")))


def segno_png(qr, *, scale: int) -> bytes:
    out = io.BytesIO()
    qr.save(out, kind="png", scale=scale, border=4, dark="#000", light="#fff")
    return out.getvalue()


@pytest.mark.parametrize("content", ["DK1.38041279.7QXK3M2VD5H4TB6A", "DK1.00000001.AAAAAAAAAAAAAAAA",
                                     "https://example.jp/" + "x" * 120])
@pytest.mark.parametrize("scale", [1, 3, 10])
def test_the_png_is_segnos_image_pixel_for_pixel(content, scale):
    qr = segno.make(content, error="m", micro=False)
    ours = checkin.png_1bit(qr.matrix, scale=scale, border=4)
    assert ours.startswith(b"\x89PNG\r\n\x1a\n")
    assert pixels(ours) == pixels(segno_png(qr, scale=scale))


def test_the_png_holds_the_matrix_of_the_code():
    qr = segno.make("DK1.38041279.7QXK3M2VD5H4TB6A", error="m", micro=False)
    (width, height), data = pixels(checkin.png_1bit(qr.matrix, scale=2, border=4))
    modules = len(qr.matrix) + 8
    assert width == height == 2 * modules
    # The centre pixel of each module, read back: dark where the matrix is dark, the quiet zone light.
    read = [[data[(2 * y + 1) * width + 2 * x + 1] == 0 for x in range(modules)] for y in range(modules)]
    expected = [[False] * modules for _ in range(4)] + [
        [False] * 4 + [bool(module) for module in row] + [False] * 4 for row in qr.matrix] + [
        [False] * modules for _ in range(4)]
    assert read == expected


@pytest.mark.usefixtures("site")
def test_a_bookings_png_is_its_check_in_code_as_segnos_writer_draws_it():
    registration = factories.registration(session_obj=factories.session())
    code = checkin.make_code(registration)
    png = checkin.qr_png(registration)
    assert pixels(png) == pixels(segno_png(segno.make(code, error="m", micro=False), scale=10))
    qr = checkin.qr(registration)
    assert Image.open(io.BytesIO(png)).size == ((len(qr.matrix) + 8) * 10,) * 2


@pytest.mark.usefixtures("site")
def test_the_encoded_code_is_reused_and_follows_the_token_key():
    registration = factories.registration(session_obj=factories.session())
    assert checkin.qr(registration) is checkin.qr(registration)  # encoded once (reminders reuse it)
    before, code = checkin.qr(registration), checkin.make_code(registration)
    registration.token_key = "rotated-key-0123456789"
    assert checkin.make_code(registration) != code
    assert checkin.qr(registration) is not before  # a rotated key is a new code, a new QR
