"""Normalisation of what residents type into the registration form (cms/normalize.py, courses/forms.py).

Contact fields and the kana reading are rewritten into one canonical form; a person's name never is, beyond
trimming and folding runs of spaces, removing invisible and direction-changing characters and folding full-width
Latin letters to ASCII.
"""

import pytest

from cms.normalize import (
    format_phone,
    is_latin_name,
    is_valid_phone,
    normalize_email,
    normalize_kana,
    normalize_name,
    normalize_phone,
)
from courses.forms import RegistrationForm
from courses.models import Participant

IDEOGRAPHIC_SPACE = "\u3000"


# --- Names: trimmed, space-folded, invisible characters out, full-width Latin folded; kanji never rewritten ----

# Spellings that blanket Unicode normalisation (NFKC) or kana/width conversion would alter. Each must stay
# exactly as the person typed it.
NAMES_KEPT_AS_TYPED = [
    pytest.param("山﨑 太郎", id="yamasaki-tatsusaki-FA11"),
    pytest.param("髙橋 一郎", id="hashigo-daka"),
    pytest.param("渡邉 花子", id="watanabe-variant"),
    pytest.param("大\ufa10 次郎", id="otsuka-compat-ideograph-FA10"),  # NFKC → 塚 (U+585A)
    pytest.param("\ufa19田 三郎", id="kanda-compat-ideograph-FA19"),  # NFKC → 神 (U+795E)
    pytest.param("ﾔﾏﾀﾞ ﾀﾛｳ", id="half-width-katakana"),
    pytest.param("やまだ たろう", id="hiragana"),
    pytest.param("Tanaka, Maria", id="latin"),
    pytest.param("José Müller", id="accented-latin"),
    pytest.param("Jose\u0301 Mu\u0308ller", id="latin-with-combining-accents"),  # not composed (no NFC: see 塚)
    pytest.param("葛\U000E0100城 花子", id="ivs-katsuragi"),  # an ideographic variation selector picks the glyph
    pytest.param("辻\U000E0101 太郎", id="ivs-tsuji-one-dot"),
    pytest.param("邊\ufe00 一郎", id="standardized-variation-selector"),
]


@pytest.mark.parametrize("name", NAMES_KEPT_AS_TYPED)
def test_normalize_name_keeps_the_spelling(name):
    assert normalize_name(name) == name


@pytest.mark.parametrize(("typed", "expected"), [
    (f"山﨑{IDEOGRAPHIC_SPACE}太郎", "山﨑 太郎"),
    (f"{IDEOGRAPHIC_SPACE}髙橋{IDEOGRAPHIC_SPACE}{IDEOGRAPHIC_SPACE}一郎{IDEOGRAPHIC_SPACE}", "髙橋 一郎"),
    ("  渡邉 \t 花子  ", "渡邉 花子"),
    (f"ﾔﾏﾀﾞ{IDEOGRAPHIC_SPACE} ﾀﾛｳ", "ﾔﾏﾀﾞ ﾀﾛｳ"),
    ("川崎花子", "川崎花子"),
    ("", ""),
    (None, ""),
])
def test_normalize_name_trims_and_folds_spaces(typed, expected):
    assert normalize_name(typed) == expected


# --- Kana reading: full-width katakana ----------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "expected"), [
    ("ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダ タロウ"),
    ("ｶﾞｷﾞｸﾞｹﾞｺﾞ ﾊﾟﾋﾟﾌﾟﾍﾟﾎﾟ", "ガギグゲゴ パピプペポ"),
    ("ｳﾞｧｲｵﾘﾝ", "ヴァイオリン"),
    ("ｽｽﾞｷ ｹｰｺ", "スズキ ケーコ"),
    ("ﾔﾏﾀﾞ･ﾀﾛｳ", "ヤマダ・タロウ"),
    ("やまだ たろう", "ヤマダ タロウ"),
    (f"かわさき{IDEOGRAPHIC_SPACE}はなこ", "カワサキ ハナコ"),
    ("ゔぃおら", "ヴィオラ"),
    ("きょうこ", "キョウコ"),
    (f"  ﾀﾅｶ{IDEOGRAPHIC_SPACE}{IDEOGRAPHIC_SPACE} ｲﾁﾛｳ ", "タナカ イチロウ"),
    ("ヤマダ タロウ", "ヤマダ タロウ"),
    ("やまダ ﾀろう", "ヤマダ タロウ"),
])
def test_normalize_kana(typed, expected):
    assert normalize_kana(typed) == expected


