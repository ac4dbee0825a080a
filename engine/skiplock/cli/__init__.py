"""The ``skiplock`` command line: one module per group of commands."""

from __future__ import annotations

import sys

import click

from skiplock.cli.admin import admin_key, key_group, tenant
from skiplock.cli.doctor import doctor
from skiplock.cli.schedules import schedule
from skiplock.cli.serve import migrate, recount, serve
from skiplock.cli.tasks import task


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="skiplock")
def main() -> None:
    """Skiplock: a distributed background job engine.

    With nothing configured it runs embedded (SQLite, in-process state). Set
    SKIPLOCK_DATABASE_URL (mysql+pymysql://...) and SKIPLOCK_REDIS_URL to run many
    identical instances against one MySQL/MariaDB and one Redis.

    \b
    First steps:
      skiplock admin-key create --save      a key for the commands below
      SKIPLOCK_HANDLERS=myapp.tasks skiplock serve
      skiplock task submit hello --wait     in another shell
      skiplock doctor                       what is wrong, and the fix
    """


for command in (serve, migrate, recount, task, schedule, doctor, tenant, admin_key, key_group):
    main.add_command(command)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
