import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageFont

from laionet_assets.core.images.ocr import OcrEngine, flag_synset_names, normalize, synset_name_in_text
from laionet_assets.testing.fixtures import shared_path


@pytest.mark.parametrize(
    "name, text, expected",
    [
        ("goldfish", "Fresh GOLDFISH!", True),
        ("goldfish", "goldfishes for sale", False),
        ("black grouse", "Black-Grouse? no: Black Grouse, 2007", True),
        ("black grouse", "blackgrouse", False),
        ("black grouse", "black\n grouse", True),
        ("tench", "", False),
        ("jack-o'-lantern", "JACKOLANTERN sale", True),
    ],
)
def test_paper_match_rule(name, text, expected):
    assert synset_name_in_text(name, text) is expected


@given(st.text(alphabet=st.characters(codec="ascii"), max_size=40))
def test_rule_is_the_paper_loop(text):
    stripped = "".join(c for c in text if c not in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~").lower()
    padded = " " + " ".join(stripped.split()) + " "
    assert normalize(text) == padded
    assert synset_name_in_text("sea lion", text) == (" sea lion " in padded)


def rendered(text: str, path):
    image = Image.new("RGB", (480, 120), "white")
    ImageDraw.Draw(image).text((20, 30), text, fill="black", font=ImageFont.load_default(size=40))
    image.save(path)
    return str(path)


@pytest.fixture(scope="module")
def engine():
    return OcrEngine()


def test_rendered_text_is_flagged(engine, tmp_path):
    paths = [
        rendered("Fresh Goldfish!", tmp_path / "a.png"),
        rendered("Fresh Goldfish!", tmp_path / "b.png"),
        rendered("Black Grouse", tmp_path / "c.png"),
    ]
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xffnope")
    flags, texts = flag_synset_names(
        paths + [str(tmp_path / "bad.jpg")], ["goldfish", "tench", "black grouse", "tench"], engine
    )
    assert flags == [True, False, True, None]
    assert "goldfish" in texts[0].lower() and texts[3].startswith("error:")


def test_real_images(engine):
    folder = shared_path("data", "imagenet_sample")
    names = {
        "n01795545_black_grouse.JPEG": "black grouse",
        "n01695060_Komodo_dragon.JPEG": "Komodo dragon",
        "n01728572_thunder_snake.JPEG": "thunder snake",
    }
    flags, texts = flag_synset_names([str(folder / f) for f in names], list(names.values()), engine)
    assert flags == [True, False, False]  # the grouse photo carries a caption "Black Grouse ©Nick Sampford"
