"""Age bands and their roll-ups (outreach.bands): in Python and in the database, the same answer."""

import pytest

from courses.models import Participant
from outreach import bands


def test_stored_bands_are_the_participant_choices():
    assert [*bands.STORED, bands.NOT_GIVEN] == [value for value, _label in Participant.AgeBand.choices]


@pytest.mark.parametrize("rollup", [bands.DETAIL, bands.DECADE, bands.ELDERLY])
def test_every_roll_up_splits_the_stored_bands_once_in_order(rollup):
    members = [member for _key, group in bands.ROLLUPS[rollup] for member in group]
    assert members == bands.STORED
    assert bands.roll(bands.NOT_GIVEN, rollup) == bands.NOT_GIVEN
    assert bands.roll("nonsense", rollup) == bands.NOT_GIVEN


def test_roll_ups():
    assert [bands.roll(band, bands.DECADE) for band in bands.STORED] == [
        "u20", "20-29", "30-39", "40-49", "50-59", "60-69", "60-69", "70-79", "70-79", "80+", "80+"]
    assert [bands.roll(band, bands.ELDERLY) for band in bands.STORED] == [
        "u65", "u65", "u65", "u65", "u65", "u65", "65-74", "65-74", "75+", "75+", "75+"]
    assert bands.keys(bands.ELDERLY) == ["u65", "65-74", "75+"]


def test_a_key_means_the_same_members_in_every_roll_up():
    for rollup in bands.ROLLUPS.values():
        for key, members in rollup:
            assert bands.MEMBERS[key] == members
    assert bands.MEMBERS["65+"] == ["65-69", "70-74", "75-79", "80-84", "85+"]
    assert bands.MEMBERS["65+"] == bands.MEMBERS["65-74"] + bands.MEMBERS["75+"]


def test_every_key_has_a_label():
    for key in [*bands.MEMBERS, bands.NOT_GIVEN]:
        assert str(bands.label(key)) != key or key == "", key


def test_survey_bands():
    assert set(bands.SURVEY_BANDS_OF_STORED) == set(bands.STORED)
    assert set(bands.GAP_YOUNGER + bands.GAP_OLDER) <= set(bands.SURVEY_BANDS_OF_STORED.values())
    assert not set(bands.GAP_YOUNGER) & set(bands.GAP_OLDER)
    assert "60-69" not in bands.GAP_YOUNGER + bands.GAP_OLDER  # the gap compares 13–59 with 70+


@pytest.mark.django_db
@pytest.mark.parametrize("rollup", [bands.DETAIL, bands.DECADE, bands.ELDERLY])
def test_the_database_rolls_up_as_python_does(rollup):
    participants = {band: Participant.objects.create(age_band=band) for band in [*bands.STORED, bands.NOT_GIVEN]}
    keys = dict(Participant.objects.annotate(key=bands.rolled("age_band", rollup)).values_list("pk", "key"))
    expected = {band: band if rollup == bands.DETAIL else bands.roll(band, rollup) for band in participants}
    assert {band: keys[participant.pk] for band, participant in participants.items()} == expected
