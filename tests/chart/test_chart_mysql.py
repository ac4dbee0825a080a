"""The in-chart MySQL gets a sized InnoDB buffer pool: claims with many tenants touch up to
10 pages per index each, and a pool smaller than the hot part of the table turns them into
disk reads (docs/BENCHMARKS-fairness.md, "Scale")."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tests.chart.chartlib import CHART, RELEASE, Manifest, RenderError, containers, one

Render = Callable[..., list[Manifest]]
MYSQL = f"{RELEASE}-skiplock-mysql"
UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
QUANTITY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def mysql_args(manifests: list[Manifest]) -> list[str]:
    (container,) = containers(one(manifests, "StatefulSet", MYSQL))
    return list(container.get("args", []))


def pool_flags(args: list[str]) -> list[str]:
    return [a for a in args if a.startswith("--innodb-buffer-pool-size=")]


def mysqld_bytes(size: str) -> int:
    m = re.fullmatch(r"([0-9]+)([KMGT]?)", size.upper())
    assert m, size
    return int(m.group(1)) * UNITS[m.group(2)]


def k8s_bytes(quantity: str) -> int:
    m = re.fullmatch(r"([0-9]+)(Ki|Mi|Gi|Ti)", quantity)
    assert m, quantity
    return int(m.group(1)) * QUANTITY[m.group(2)]


def test_the_default_render_sets_the_buffer_pool_once_next_to_the_extra_args(
    render: Render,
) -> None:
    values: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())["mysql"]
    args = mysql_args(render())
    assert pool_flags(args) == [f"--innodb-buffer-pool-size={values['bufferPoolSize']}"]
    assert "--max-connections=500" in args
    # The chart's flag comes first, so one in extraArgs (mysqld: the last one wins) overrides.
    assert args[0].startswith("--innodb-buffer-pool-size=")


def test_the_default_buffer_pool_is_half_to_seventy_percent_of_the_memory_limit() -> None:
    values: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())["mysql"]
    pool = mysqld_bytes(values["bufferPoolSize"])
    limit = k8s_bytes(values["resources"]["limits"]["memory"])
    assert 0.5 <= pool / limit <= 0.7, (values["bufferPoolSize"], limit)


def test_buffer_pool_size_is_a_value(render: Render) -> None:
    assert pool_flags(mysql_args(render(None, ["mysql.bufferPoolSize=3G"]))) == [
        "--innodb-buffer-pool-size=3G"
    ]


def test_an_empty_buffer_pool_size_leaves_the_server_default(render: Render) -> None:
    args = mysql_args(render(None, ["mysql.bufferPoolSize="]))
    assert pool_flags(args) == []
    assert args == ["--max-connections=500"]
    # With no flags at all the container has no args (the image's own command runs).
    assert mysql_args(render(None, ["mysql.bufferPoolSize=", "mysql.extraArgs=null"])) == []


def test_extra_args_still_come_after_the_buffer_pool(render: Render) -> None:
    args = mysql_args(
        render(None, ["mysql.extraArgs[0]=--innodb-buffer-pool-size=6G", "mysql.bufferPoolSize=2G"])
    )
    assert args == ["--innodb-buffer-pool-size=2G", "--innodb-buffer-pool-size=6G"]


@pytest.mark.parametrize("bad", ["lots", "512MB", "0", "-1G", "1.5G"])
def test_a_malformed_buffer_pool_size_is_refused(render: Render, bad: str) -> None:
    with pytest.raises(RenderError, match="bufferPoolSize"):
        render(None, [f"mysql.bufferPoolSize={bad}"])