def test_normalize_kana_leaves_kanji_and_latin_alone():
    """Only kana are converted; the form then rejects what is not katakana."""
    assert normalize_kana("山田 taro") == "山田 taro"


# --- E-mail ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "expected"), [
    ("ＴＡＲＯ＠ＥＸＡＭＰＬＥ．ＪＰ", "TARO@example.jp"),
    ("ｈａｎａｋｏ．ｋａｗａｓａｋｉ＠ｅｘａｍｐｌｅ．ｃｏ．ｊｐ", "hanako.kawasaki@example.co.jp"),
    ("Taro.Yamada@Example.CO.JP", "Taro.Yamada@example.co.jp"),
    (f" taro @ example.jp{IDEOGRAPHIC_SPACE}", "taro@example.jp"),
    ("ｔａｒｏ＿ｙ＋ｃｌａｓｓ＠ｅｘａｍｐｌｅ．ｊｐ", "taro_y+class@example.jp"),
    ("taro@example.jp", "taro@example.jp"),
    ("", ""),
])
def test_normalize_email(typed, expected):
    assert normalize_email(typed) == expected


def test_normalize_email_keeps_the_local_part_case():
    """Only the domain is case-insensitive; the local part is the mailbox owner's business."""
    assert normalize_email("Taro@EXAMPLE.JP").startswith("Taro@")


# --- Phone numbers ------------------------------------------------------------------------------------------

DASHES = ["-", "‐", "‑", "‒", "–", "—", "―", "−", "－", "ー", "ｰ", "─", "━", "﹣"]


@pytest.mark.parametrize("dash", DASHES, ids=[f"U+{ord(d):04X}" for d in DASHES])
def test_normalize_phone_strips_every_dash_like_separator(dash):
    assert normalize_phone(f"090{dash}1234{dash}5678") == "09012345678"


@pytest.mark.parametrize(("typed", "expected"), [
    ("０９０－１２３４－５６７８", "09012345678"),
    ("０９０ー１２３４ー５６７８", "09012345678"),
    ("０９０１２３４５６７８", "09012345678"),
    ("090 1234 5678", "09012345678"),
    (f"０４４{IDEOGRAPHIC_SPACE}２００{IDEOGRAPHIC_SPACE}２１１１", "0442002111"),
    ("(044) 200-2111", "0442002111"),
    ("（０４４）２００－２１１１", "0442002111"),
    ("044(200)2111", "0442002111"),
    ("044.200.2111", "0442002111"),
    ("044・200・2111", "0442002111"),
    ("044/200/2111", "0442002111"),
    (" 090-1234-5678 ", "09012345678"),
    ("+81 90-1234-5678", "09012345678"),
    ("+81-44-200-2111", "0442002111"),
    ("+81 (0)90-1234-5678", "09012345678"),
    ("＋８１　９０－１２３４－５６７８", "09012345678"),
    ("0081-90-1234-5678", "09012345678"),
    ("００８１ ４４ ２００ ２１１１", "0442002111"),
    ("0120-123-456", "0120123456"),
    ("", ""),
    (None, ""),
])
def test_normalize_phone(typed, expected):
    assert normalize_phone(typed) == expected


@pytest.mark.parametrize("typed", ["090-1234-5678 内線12", "０９０－ＡＢＣＤ", "tel:0441234567"])
def test_normalize_phone_keeps_unexpected_characters_for_validation_to_reject(typed):
    normalized = normalize_phone(typed)
    assert not normalized.isdigit()
    assert not is_valid_phone(normalized)


@pytest.mark.parametrize("number", [
    "09012345678", "08012345678", "07012345678", "05012345678",  # mobile and IP phone: 11 digits
    "0442002111", "0312345678", "0120123456", "0570123456", "0463123456",  # landline and free dial: 10
])
def test_is_valid_phone_accepts(number):
    assert is_valid_phone(number)


