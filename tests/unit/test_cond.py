"""The cond language: tokenizing, parsing, coercion, evaluation, errors and the real corpus."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from rocks.compiler.cond import (
    TRUE,
    And,
    CmpOp,
    Compare,
    Condition,
    Const,
    In,
    IsNone,
    Name,
    Not,
    Or,
    coerce,
    parse_condition,
    parse_expr,
)
from rocks.errors import RocksError, SourceLocation
from tests.conftest import need_corpus

CORPUS = Path(__file__).parents[2].parent / "shared" / "corpus" / "rocks"
HERE = SourceLocation("nodes/kvm.xml", 12, "kvm")


# --- coercion -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        ("yes", True),
        ("On", True),
        ("TRUE", True),
        ("y", True),
        ("n", False),
        ("off", False),
        ("False", False),
        ("NO", False),
        ("007", 7),
        ("7", 7),
        ("-3", -3),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        ("abc", "abc"),
        ("", ""),
        ("7_000", "7_000"),
        ("x86_64", "x86_64"),
    ],
)
def test_coerce(raw: str | None, expected: object) -> None:
    value = coerce(raw)
    assert value == expected
    assert type(value) is type(expected)


# --- parsing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("kvm", Name("kvm")),
        (" version >= 7", Compare(CmpOp.GE, Name("version"), Const(7))),
        ("rocks_version_major==6", Compare(CmpOp.EQ, Name("rocks_version_major"), Const(6))),
        ("appliance == 'frontend'", Compare(CmpOp.EQ, Name("appliance"), Const("frontend"))),
        (
            'appliance != "devel-server"',
            Compare(CmpOp.NE, Name("appliance"), Const("devel-server")),
        ),
        ("x < 1.5", Compare(CmpOp.LT, Name("x"), Const(1.5))),
        ("x <= -2", Compare(CmpOp.LE, Name("x"), Const(-2))),
        ("x > .5", Compare(CmpOp.GT, Name("x"), Const(0.5))),
        ("x == True", Compare(CmpOp.EQ, Name("x"), Const(True))),
        ("x != None", Compare(CmpOp.NE, Name("x"), Const(None))),
        ("not slimcore", Not(Name("slimcore"))),
        ("not (version >= 7)", Not(Compare(CmpOp.GE, Name("version"), Const(7)))),
        ("Bootloader is None", IsNone(Name("Bootloader"))),
        ("Bootloader is not None", IsNone(Name("Bootloader"), negated=True)),
        ("a in 'xyz'", In(Name("a"), Const("xyz"))),
        ("a not in ('x', 'y')", In(Name("a"), Const(("x", "y")), negated=True)),
        ("a in ['x', 2, True, None, -1.5,]", In(Name("a"), Const(("x", 2, True, None, -1.5)))),
        ("a in ('x',)", In(Name("a"), Const(("x",)))),
        ("a in ('xyz')", In(Name("a"), Const("xyz"))),
        ("'x' in a", In(Const("x"), Name("a"))),
        ("a and b and c", And((Name("a"), Name("b"), Name("c")))),
        ("(a and b) and c", And((Name("a"), Name("b"), Name("c")))),
        ("a or b and c", Or((Name("a"), And((Name("b"), Name("c")))))),
        ("(a or b) and c", And((Or((Name("a"), Name("b"))), Name("c")))),
        ("not a and b", And((Not(Name("a")), Name("b")))),
        ("not a == 1", Not(Compare(CmpOp.EQ, Name("a"), Const(1)))),
        ("not not a", Not(Not(Name("a")))),
        ("x == (a or b)", Compare(CmpOp.EQ, Name("x"), Or((Name("a"), Name("b"))))),
        (r"x == 'it\'s'", Compare(CmpOp.EQ, Name("x"), Const("it's"))),
        (
            "rocks_version_major >= 6 and Bootloader is None",
            And(
                (
                    Compare(CmpOp.GE, Name("rocks_version_major"), Const(6)),
                    IsNone(Name("Bootloader")),
                )
            ),
        ),
    ],
)
def test_parse_tree(text: str, tree: object) -> None:
    assert parse_expr(text) == tree


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        (" version  >=7 ", "version >= 7"),
        ("not(version>=7)", "not (version >= 7)"),
        ("a or (b and c)", "a or b and c"),
        ("(a or b) and not c", "(a or b) and not c"),
        ("not (a and b)", "not (a and b)"),
        ('x in ["a","b"]', "x in ('a', 'b')"),
        ("x not in 'abc'", "x not in 'abc'"),
        ("x==(a or b)", "x == (a or b)"),
        ('x == "frontend"', "x == 'frontend'"),
        ("a is not None or b", "a is not None or b"),
    ],
)
def test_str_is_normalised_and_parses_back(text: str, normal: str) -> None:
    expr = parse_expr(text)
    assert str(expr) == normal
    assert parse_expr(str(expr)) == expr


def test_names() -> None:
    expr = parse_expr("rocks_version_major >= 6 and (Bootloader is None or 'x' in y) and 7 == 7")
    assert expr.names() == frozenset({"rocks_version_major", "Bootloader", "y"})


# --- evaluation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "attrs", "expected"),
    [
        # truthiness of coerced values
        ("kvm", {"kvm": "true"}, True),
        ("kvm", {"kvm": "no"}, False),
        ("kvm", {}, False),
        ("kvm", {"kvm": "0"}, False),
        ("kvm", {"kvm": "0.0"}, False),
        ("kvm", {"kvm": ""}, False),
        ("kvm", {"kvm": "maybe"}, True),
        ("not slimcore", {}, True),
        ("not slimcore", {"slimcore": "yes"}, False),
        # ==, != across types
        ("rocks_version_major == 7", {"rocks_version_major": "7"}, True),
        ("rocks_version_major == 7", {"rocks_version_major": "6"}, False),
        ("rocks_version_major == 7", {}, False),
        ("v == '7'", {"v": "7"}, False),  # the value became the int 7
        ("v == 7.0", {"v": "7"}, True),
        ("v == 1", {"v": "yes"}, True),  # True == 1, as in Python
        ("v == None", {}, True),
        ("v != None", {}, False),
        ("v != 7", {"v": "abc"}, True),
        ("appliance == 'frontend'", {"appliance": "frontend"}, True),
        ("appliance != 'devel-server'", {"appliance": "compute"}, True),
        ("appliance != 'devel-server'", {"appliance": "devel-server"}, False),
        # ordering
        ("version >= 7", {"version": "7"}, True),
        ("version >= 7", {"version": "6.10"}, False),
        ("version > 6", {"version": "6.5"}, True),
        ("version < 7", {"version": "6"}, True),
        ("version <= 6", {"version": "6"}, True),
        ("name < 'b'", {"name": "abc"}, True),
        # incomparable types order as false, never raise
        ("version >= 7", {}, False),
        ("version < 7", {}, False),
        ("version < 7", {"version": "abc"}, False),
        ("name > 'a'", {"name": "3"}, False),
        ("not (version >= 7)", {}, True),
        ("not (version >= 7)", {"version": "6"}, True),
        ("not (version >= 7)", {"version": "7"}, False),
        # in / not in
        ("'86' in arch", {"arch": "x86_64"}, True),
        ("'86' in arch", {}, False),
        ("arch in 'i386 x86_64'", {"arch": "i386"}, True),
        ("arch in 'i386 x86_64'", {"arch": "armv7"}, False),
        ("v in 'abc'", {"v": "7"}, False),  # an int is never a substring
        ("appliance in ('frontend', 'compute')", {"appliance": "compute"}, True),
        ("appliance in ['frontend', 'compute']", {"appliance": "nas"}, False),
        ("appliance not in ('frontend', 'compute')", {"appliance": "nas"}, True),
        ("appliance not in ('frontend', 'compute')", {}, True),
        ("v in (6, 7)", {"v": "7"}, True),
        ("v in ('6', '7')", {"v": "7"}, False),
        ("v in (None, 7)", {}, True),
        # is None
        ("Bootloader is None", {}, True),
        ("Bootloader is None", {"Bootloader": "grub"}, False),
        ("Bootloader is not None", {"Bootloader": ""}, True),
        # and / or / not and precedence
        ("rocks_version_major >= 6 and Bootloader is None", {"rocks_version_major": "6"}, True),
        (
            "rocks_version_major >= 6 and Bootloader is None",
            {"rocks_version_major": "6", "Bootloader": "x"},
            False,
        ),
        ("a or b and c", {"a": "yes"}, True),  # a or (b and c)
        ("(a or b) and c", {"a": "yes"}, False),
        ("not a and b", {"b": "yes"}, True),  # (not a) and b
        ("not a or b", {"a": "yes"}, False),
        ("not a == 1", {"a": "2"}, True),  # not (a == 1)
        ("x == (a or b)", {"x": "yes", "b": "on"}, True),
        ("True", {}, True),
        ("None", {}, False),
        ("''", {}, False),
    ],
)
def test_evaluate(text: str, attrs: dict[str, str], expected: bool) -> None:
    assert bool(parse_expr(text).evaluate(attrs)) is expected
    condition = parse_condition(cond=text)
    assert condition is not None
    assert condition.evaluate(attrs) is expected


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x + 1", "unexpected '+' at column 3"),
        ("x - 1", "unexpected '-' at column 3"),
        ("x * 2", "unexpected '*' at column 3"),
        ("f(x)", "function call is not allowed at column 2"),
        ("__import__('os')", "function call is not allowed at column 11"),
        ("a.b", "attribute access is not allowed at column 2"),
        ("a[0]", "subscript is not allowed at column 2"),
        ("'abc'[0]", "subscript is not allowed at column 6"),
        ("lambda: 1", "keyword 'lambda' is not allowed at column 1"),
        ("a if b else c", "keyword 'if' is not allowed at column 3"),
        ("x == 'abc", "unterminated string at column 6"),
        ("x y", "unexpected 'y' at column 3"),
        ("x == 1)", "unexpected ')' at column 7"),
        ("x not", "unexpected 'not' at column 3"),
        ("()", "empty parentheses at column 1"),
        ("x in ()", "empty parentheses at column 6"),
        ("x in []", "empty list at column 6"),
        (
            "a < b < c",
            "chained comparison '<' at column 7 is not supported (combine comparisons with 'and')",
        ),
        (
            "a == b not in c",
            "chained comparison 'not in' at column 8 is not supported "
            "(combine comparisons with 'and')",
        ),
        ("x ==", "unexpected end of condition at column 5, expected a value"),
        ("and x", "unexpected 'and' at column 1, expected a value"),
        ("not", "unexpected end of condition at column 4, expected a value"),
        ("(a and b", "unexpected end of condition at column 9, expected ')'"),
        ("x = 1", "unexpected '=' at column 3 (did you mean '=='?)"),
        ("x && y", "unexpected '&' at column 3"),
        ("x is 5", "unexpected '5' at column 6, expected None"),
        ("x in 7", "unexpected '7' at column 6, expected a string, tuple, list or name"),
        ("x in (7)", "unexpected '7' at column 7, expected a string, tuple, list or name"),
        ("x in (a, 'b')", "unexpected 'a' at column 7, expected a literal"),
        ("x in ('a' 'b')", "unexpected string 'b' at column 11, expected ',' or ')'"),
        ("x == (1, 2)", "a tuple is only allowed after 'in' at column 6"),
        ("x == ['a']", "a list is only allowed after 'in' at column 6"),
        ("x == -y", "unexpected 'y' at column 7, expected a number"),
        ("1abc", "invalid number '1abc' at column 1"),
        ("v == 1.2.3", "invalid number '1.2.3' at column 6"),
        ("v > 1e999", "number '1e999' is too large at column 5"),
        ("é", "unexpected 'é' at column 1"),
        ("", "empty condition"),
        ("   ", "empty condition"),
    ],
)
def test_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(RocksError) as caught:
        parse_expr(text, HERE)
    diag = caught.value.first
    assert diag.code == "cond-syntax"
    assert diag.message == f'bad condition "{text}": {message}'
    assert diag.location == HERE
    assert "is None" in diag.hint


def test_parse_condition_reports_cond_errors_with_location() -> None:
    with pytest.raises(RocksError) as caught:
        parse_condition(arch="x86_64", cond="kvm()", location=HERE)
    assert str(caught.value.first) == (
        'nodes/kvm.xml:12: error: bad condition "kvm()": function call is not allowed at '
        "column 4 [cond-syntax]\n  hint: a condition may use attribute names, 'string' and "
        "number literals, True/False/None, == != < <= > >=, in, not in, is None, is not None, "
        "and, or, not, and parentheses"
    )


# --- Condition ------------------------------------------------------------------------------


def test_parse_condition_absent_or_blank_is_none() -> None:
    assert parse_condition() is None
    assert parse_condition(arch="", os="  ", release=" , ", cond="  ") is None


def test_parse_condition_fields_and_source() -> None:
    condition = parse_condition(arch="i386, x86_64", os="linux", cond=" kvm ")
    assert condition == Condition(
        arch=("i386", "x86_64"),
        os=("linux",),
        release=None,
        expr=Name("kvm"),
        source='arch="i386,x86_64" os="linux" cond="kvm"',
    )
    assert condition.names() == frozenset({"arch", "os", "kvm"})
    assert str(condition) == 'arch="i386,x86_64" os="linux" cond="kvm"'


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ({"arch": "x86_64", "os": "linux"}, True),
        ({"arch": "i386", "os": "linux"}, True),
        ({"arch": "armv7", "os": "linux"}, False),
        ({"arch": "x86_64", "os": "sunos"}, False),
        ({"os": "linux"}, False),
        ({"arch": "x86_64"}, False),
        ({"arch": " x86_64", "os": "linux"}, False),  # values are compared exactly
    ],
)
def test_comma_lists(attrs: dict[str, str], expected: bool) -> None:
    condition = parse_condition(arch="i386, x86_64", os="linux")
    assert condition is not None
    assert condition.evaluate(attrs) is expected


def test_release_list_compares_strings() -> None:
    condition = parse_condition(release="0, 7")
    assert condition is not None
    assert condition.evaluate({"release": "7"}) is True
    assert condition.evaluate({"release": "7.0"}) is False
    assert condition.names() == frozenset({"release"})


def test_lists_and_cond_are_anded() -> None:
    condition = parse_condition(arch="x86_64", cond="kvm")
    assert condition is not None
    assert condition.evaluate({"arch": "x86_64", "kvm": "yes"}) is True
    assert condition.evaluate({"arch": "x86_64", "kvm": "no"}) is False
    assert condition.evaluate({"arch": "i386", "kvm": "yes"}) is False


def test_true_condition() -> None:
    assert TRUE.evaluate({}) is True
    assert TRUE.names() == frozenset()
    assert TRUE.is_true
    assert str(TRUE) == "true"


def test_and_intersects_lists_and_conjoins_expressions() -> None:
    edge = parse_condition(arch="i386, x86_64", cond="rocks_version_major == 7")
    to = parse_condition(arch="x86_64,armv7", cond="kvm and x11")
    assert edge is not None and to is not None
    both = edge.and_(to)
    assert both == Condition(
        arch=("x86_64",),
        os=None,
        release=None,
        expr=And(
            (
                Compare(CmpOp.EQ, Name("rocks_version_major"), Const(7)),
                Name("kvm"),
                Name("x11"),
            )
        ),
        source='arch="i386,x86_64" cond="rocks_version_major == 7" and '
        'arch="x86_64,armv7" cond="kvm and x11"',
    )
    assert both.names() == frozenset({"arch", "rocks_version_major", "kvm", "x11"})
    attrs = {"arch": "x86_64", "rocks_version_major": "7", "kvm": "y", "x11": "y"}
    assert both.evaluate(attrs) is True
    assert both.evaluate({**attrs, "x11": "n"}) is False
    assert both.evaluate({**attrs, "arch": "i386"}) is False


def test_and_with_disjoint_lists_is_never_true() -> None:
    a = parse_condition(os="linux")
    b = parse_condition(os="sunos")
    assert a is not None and b is not None
    both = a.and_(b)
    assert both.os == ()
    assert both.evaluate({"os": "linux"}) is False
    assert both.evaluate({"os": "sunos"}) is False


def test_and_with_true_or_none_is_identity() -> None:
    a = parse_condition(cond="kvm")
    b = parse_condition(os="linux")
    assert a is not None and b is not None
    assert a.and_(None) is a
    assert a.and_(TRUE) is a
    assert TRUE.and_(a) is a
    mixed = a.and_(b)
    assert mixed.expr == Name("kvm")
    assert mixed.os == ("linux",)
    assert mixed.source == 'cond="kvm" and os="linux"'


# --- the real Rocks corpus ------------------------------------------------------------------


def _corpus_conditions() -> set[tuple[str | None, str | None, str | None, str | None]]:
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True)
    found = set()
    for path in sorted(CORPUS.rglob("*.xml")):
        root = etree.parse(str(path), parser).getroot()
        if root is None:
            continue
        for element in root.iter():
            attrs = [element.get(name) for name in ("arch", "os", "release", "cond")]
            if attrs[3] is not None or attrs[0] is not None or attrs[2] is not None:
                found.add((attrs[0], attrs[1], attrs[2], attrs[3]))
    return found


def test_every_corpus_condition_parses() -> None:
    need_corpus()
    found = _corpus_conditions()
    conds = {cond for *_, cond in found if cond is not None}
    # The corpus holds 45 distinct cond strings; fewer means the XML was not read properly.
    assert len(conds) >= 40
    assert "not (version >= 7)" in conds
    for arch, os, release, cond in sorted(found, key=repr):
        condition = parse_condition(arch=arch, os=os, release=release, cond=cond)
        assert condition is not None
        condition.evaluate({})
        condition.evaluate({"arch": "x86_64", "os": "linux", "rocks_version_major": "7"})


@pytest.mark.parametrize(
    ("cond", "attrs", "expected"),
    [
        ("rocks_version_major == 7", {"rocks_version_major": "7"}, True),
        ("version >= 7", {"version": "7.9"}, True),
        ("not (version >= 7)", {"version": "6.10"}, True),
        (" version >= 7", {"version": "6"}, False),
        ("rocks_version_major > 6", {"rocks_version_major": "7"}, True),
        ("x11", {"x11": "True"}, True),
        ("exec_host", {}, False),
        ("rocks_version_major == 7 and not UseTracker", {"rocks_version_major": "7"}, True),
        ("rocks_version_major == 7 and UseTracker", {"rocks_version_major": "7"}, False),
        (
            "img_storage_part_zfs_mirror and img_storage_vm and img_sync and vm_container_zpool",
            {
                "img_storage_part_zfs_mirror": "true",
                "img_storage_vm": "true",
                "img_sync": "true",
                "vm_container_zpool": "tank",
            },
            True,
        ),
    ],
)
def test_corpus_conditions_behave(cond: str, attrs: dict[str, str], expected: bool) -> None:
    condition = parse_condition(cond=cond)
    assert condition is not None
    assert condition.evaluate(attrs) is expected
