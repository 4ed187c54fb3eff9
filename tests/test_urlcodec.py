"""URL state round-trips: a link reproduces the page's prompt and edits."""

import pytest

from explorer import urlcodec
from sw_core.edits import Coord
from sw_core.errors import BadInput


def test_factors_round_trip_sorted():
    f = {Coord(11, 507, 1487): 0.5, Coord(11, 507, 1229): 0.0}
    text = urlcodec.encode_factors(f)
    assert text == "11.507.1229=0,11.507.1487=0.5"
    assert urlcodec.decode_factors(text) == f


@pytest.mark.parametrize("bad", ["11.507", "a.b.c", "11.507.1229.5=0"])
def test_malformed_params_raise_bad_input(bad):
    with pytest.raises(BadInput):
        urlcodec.decode_factors(bad)


@pytest.mark.parametrize("factor", ["x", "nan", "inf", "-1", "99"])
def test_a_scale_that_is_not_usable_is_named_with_the_slider_range_and_the_rest_kept(factor):
    sw, other = Coord(11, 507, 1229), Coord(11, 507, 1487)
    kept, ignored = urlcodec.usable_factors(urlcodec.decode_factors(f"11.507.1229={factor},11.507.1487=0"),
                                            [sw, other], 0.0, 3.0)
    assert kept == {other: 0.0}
    assert len(ignored) == 1 and ignored[0].startswith("11.507.1229: the scale must be 0-3 (the slider's range), not ")
    assert "inf.." not in ignored[0] and "outside" not in ignored[0]


@pytest.mark.parametrize("text, message", [
    ("rtn;bits=99", "bits must be a whole number 2-8, not '99'."),
    ("rtn;bits=nan", "bits must be a whole number 2-8, not 'nan'."),
    ("rtn;bits=3.5", "bits must be a whole number 2-8, not '3.5'."),
    ("rtn;block=-1", "block must be one of 32, 64, 128, 256, 512, row or tensor, not '-1'."),
    ("rtn;block=100", "block must be one of 32, 64, 128, 256, 512, row or tensor, not '100'."),
    ("rtn;clip_z=1e9", "clip_z (standard deviations) must be 0-100, not '1e9'."),
])
def test_quantization_links_are_refused_in_the_widgets_own_range_one_problem_each(text, message):
    blocks = ["32", "64", "128", "256", "512", "row", "tensor"]
    with pytest.raises(BadInput) as e:
        urlcodec.decode_setting(text, blocks)
    assert str(e.value) == message


def test_values_encode_compactly():
    assert urlcodec.encode_value(True) == "1" and urlcodec.encode_value(2.50) == "2.5"
    assert urlcodec.decode_bool("1") and not urlcodec.decode_bool("0")
    with pytest.raises(BadInput):
        urlcodec.decode_number("4", 0, 3)
    assert urlcodec.encode_value(None) is None


def test_quant_settings_round_trip():
    from sw_core.quant import QuantSetting, standard_settings

    for s in standard_settings() + [QuantSetting("rtn", bits=3, block="row", clip_z=2.5, aware=True),
                                    QuantSetting("rtn", clip_z="search")]:
        assert urlcodec.decode_setting(urlcodec.encode_setting(s)) == s
    assert urlcodec.encode_setting(QuantSetting("rtn", bits=4, block=128, aware=True)) == "rtn;aware=1"
    with pytest.raises(BadInput):
        urlcodec.decode_setting("rtn;bits=99")
    with pytest.raises(BadInput):
        urlcodec.decode_setting("nonsense")


def test_an_edit_the_page_cannot_show_is_ignored_with_its_reason():
    sw, other = Coord(11, 507, 1229), Coord(11, 507, 1487)
    kept, ignored = urlcodec.usable_factors({sw: 0.0, other: 5.0, Coord(1, 2, 3): 0.0}, [sw, other], 0.0, 3.0)
    assert kept == {sw: 0.0}  # 5 is not clamped to 3, and 1.2.3 is not mapped to a super weight
    assert ignored == ["11.507.1487: the scale must be 0-3 (the slider's range), not 5",
                       "1.2.3 is not a super weight of this model (its super weights: 11.507.1229, 11.507.1487)"]


def test_a_choice_outside_the_options_is_refused():
    decode = urlcodec.decode_choice(["a b", "c"])
    assert decode("c") == "c"
    with pytest.raises(BadInput, match="not one of the choices"):
        decode("d")
