"""Switching the target once records were written: confirmed, and explained (issue 16)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from halosync.domain.targets import target_switch
from halosync.store.database import Database
from halosync.store.models import Account, LedgerEntry, Service
from halosync.store.workspaces import WorkspaceRepository
from tests.cli_inprocess import home_env, run_cli

USAGE = (
    "account_ref,account_name,account_status,billed,service_ref,service_name,quantity,"
    "start_date,billing_cycle,term\n"
    "A1,Client 1,active,true,MAIL,Mail,3,2024-01-01,monthly,12 months\n"
    "A2,Client 2,active,true,MAIL,Mail,4,2024-01-01,monthly,12 months\n"
)


@given(
    before=st.sampled_from(["licence", "invoice_line"]),
    after=st.sampled_from(["licence", "invoice_line", None]),
    written=st.integers(min_value=0, max_value=10_000),
)
def test_only_a_real_switch_after_writes_needs_confirming(
    before: str, after: str | None, written: int
) -> None:
    switch = target_switch(before, after, written)
    assert (switch is not None) == (after not in (None, before) and written > 0)
    if switch is not None:
        text = switch.explanation()
        assert "stay in HaloPSA as they are and are no longer updated" in text
        assert f"{written:,} " in text


def _written(home: Path) -> None:
    database = Database(f"sqlite:///{home / 'halosync.db'}")
    try:
        with database.session() as session:
            workspace = WorkspaceRepository(session).resolve(None)
            service = session.scalars(select(Service)).one()
            for n, account in enumerate(session.scalars(select(Account)).all()):
                session.add(
                    LedgerEntry(
                        workspace_id=workspace.id,
                        account_id=account.id,
                        service_id=service.id,
                        target="licence",
                        halo_client_id=n + 1,
                        halo_record_id=100 + n,
                        state="written",
                        marker=f"[halosync:{n:016x}]",
                    )
                )
    finally:
        database.dispose()


def test_cli_switch_needs_yes_once_licences_were_written(tmp_path: Path) -> None:
    env = home_env(tmp_path)
    usage = tmp_path / "usage.csv"
    usage.write_text(USAGE, encoding="utf-8")
    assert run_cli(env, "workspace", "create", "acme")[0] == 0
    assert run_cli(env, "import", str(usage))[0] == 0
    _written(tmp_path)

    code, out, err = run_cli(env, "settings", "set", "--target", "invoice_line")
    assert code == 1, out + err
    assert (
        "Switching from software licences to recurring invoice lines: the 2 licences "
        "halosync already wrote stay in HaloPSA" in err
    )
    assert "Pass --yes to confirm." in err
    assert '"target": "licence"' in run_cli(env, "settings", "show", "--json")[1]

    code, out, err = run_cli(env, "settings", "set", "--target", "invoice_line", "--yes")
    assert code == 0, out + err
    assert '"target": "invoice_line"' in run_cli(env, "settings", "show", "--json")[1]


def test_cli_setup_finish_names_what_blocks(tmp_path: Path) -> None:
    env = home_env(tmp_path)
    assert run_cli(env, "workspace", "create", "acme")[0] == 0
    code, out, err = run_cli(env, "setup", "finish")
    assert code == 1, out + err
    assert "Setup cannot finish yet: Save the connection settings first." in err