@pytest.mark.parametrize("number", [
    "",
    "9012345678",  # no leading 0
    "044200211",  # 9 digits
    "090123456789",  # 12 digits
    "+819012345678",  # country code not converted
    "090-1234-5678",  # not normalised
    "０９０１２３４５６７８",  # full-width digits (normalize first)
    "0901234567a",
])
def test_is_valid_phone_rejects(number):
    assert not is_valid_phone(number)


@pytest.mark.parametrize("number", ["0901234567", "0801234567", "0701234567", "0501234567", "04420021111",
                                    "09012345678\n"])
def test_is_valid_phone_rejects_impossible_numbers(number):
    assert not is_valid_phone(number)


@pytest.mark.parametrize(("digits", "expected"), [
    ("09012345678", "090-1234-5678"),
    ("05012345678", "050-1234-5678"),
    ("0442002111", "044-200-2111"),
    ("0312345678", "03-1234-5678"),
    ("0612345678", "06-1234-5678"),
    ("", ""),
    ("12345", "12345"),
])
def test_format_phone(digits, expected):
    assert format_phone(digits) == expected


@pytest.mark.parametrize(("digits", "expected"), [
    ("0120123456", "0120-123-456"),
    ("0570123456", "0570-123-456"),
    ("08001234567", "0800-123-4567"),
])
def test_format_phone_special_service_prefixes(digits, expected):
    assert format_phone(digits) == expected


@pytest.mark.parametrize("typed", ["０９０ー１２３４ー５６７８", "+81 44-200-2111", "（０４４）２００－２１１１"])
def test_format_phone_of_a_normalised_number_round_trips(typed):
    digits = normalize_phone(typed)
    assert normalize_phone(format_phone(digits)) == digits
    assert format_phone(digits).count("-") == 2


# --- The registration form -------------------------------------------------------------------------------


def form_data(**overrides):
    data = {
        "name": "川崎 花子", "kana": "カワサキ ハナコ", "phone": "090-1234-5678", "email": "",
        "age_band": Participant.AgeBand.AGE_70_74, "ward": "outside", "device": "", "accessibility_needs": "",
        "consent": "on",
    }
    data.update(overrides)
    # A choice the contact details allow (the person's, else the booker's).
    data.setdefault("notify_by", "call" if data["phone"] or data.get("booker_phone") else "email")
    return data


def cleaned(**overrides):
    form = RegistrationForm(data=form_data(**overrides))
    assert form.is_valid(), form.errors
    return form.cleaned_data


def test_form_normalises_contact_fields_and_kana_together():
    data = cleaned(name=f"{IDEOGRAPHIC_SPACE}山﨑{IDEOGRAPHIC_SPACE}{IDEOGRAPHIC_SPACE}太郎 ",
                   kana="ﾔﾏｻﾞｷ　ﾀﾛｳ", phone="０９０ー１２３４ー５６７８", email="ＴＡＲＯ＠ＥＸＡＭＰＬＥ．ＪＰ")
    assert data["name"] == "山﨑 太郎"
    assert data["kana"] == "ヤマザキ タロウ"
    assert data["phone"] == "09012345678"
    assert data["email"] == "TARO@example.jp"


@pytest.mark.parametrize("name", NAMES_KEPT_AS_TYPED)
def test_form_keeps_the_name_as_typed(name):
    assert cleaned(name=name)["name"] == name


@pytest.mark.parametrize("name", ["", "   ", IDEOGRAPHIC_SPACE * 3])
def test_form_requires_a_name(name):
    form = RegistrationForm(data=form_data(name=name))
    assert not form.is_valid()
    assert "name" in form.errors


@pytest.mark.parametrize(("kana", "expected"), [
    ("ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダ タロウ"),
    ("ｶﾞﾓｳ ﾊﾅｺ", "ガモウ ハナコ"),
    ("やまだ　たろう", "ヤマダ タロウ"),
    ("スズキ ケーコ", "スズキ ケーコ"),
    ("ヤマダ・タロウ", "ヤマダ・タロウ"),
    ("ｳﾞｨｯｸ", "ヴィック"),
])
def test_form_accepts_kana_and_returns_full_width_katakana(kana, expected):
    assert cleaned(kana=kana)["kana"] == expected


