"""The registry type: a name is taken once unless replaced, listing, the error for an unknown name, and the
three registries built on it (detector backends, compute functions, spreadsheet functions)."""

import threading

import pytest

import vision.backends  # noqa: F401  (registers the built-in backends)
from anchors.sheets.functions import FUNCTIONS
from anchors.compute.compute_blocks import FunctionRegistry, UnknownFunction
from registry import DuplicateName, Registry, UnknownName
from vision.detection import DETECTORS, DetectorConfigError, UnknownDetectorError, create_detector


def test_a_taken_name_is_refused_and_the_first_item_kept() -> None:
    colours: Registry[int] = Registry("colour")
    colours.register("red", 1)
    with pytest.raises(DuplicateName, match="colour 'red' is already registered") as raised:
        colours.register("red", 2)
    assert isinstance(raised.value, ValueError) and raised.value.name == "red"
    assert colours.get("red") == 1


def test_replace_takes_the_name_over() -> None:
    colours: Registry[int] = Registry("colour")
    colours.register("red", 1)
    assert colours.register("red", 2, replace=True) == 2
    assert colours.get("red") == 2 and len(colours) == 1


def test_the_decorator_form_registers_what_it_decorates() -> None:
    shapes: Registry[type] = Registry("shape")

    @shapes.register("square")
    class Square:
        pass

    assert shapes.get("square") is Square
    with pytest.raises(DuplicateName):
        shapes.register("square")(type("Other", (), {}))
    shapes.register("square", replace=True)(Other := type("Other", (), {}))
    assert shapes.get("square") is Other


def test_it_lists_what_it_holds_sorted() -> None:
    colours: Registry[int] = Registry("colour")
    for number, name in enumerate(["red", "blue", "green"]):
        colours.register(name, number)
    assert colours.names() == ["blue", "green", "red"] == list(colours)
    assert colours.items() == [("blue", 1), ("green", 2), ("red", 0)]
    assert "red" in colours and "pink" not in colours and len(colours) == 3


def test_an_unknown_name_is_a_lookup_error_naming_the_known_ones() -> None:
    colours: Registry[int] = Registry("colour")
    with pytest.raises(UnknownName, match=r"no colour named 'red' \(registered: none\)"):
        colours.get("red")
    colours.register("blue", 1)
    colours.register("green", 2)
    with pytest.raises(LookupError, match=r"no colour named 'red' \(registered: blue, green\)") as raised:
        colours.get("red")
    assert raised.value.name == "red" and raised.value.known == ["blue", "green"]
    assert colours.find("red") is None and colours.find("blue") == 1


def test_a_registry_raises_its_own_unknown_name_error() -> None:
    class UnknownColour(UnknownName):
        pass

    with pytest.raises(UnknownColour):
        Registry[int]("colour", UnknownColour).get("red")


def test_on_register_sees_each_item_registered_and_not_a_refused_one() -> None:
    seen: list[tuple[str, int]] = []
    colours: Registry[int] = Registry("colour", on_register=lambda name, item: seen.append((name, item)))
    colours.register("red", 1)
    with pytest.raises(DuplicateName):
        colours.register("red", 2)
    colours.register("red", 3, replace=True)
    assert seen == [("red", 1), ("red", 3)]


def test_threads_registering_one_name_at_once_leave_one_winner() -> None:
    colours: Registry[int] = Registry("colour")
    refused: list[int] = []
    start = threading.Barrier(8)

    def claim(number: int) -> None:
        start.wait()
        try:
            colours.register("red", number)
        except DuplicateName:
            refused.append(number)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(refused) == 7 and colours.get("red") not in refused


def test_detectors_an_unknown_one_is_a_config_error_listing_the_backends() -> None:
    with pytest.raises(UnknownDetectorError, match=r"no detector named 'yolo' \(registered: .*markers") as raised:
        create_detector("yolo")
    assert isinstance(raised.value, DetectorConfigError) and isinstance(raised.value, LookupError)


def test_detectors_a_taken_name_is_refused_and_registering_names_the_backend() -> None:
    markers = DETECTORS.get("markers")
    assert markers.name == "markers"
    with pytest.raises(DuplicateName, match="detector 'markers'"):
        DETECTORS.register("markers")(type("Impostor", (markers,), {}))
    assert DETECTORS.get("markers") is markers


def test_compute_functions_a_taken_name_is_refused_unless_replaced() -> None:
    functions = FunctionRegistry(group="spatial.tests.no_such_group")

    @functions.register("double")
    def double(x: int) -> int:
        """Twice x."""
        return 2 * x

    with pytest.raises(DuplicateName, match="compute function 'double'"):
        functions.register("double")(lambda x: x)

    @functions.register("double", replace=True)
    def double_again(x: int) -> int:
        return x + x

    assert functions.get("double").function is double_again and functions.names() == ["double"]
    with pytest.raises(UnknownFunction, match=r"no compute function named 'triple' \(registered: double\)"):
        functions.get("triple")


def test_spreadsheet_functions_a_taken_name_is_refused() -> None:
    total = FUNCTIONS.get("SUM")
    with pytest.raises(DuplicateName, match="spreadsheet function 'SUM'"):
        FUNCTIONS.register("SUM", total)
    assert FUNCTIONS.find("NO_SUCH_FUNCTION") is None and "SUM" in FUNCTIONS.names()
