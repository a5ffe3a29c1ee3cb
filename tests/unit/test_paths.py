"""kazoo.protocol.paths (API.md sections 2.1.6 and 2.6; PROTOCOL.md section 11)."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from kazoo.protocol.paths import basename, isabs, join, normpath, validate_path

# -- old string helpers --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "trailing", "expected"),
    [
        ("/a//b/", False, "/a/b"),
        ("/a//b/", True, "/a/b/"),
        ("a/b", False, "a/b"),
        ("a/b/", True, "a/b/"),
        ("/", False, "/"),
        ("/", True, "/"),
        ("//", False, "/"),
        ("", False, ""),
        ("/.a/b./..c", False, "/.a/b./..c"),
        ("///x///y", False, "/x/y"),
    ],
)
def test_normpath(path: str, trailing: bool, expected: str) -> None:
    assert normpath(path, trailing) == expected


@pytest.mark.parametrize("path", ["/./a", "/a/..", "a/./b", "..", "."])
def test_normpath_rejects_relative_segments(path: str) -> None:
    with pytest.raises(ValueError):
        normpath(path)


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("/a", "b"), "/a/b"),
        (("/a/", "b"), "/a/b"),
        (("/a", "/b", "c"), "/b/c"),
        (("", "b"), "b"),
        (("a",), "a"),
        (("/a", "b", "c/"), "/a/b/c/"),
        (("/a", ""), "/a/"),
    ],
)
def test_join(parts: tuple[str, ...], expected: str) -> None:
    assert join(*parts) == expected


def test_isabs_and_basename() -> None:
    assert isabs("/a") and isabs("/") and not isabs("a/b") and not isabs("")
    assert basename("/a/b") == "b"
    assert basename("/a/") == ""
    assert basename("a") == "a"
    assert basename("/") == ""


# -- validate_path: examples ---------------------------------------------------------------

VALID = [
    "/",
    "/a",
    "/a/b/c",
    "/.x",
    "/x.",
    "/..x",
    "/a/...",
    "/a b",
    "/\u00a0",
    "/\uf900",
    "/\ufeff",
    "/zookeeper/config",
    "/é/€/日本",
    "/a-0000000001",
]


@pytest.mark.parametrize("path", VALID)
def test_valid_paths(path: str) -> None:
    validate_path(path)
    validate_path(path, sequential=True)


@pytest.mark.parametrize("path", ["/queue/", "/a/.", "/a/..", "/.", "/"])
def test_sequential_checks_with_a_digit_appended(path: str) -> None:
    validate_path(path, sequential=True)


@pytest.mark.parametrize(
    ("path", "sequential", "rule"),
    [
        ("", False, "empty"),
        ("a", False, "start with '/'"),
        ("a/b", False, "start with '/'"),
        ("/a/", False, "end with '/'"),
        ("//", False, "empty segment"),
        ("/a//b", False, "empty segment"),
        ("/a//", True, "empty segment"),
        ("/.", False, "'.'"),
        ("/..", False, "'.'"),
        ("/a/./b", False, "'.'"),
        ("/a/../b", False, "'.'"),
        ("/a/./", True, "'.'"),
        ("/a/..", False, "'.'"),
        ("/a\x00b", False, "U\\+0000"),
        ("/a\x1f", False, "U\\+001F"),
        ("/a\x7f", False, "U\\+007F"),
        ("/a\x9f", False, "U\\+009F"),
        ("/a\ud800", False, "U\\+D800"),
        ("/a\ue000", False, "U\\+E000"),
        ("/a\uf8ff", False, "U\\+F8FF"),
        ("/a\ufff0", False, "U\\+FFF0"),
        ("/a\uffff", False, "U\\+FFFF"),
        ("/a\U0001f600", False, "U\\+1F600"),
        ("/a\U0010ffff", True, "U\\+10FFFF"),
    ],
)
def test_invalid_paths_name_the_rule(path: str, sequential: bool, rule: str) -> None:
    with pytest.raises(ValueError, match=rule):
        validate_path(path, sequential=sequential)


@pytest.mark.parametrize("path", [None, b"/a", 1, ["/a"]])
def test_non_str_is_a_type_error(path: object) -> None:
    with pytest.raises(TypeError):
        validate_path(path)  # type: ignore[arg-type]


# -- validate_path against a slow reference -------------------------------------------------


def _forbidden(code_point: int) -> bool:
    return (
        code_point <= 0x1F
        or 0x7F <= code_point <= 0x9F
        or 0xD800 <= code_point <= 0xF8FF
        or 0xFFF0 <= code_point <= 0xFFFF
        or code_point > 0xFFFF
    )


def reference_is_valid(path: str, sequential: bool) -> bool:
    """The rules written out plainly, one segment and one character at a time."""
    if path == "" or path[0] != "/":
        return False
    if path == "/":
        return True
    checked = path + "1" if sequential else path
    if checked.endswith("/"):
        return False
    for segment in checked[1:].split("/"):
        if segment in ("", ".", ".."):
            return False
    return not any(_forbidden(ord(char)) for char in checked)


_interesting = st.sampled_from(
    ["/", "/", "/", ".", "..", "a", "b", "-", " ", "\x00", "\x1f", "\x7f", "\x9f", "\xa0"]
    + ["\ud800", "\ue000", "\uf8ff", "\uf900", "\ufff0", "\uffff", "\U00010000", "é"]
)
_paths = st.lists(_interesting | st.characters(), max_size=12).map("".join)


@given(_paths, st.booleans())
@example("/a/.", True)
@example("/a/.", False)
@example("/", True)
@example("//", True)
def test_validate_path_matches_reference(path: str, sequential: bool) -> None:
    try:
        validate_path(path, sequential=sequential)
    except ValueError:
        valid = False
    else:
        valid = True
    assert valid == reference_is_valid(path, sequential), path


@given(st.lists(st.sampled_from(["a", "bc", ".x", "x.", "...", "\u00e9"]), min_size=1))
def test_well_formed_paths_are_valid(segments: list[str]) -> None:
    path = "/" + "/".join(segments)
    validate_path(path)
    validate_path(path + "/", sequential=True)