@pytest.mark.parametrize("kana", ["山田 太郎", "Yamada Taro", "ＹＡＭＡＤＡ", "ヤマダ1", "ヤマダ タロウ！", "   "])
def test_form_rejects_a_reading_that_is_not_kana(kana):
    form = RegistrationForm(data=form_data(kana=kana))
    assert not form.is_valid()
    assert "kana" in form.errors


@pytest.mark.parametrize(("phone", "expected"), [
    ("０９０－１２３４－５６７８", "09012345678"),
    ("090ー1234ー5678", "09012345678"),
    ("090ｰ1234ｰ5678", "09012345678"),
    ("090―1234−5678", "09012345678"),
    ("(044) 200-2111", "0442002111"),
    ("+81 90 1234 5678", "09012345678"),
    ("0081-44-200-2111", "0442002111"),
    ("0120-123-456", "0120123456"),
])
def test_form_accepts_phone_numbers_as_people_type_them(phone, expected):
    assert cleaned(phone=phone)["phone"] == expected


@pytest.mark.parametrize("phone", ["090-1234", "1234-5678-90", "090-1234-5678 内線12", "+1 555 123 4567",
                                   "電話なし"])
def test_form_rejects_a_phone_number_that_is_not_one(phone):
    form = RegistrationForm(data=form_data(phone=phone))
    assert not form.is_valid()
    assert "phone" in form.errors


@pytest.mark.parametrize(("email", "expected"), [
    ("ＴＡＲＯ＠ＥＸＡＭＰＬＥ．ＪＰ", "TARO@example.jp"),
    ("hanako@Example.Ne.JP", "hanako@example.ne.jp"),
    (" hanako@example.jp ", "hanako@example.jp"),
])
def test_form_accepts_email_and_lowercases_the_domain(email, expected):
    assert cleaned(phone="", email=email)["email"] == expected


@pytest.mark.parametrize("email", ["taro@", "taro.example.jp", "たろう@example.jp", "taro@@example.jp"])
def test_form_rejects_an_invalid_email(email):
    form = RegistrationForm(data=form_data(phone="", email=email))
    assert not form.is_valid()
    assert "email" in form.errors


def test_form_needs_a_phone_or_an_email():
    form = RegistrationForm(data=form_data(phone="", email=""))
    assert not form.is_valid()
    assert [e.code for e in form.errors.as_data()["__all__"]] == ["contact"]


def test_form_contact_rule_counts_a_phone_made_only_of_separators_as_empty():
    form = RegistrationForm(data=form_data(phone="ー－ ", email=""))
    assert not form.is_valid()
    assert [e.code for e in form.errors.as_data()["__all__"]] == ["contact"]


def test_form_accepts_email_without_phone():
    data = cleaned(phone="", email="hanako@example.jp")
    assert data["phone"] == ""
    assert data["email"] == "hanako@example.jp"


def test_form_requires_consent():
    form = RegistrationForm(data=form_data(consent=""))
    assert not form.is_valid()
    assert "consent" in form.errors


def test_participant_details_carry_the_normalised_values():
    form = RegistrationForm(data=form_data(name="渡邉　花子", kana="わたなべ はなこ", phone="０４４－２００－２１１１",
                                           email="ＨＡＮＡＫＯ＠ＥＸＡＭＰＬＥ．ＪＰ"))
    assert form.is_valid(), form.errors
    details = form.participant_details("ja")
    assert (details.name, details.kana, details.phone, details.email) == (
        "渡邉 花子", "ワタナベ ハナコ", "0442002111", "HANAKO@example.jp")
    assert details.consent is True
    assert details.ward_id is None
    assert details.language == "ja"


# --- Names: invisible and direction-changing characters, Latin script ---------------------------------------

INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",
             "\u2060", "\u2066", "\u2067", "\u2068", "\u2069", "\ufeff", "\u00ad", "\u180e", "\U000e0041",
             "\x00", "\x07", "\x1b", "\x7f", "\x9b"]


