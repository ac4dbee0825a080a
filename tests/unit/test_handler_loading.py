"""Loading handler modules: a module counts when it registers a handler, also when
another module imported it first; one that registers none, or does not import, is
refused with one line naming it."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from skiplock.handlers import HandlerModuleError, load_modules, registry

HANDLER = 'from skiplock import handler\n\n@handler("{name}")\ndef run(payload):\n    return 1\n'


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A directory for modules and a package name unique to the test."""
    package = f"app_{uuid.uuid4().hex[:10]}"
    (tmp_path / package).mkdir()
    saved = list(sys.path)
    yield tmp_path, package
    sys.path[:] = saved
    for name in [m for m in sys.modules if m.split(".")[0] == package]:
        del sys.modules[name]


def test_a_module_imported_first_by_another_still_counts(app: tuple[Path, str]) -> None:
    root, package = app
    (root / package / "jobs.py").write_text(HANDLER.format(name=f"{package}.jobs"))
    (root / package / "entry.py").write_text(f"from {package} import jobs  # noqa\n")
    load_modules([f"{package}.entry", f"{package}.jobs"], paths=[str(root)])
    assert f"{package}.jobs" in registry


def test_paths_go_ahead_of_the_installed_packages(app: tuple[Path, str]) -> None:
    root, package = app
    (root / package / "jobs.py").write_text(HANDLER.format(name=f"{package}.x"))
    load_modules([f"{package}.jobs"], paths=[str(root)])
    assert sys.path[0] == str(root)


def test_a_module_that_registers_nothing_is_refused_naming_its_file(
    app: tuple[Path, str],
) -> None:
    root, package = app
    (root / package / "empty.py").write_text("VALUE = 1\n")
    with pytest.raises(HandlerModuleError) as refused:
        load_modules([f"{package}.empty"], paths=[str(root)])
    message = str(refused.value)
    assert message.startswith(f"{package}.empty: imported from {root / package / 'empty.py'}")
    assert "registers no handler" in message and "\n" not in message


def test_an_error_inside_the_module_names_its_file_and_line(app: tuple[Path, str]) -> None:
    root, package = app
    (root / package / "bad.py").write_text("x = 1\nraise KeyError('setting')\n")
    with pytest.raises(HandlerModuleError) as refused:
        load_modules([f"{package}.bad"], paths=[str(root)])
    assert str(refused.value) == (
        f"{package}.bad: KeyError: 'setting' ({root / package / 'bad.py'}, line 2)"
    )