@pytest.mark.parametrize("char", INVISIBLE, ids=[f"U+{ord(c):04X}" for c in INVISIBLE])
def test_normalize_name_removes_invisible_and_control_characters(char):
    assert normalize_name(f"{char}川崎{char}花子{char}") == "川崎花子"
    assert normalize_name(f"川崎 {char} 花子") == "川崎 花子"  # no double space left behind
    assert normalize_kana(f"かわさき{char} はなこ") == "カワサキ ハナコ"


def test_a_right_to_left_override_cannot_reverse_a_name_in_the_roster():
    assert normalize_name("\u202e子花 崎川\u202c") == "子花 崎川"  # what is stored is what is shown
    assert normalize_name("\u200b\u200b") == ""  # nothing visible: no name


@pytest.mark.parametrize(("typed", "expected"), [
    (f"Ｍａｒｉａ{IDEOGRAPHIC_SPACE}Ｇａｒｃｉａ", "Maria Garcia"),
    ("Ｔａｒｏ Ｙａｍａｄａ", "Taro Yamada"),
    ("Ｏ＇Ｂｒｉｅｎ Ｊｅａｎ－Ｌｕｃ", "O'Brien Jean-Luc"),
    ("ＭＡＲＩＡ ｄｅ ＳＯＵＺＡ", "MARIA de SOUZA"),
    ("山田 Ｍａｒｉａ", "山田 Maria"),  # the kanji untouched
])
def test_normalize_name_folds_full_width_latin_to_ascii(typed, expected):
    assert normalize_name(typed) == expected


@pytest.mark.parametrize(("name", "latin"), [
    ("Maria Garcia", True), ("José Müller", True), ("Jose\u0301", True), ("O'Brien", True), ("Nguyễn Văn An", True),
    ("Tanaka, Maria", True), ("St. John", True), ("Ólafur Ragnar-Grímsson", True),
    ("川崎 花子", False), ("カワサキ", False), ("はなこ", False), ("山田 Maria", False), ("Мария", False),
    ("...", False), ("", False), ("Maria 1", False),
])
def test_is_latin_name(name, latin):
    assert is_latin_name(name) is latin


@pytest.mark.parametrize("name", ["Maria Garcia", f"Ｍａｒｉａ{IDEOGRAPHIC_SPACE}Ｇａｒｃｉａ", "José Müller",
                                  "Nguyễn Văn An"])
def test_form_accepts_a_latin_name_without_kana(name):
    data = cleaned(name=name, kana="")
    assert data["name"] == normalize_name(name)
    assert data["kana"] == ""


def test_form_takes_a_kana_reading_for_a_latin_name_too():
    assert cleaned(name="Maria Garcia", kana="まりあ がるしあ")["kana"] == "マリア ガルシア"
    form = RegistrationForm(data=form_data(name="Maria Garcia", kana="Maria"))
    assert not form.is_valid() and "kana" in form.errors  # the reading, when given, is kana


@pytest.mark.parametrize("name", ["川崎 花子", "カワサキ ハナコ", "山田 Maria", "\u200bMaria\u202e 山田"])
def test_form_requires_kana_for_a_name_in_japanese_script(name):
    form = RegistrationForm(data=form_data(name=name, kana=""))
    assert not form.is_valid()
    assert "kana" in form.errors


def test_form_stores_the_name_without_invisible_characters():
    data = cleaned(name="\u202e川崎\u200b 花子\ufeff", kana="かわさき\u200d はなこ")
    assert (data["name"], data["kana"]) == ("川崎 花子", "カワサキ ハナコ")


def test_booker_name_is_normalised_the_same_way():
    form = RegistrationForm(data=form_data(booking_for="other", phone="", name="川崎 トメ", kana="カワサキ トメ",
                                           booker_name="Ｍａｒｉａ\u200b Ｇａｒｃｉａ", booker_relationship="娘",
                                           booker_phone="090-1234-5678"))
    assert form.is_valid(), form.errors
    assert form.booker_details().name == "Maria Garcia"
