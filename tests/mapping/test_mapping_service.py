from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from halosync.domain.matching import Suggestion
from halosync.errors import NotFoundError, ValidationFailedError
from halosync.mapping.grid import (
    account_mapping_grid,
    mapping_counts,
    service_mapping_grid,
    unmapped_halo_clients,
)
from halosync.mapping.service import (
    ChosenMapping,
    accept_suggestions,
    map_account,
    map_service,
    save_chosen_mappings,
    suggest_account_mappings,
    unmap_account,
)
from halosync.sources.importer import import_document
from halosync.store.account_grid import refresh_mapping_columns
from halosync.store.database import Database
from halosync.store.models import (
    Account,
    AccountMapping,
    HaloClient,
    HaloItem,
    HaloRecurringInvoice,
    LedgerEntry,
    Service,
)
from halosync.store.workspaces import WorkspaceRepository
from tests.schema_template import migrated

T = TypeVar("T")

ACCOUNTS = [
    ("A-1", "Acme Widgets Ltd"),
    ("A-2", "Bright Dental Inc."),
    ("A-3", "Contoso Legal LLP"),
    ("A-4", "Zeta Trial Co"),
]
# Halo's own names differ as real ones do: suffixes, case, punctuation.
HALO_CLIENTS = [
    (101, "ACME WIDGETS LIMITED", False),
    (102, "Bright Dental", False),
    (103, "Contoso Legal", False),
    (104, "Northwind Traders", True),
]


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    db = migrated(Database(f"sqlite:///{tmp_path / 'halosync.db'}"))
    yield db
    db.dispose()


def _workspace(database: Database, target: str = "licence", name: str | None = None) -> int:
    with database.session() as session:
        workspace = WorkspaceRepository(session).create(name or f"ws-{target}")
        workspace.target = target
        workspace_id = workspace.id
    import_document(
        database,
        workspace_id,
        {
            "accounts": [
                {"ref": ref, "name": name, "status": "active", "billed": True}
                for ref, name in ACCOUNTS
            ],
            "services": [{"ref": "S-1", "name": "Email Security"}],
            "subscriptions": [],
        },
    )
    with database.session() as session:
        for halo_id, name, inactive in HALO_CLIENTS:
            session.add(
                HaloClient(workspace_id=workspace_id, halo_id=halo_id, name=name, inactive=inactive)
            )
        session.add(HaloItem(workspace_id=workspace_id, halo_id=900, name="Email Security"))
        session.add(
            HaloRecurringInvoice(
                workspace_id=workspace_id, halo_id=-5, halo_client_id=101, name="Acme monthly"
            )
        )
        for invoice_id in (-6, -7):
            session.add(
                HaloRecurringInvoice(
                    workspace_id=workspace_id,
                    halo_id=invoice_id,
                    halo_client_id=102,
                    name=f"Bright {invoice_id}",
                )
            )
    return workspace_id


def test_a_halo_client_maps_to_one_account_only(database: Database) -> None:
    ws = _workspace(database)
    with database.session() as session:
        map_account(session, ws, "A-1", 101)
    with database.session() as session, pytest.raises(ValidationFailedError) as refused:
        map_account(session, ws, "A-2", 101)
    assert "already mapped to account 'A-1'" in str(refused.value)
    with database.session() as session:
        names = [c.halo_id for c in unmapped_halo_clients(session, ws)]
    assert 101 not in names
    assert set(names) == {102, 103, 104}


def test_unknown_references_are_named(database: Database) -> None:
    ws = _workspace(database)
    with database.session() as session, pytest.raises(NotFoundError, match="'NOPE'"):
        map_account(session, ws, "NOPE", 101)
    with database.session() as session, pytest.raises(NotFoundError, match="Halo client 999"):
        map_account(session, ws, "A-1", 999)
    with database.session() as session, pytest.raises(NotFoundError, match="Halo item 5"):
        map_service(session, ws, "S-1", 5)


def test_invoice_line_target_needs_a_recurring_invoice(database: Database) -> None:
    ws = _workspace(database, "invoice_line")
    with database.session() as session:
        mapping = map_account(session, ws, "A-1", 101)
        assert mapping.recurring_invoice_id == -5  # the client's only invoice
    with database.session() as session, pytest.raises(ValidationFailedError, match="Required"):
        map_account(session, ws, "A-3", 103)
    with database.session() as session, pytest.raises(ValidationFailedError, match="--invoice"):
        map_account(session, ws, "A-2", 102)
    with database.session() as session:
        assert (
            map_account(session, ws, "A-2", 102, recurring_invoice_id=-7).recurring_invoice_id == -7
        )
    with database.session() as session, pytest.raises(ValidationFailedError, match="-5"):
        map_account(session, ws, "A-3", 103, recurring_invoice_id=-5)


def test_grid_statuses_search_sort_and_paging(database: Database) -> None:
    ws = _workspace(database, "invoice_line")
    with database.session() as session:
        map_account(session, ws, "A-1", 101)
        # A mapping whose invoice vanished from Halo is Required again.
        map_account(session, ws, "A-2", 102, recurring_invoice_id=-6)
        invoice = session.scalar(
            select(HaloRecurringInvoice).where(HaloRecurringInvoice.halo_id == -6)
        )
        assert invoice is not None
        invoice.gone = True
    with database.session() as session:
        grid = account_mapping_grid(session, ws, page_size=2)
        assert grid.total == 4
        assert [row.account_ref for row in grid.items] == ["A-1", "A-2"]
        statuses = {
            row.account_ref: row.status_label
            for row in account_mapping_grid(session, ws, page_size=10).items
        }
        assert statuses == {
            "A-1": "Mapped",
            "A-2": "Required",
            "A-3": "Unmapped",
            "A-4": "Unmapped",
        }
        unmapped = account_mapping_grid(session, ws, status="unmapped")
        assert [row.account_ref for row in unmapped.items] == ["A-3", "A-4"]
        by_client_name = account_mapping_grid(session, ws, search="widgets limited")
        assert [row.account_ref for row in by_client_name.items] == ["A-1"]
        by_client_id = account_mapping_grid(session, ws, search="102")
        assert [row.account_ref for row in by_client_id.items] == ["A-2"]
        by_ref = account_mapping_grid(session, ws, search="a-3")
        assert [row.account_ref for row in by_ref.items] == ["A-3"]
        descending = account_mapping_grid(session, ws, sort="account_name", descending=True)
        assert descending.items[0].account_name == "Zeta Trial Co"
        second_page = account_mapping_grid(session, ws, page=2, page_size=3)
        assert [row.account_ref for row in second_page.items] == ["A-4"]
        with pytest.raises(ValidationFailedError, match="Cannot sort"):
            account_mapping_grid(session, ws, sort="password")


def test_a_mapped_client_halosync_never_saw_is_a_response_error(database: Database) -> None:
    ws = _workspace(database)
    with database.session() as session:
        account = session.scalar(select(Account).where(Account.ref == "A-3"))
        assert account is not None
        session.add(AccountMapping(workspace_id=ws, account_id=account.id, halo_client_id=555))
    with database.session() as session:
        row = account_mapping_grid(session, ws, search="A-3").items[0]
    assert row.status_label == "Response Error"


def test_unmapping_keeps_the_ledger(database: Database) -> None:
    ws = _workspace(database)
    with database.session() as session:
        map_account(session, ws, "A-1", 101)
        account = session.scalar(select(Account).where(Account.ref == "A-1"))
        service = session.scalar(select(Service).where(Service.ref == "S-1"))
        assert account is not None
        assert service is not None
        session.add(
            LedgerEntry(
                workspace_id=ws,
                account_id=account.id,
                service_id=service.id,
                target="licence",
                halo_client_id=101,
                halo_record_id=77,
                state="written",
                marker="[halosync:0000000000000000]",
            )
        )
    with database.session() as session:
        assert unmap_account(session, ws, "A-1") is True
        assert unmap_account(session, ws, "A-1") is False
    with database.session() as session:
        assert session.scalar(select(LedgerEntry.halo_record_id)) == 77
        assert mapping_counts(session, ws).accounts_mapped == 0


def test_suggestions_never_overwrite_a_saved_mapping(database: Database) -> None:
    ws = _workspace(database)
    with database.session() as session:
        # Saved by hand, deliberately not the best name match.
        map_account(session, ws, "A-1", 103)
    with database.session() as session:
        suggestions = suggest_account_mappings(session, ws, min_score=60)
    by_account = {s.account_ref: s.halo_client_id for s in suggestions}
    assert "A-1" not in by_account
    assert 103 not in by_account.values()
    assert by_account.get("A-2") == 102
    with database.session() as session:
        outcomes = accept_suggestions(session, ws, suggestions)
    assert all(outcome.saved for outcome in outcomes)
    with database.session() as session:
        rows = {r.account_ref: r.halo_client_id for r in account_mapping_grid(session, ws).items}
    assert rows["A-1"] == 103
    assert rows["A-2"] == 102


def test_accepting_for_invoice_line_reports_required_and_saves_the_rest(
    database: Database,
) -> None:
    ws = _workspace(database, "invoice_line")
    with database.session() as session:
        suggestions = suggest_account_mappings(session, ws, min_score=60)
        outcomes = {
            o.suggestion.account_ref: o for o in accept_suggestions(session, ws, suggestions)
        }
    assert outcomes["A-1"].saved
    assert outcomes["A-1"].recurring_invoice_id == -5
    assert not outcomes["A-3"].saved
    assert "Required" in outcomes["A-3"].note
    with database.session() as session:
        assert mapping_counts(session, ws).accounts_mapped == 1


def test_service_mapping_grid(database: Database) -> None:
    ws = _workspace(database)
    with database.session() as session:
        assert [row.mapped for row in service_mapping_grid(session, ws)] == [False]
        map_service(session, ws, "S-1", 900)
    with database.session() as session:
        (row,) = service_mapping_grid(session, ws)
    assert (row.halo_item_id, row.halo_item_name) == (900, "Email Security")


@pytest.mark.parametrize("search", ["²", "9" * 40, "101", "bright"])
def test_client_picker_search_never_crashes(database: Database, search: str) -> None:
    ws = _workspace(database)
    with database.session() as session:
        found = [c.halo_id for c in unmapped_halo_clients(session, ws, search=search)]
    if search in ("101", "bright"):
        assert found
        assert set(found) <= {101, 102, 103, 104}
    else:
        assert found == []


def test_grid_filters_by_account_and_halo_client_status(database: Database) -> None:
    ws = _workspace(database)
    with database.session() as session:
        account = session.scalar(select(Account).where(Account.ref == "A-4"))
        assert account is not None
        account.status = "trial"
        map_account(session, ws, "A-1", 101)
        map_account(session, ws, "A-2", 102)
        map_account(session, ws, "A-3", 104)  # Northwind: inactive in Halo
        gone = session.scalar(select(HaloClient).where(HaloClient.halo_id == 102))
        assert gone is not None
        gone.gone = True
        refresh_mapping_columns(session, ws)  # as Sync Organizations does after marking it
    with database.session() as session:

        def refs(**filters: str) -> list[str]:
            grid = account_mapping_grid(session, ws, **filters)  # type: ignore[arg-type]
            return [row.account_ref for row in grid.items]

        assert refs(account_status="trial") == ["A-4"]
        assert refs(account_status="active") == ["A-1", "A-2", "A-3"]
        assert refs(halo_client_status="active") == ["A-1"]
        assert refs(halo_client_status="inactive") == ["A-3"]
        assert refs(halo_client_status="gone") == ["A-2"]
        assert refs(halo_client_status="active", account_status="trial") == []
        with pytest.raises(ValidationFailedError, match="Unknown account status"):
            refs(account_status="deleted")
        with pytest.raises(ValidationFailedError, match="Unknown Halo client status"):
            refs(halo_client_status="asleep")


def test_accepting_looks_for_saved_mappings_in_its_own_workspace_only(database: Database) -> None:
    # The same references and Halo ids in two workspaces: A-1 is mapped in the first only.
    first = _workspace(database, name="first")
    second = _workspace(database, name="second")
    with database.session() as session:
        map_account(session, first, "A-1", 101)
    with database.session() as session:
        suggestions = suggest_account_mappings(session, second, min_score=60)
        assert {s.account_ref for s in suggestions} >= {"A-1", "A-2"}
        outcomes = {
            s.suggestion.account_ref: s for s in accept_suggestions(session, second, suggestions)
        }
    assert outcomes["A-1"].saved, outcomes["A-1"].note
    assert outcomes["A-2"].saved
    with database.session() as session:
        # And the other way round: what the second workspace saved keeps nothing from the first.
        again = accept_suggestions(
            session, first, [s for s in suggestions if s.account_ref == "A-2"]
        )
        assert [o.saved for o in again] == [True]
        kept = accept_suggestions(
            session, second, [s for s in suggestions if s.account_ref == "A-1"]
        )
        assert [(o.saved, o.note) for o in kept] == [(False, "already mapped; kept")]
    with database.session() as session:
        assert mapping_counts(session, first).accounts_mapped == 2
        assert mapping_counts(session, second).accounts_mapped == len(suggestions)


def _suggestion(account_ref: str, halo_client_id: int) -> Suggestion:
    return Suggestion(
        account_ref=account_ref,
        halo_client_id=halo_client_id,
        score=90,
        account_name=account_ref,
        halo_client_name=str(halo_client_id),
        exact=False,
    )


def test_accepting_a_batch_applies_every_rule_of_a_single_map(database: Database) -> None:
    ws = _workspace(database)
    with database.session() as session:
        map_account(session, ws, "A-4", 103)
        gone = session.scalar(
            select(HaloClient).where(HaloClient.workspace_id == ws, HaloClient.halo_id == 104)
        )
        assert gone is not None
        gone.gone = True
    batch = [
        _suggestion("A-1", 101),
        _suggestion("A-1", 102),  # the account was saved a moment ago in this batch
        _suggestion("A-2", 101),  # the client was taken a moment ago in this batch
        _suggestion("A-3", 103),  # the client was mapped before, to A-4
        _suggestion("A-4", 102),  # the account was mapped before
        _suggestion("A-2", 104),  # the client is gone from Halo
        _suggestion("A-2", 102),
    ]
    with database.session() as session:
        outcomes = accept_suggestions(session, ws, batch)
    assert [(o.suggestion.account_ref, o.saved) for o in outcomes] == [
        ("A-1", True),
        ("A-1", False),
        ("A-2", False),
        ("A-3", False),
        ("A-4", False),
        ("A-2", False),
        ("A-2", True),
    ]
    notes = [o.note for o in outcomes]
    assert notes[1] == notes[4] == "already mapped; kept"
    assert notes[2].startswith("refused: Halo client 101 (ACME WIDGETS LIMITED) is already mapped")
    assert "'A-1'" in notes[2]
    assert "'A-4'" in notes[3]
    assert notes[5].startswith("refused: Halo client 104 (Northwind Traders) no longer exists")
    with database.session() as session:
        rows = {r.account_ref: r.halo_client_id for r in account_mapping_grid(session, ws).items}
    assert rows == {"A-1": 101, "A-2": 102, "A-3": None, "A-4": 103}


def test_accepting_an_unknown_reference_saves_nothing(database: Database) -> None:
    ws = _workspace(database)
    for bad, message in ((_suggestion("NOPE", 101), "'NOPE'"), (_suggestion("A-2", 999), "999")):
        with pytest.raises(NotFoundError, match=message), database.session() as session:
            accept_suggestions(session, ws, [_suggestion("A-1", 101), bad])
        with database.session() as session:
            assert mapping_counts(session, ws).accounts_mapped == 0


def test_accepting_for_invoice_line_picks_the_only_invoice_and_names_the_rest(
    database: Database,
) -> None:
    ws = _workspace(database, "invoice_line")
    batch = [_suggestion("A-1", 101), _suggestion("A-2", 102), _suggestion("A-3", 103)]
    with database.session() as session:
        outcomes = accept_suggestions(session, ws, batch)
    assert [(o.saved, o.recurring_invoice_id) for o in outcomes] == [
        (True, -5),
        (False, None),
        (False, None),
    ]
    assert outcomes[1].note.startswith("required: Halo client 102 (Bright Dental) has 2 ")
    assert outcomes[2].note.startswith("required: Required: Halo client 103")
    with database.session() as session:
        (row,) = account_mapping_grid(session, ws, status="mapped").items
    assert (row.account_ref, row.recurring_invoice_id) == ("A-1", -5)


def test_accepting_never_saves_a_tie_at_the_top(database: Database) -> None:
    """'Delta Ltd' (201) and 'delta  ltd ' (202) both score 100 for account A-5: accepting
    saves the other suggestions, not this one, and says it is a tie to settle by hand."""
    ws = _workspace(database)
    import_document(
        database,
        ws,
        {
            "accounts": [{"ref": "A-5", "name": "Delta Ltd", "status": "active", "billed": True}],
            "services": [],
            "subscriptions": [],
        },
    )
    with database.session() as session:
        session.add(HaloClient(workspace_id=ws, halo_id=201, name="Delta Ltd", inactive=False))
        session.add(HaloClient(workspace_id=ws, halo_id=202, name="delta  ltd ", inactive=False))
    with database.session() as session:
        suggestions = suggest_account_mappings(session, ws)
    with database.session() as session:
        outcomes = {
            o.suggestion.account_ref: o for o in accept_suggestions(session, ws, suggestions)
        }
    tie = outcomes["A-5"]
    assert not tie.saved
    assert "tie" in tie.note
    assert "201" in tie.note
    assert "202" in tie.note
    assert "halosync map account A-5" in tie.note
    assert outcomes["A-1"].saved
    with database.session() as session:
        rows = {r.account_ref: r.halo_client_id for r in account_mapping_grid(session, ws).items}
    assert rows.get("A-5") is None


def test_saving_chosen_mappings_applies_every_rule_of_a_single_map(database: Database) -> None:
    """The ticked rows of Suggest Mappings' page, saved as they read: the same rules as
    accepting suggestions, and a client the workspace does not know is refused in its row
    (a person typed it), not the whole batch."""
    ws = _workspace(database)
    with database.session() as session:
        map_account(session, ws, "A-4", 103)
        session.execute(
            update(HaloClient)
            .where(HaloClient.workspace_id == ws, HaloClient.halo_id == 104)
            .values(gone=True)
        )
    chosen = [
        ChosenMapping("A-1", 101),
        ChosenMapping("A-1", 102),  # the account was saved a moment ago in this batch
        ChosenMapping("A-2", 101),  # the client was taken a moment ago in this batch
        ChosenMapping("A-3", 103),  # the client was mapped before, to A-4
        ChosenMapping("A-4", 102),  # the account was mapped before
        ChosenMapping("A-2", 104),  # the client is gone from Halo
        ChosenMapping("A-3", 999),  # no such client
        ChosenMapping("A-2", 102),
    ]
    with database.session() as session:
        outcomes = save_chosen_mappings(session, ws, chosen)
    assert [o.saved for o in outcomes] == [True, False, False, False, False, False, False, True]
    assert outcomes[0].account_name == "Acme Widgets Ltd"
    notes = [o.note_for("ui") for o in outcomes]
    assert notes[1] == notes[4] == "already mapped; kept"
    assert notes[2].startswith("Halo client 101 (ACME WIDGETS LIMITED) is already mapped")
    assert "'A-4'" in notes[3]
    assert notes[5].startswith("Halo client 104 (Northwind Traders) no longer exists")
    assert notes[6].startswith("Halo client 999 is not known to this workspace.")
    assert "Run Sync Organizations" in notes[6]
    with database.session() as session:
        rows = {r.account_ref: r.halo_client_id for r in account_mapping_grid(session, ws).items}
    assert rows == {"A-1": 101, "A-2": 102, "A-3": None, "A-4": 103}


def test_saving_chosen_mappings_with_an_unknown_account_saves_nothing(database: Database) -> None:
    ws = _workspace(database)
    with pytest.raises(NotFoundError, match="'NOPE'"), database.session() as session:
        save_chosen_mappings(session, ws, [ChosenMapping("A-1", 101), ChosenMapping("NOPE", 102)])
    with database.session() as session:
        assert mapping_counts(session, ws).accounts_mapped == 0


class _RolledBack(Exception):
    """Raised to leave a session without committing."""


@pytest.fixture(scope="module")
def two_targets(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Database, dict[str, int]]]:
    """One database with a workspace of each target, for every example of a property
    (each example rolls its writes back)."""
    db = migrated(Database(f"sqlite:///{tmp_path_factory.mktemp('targets') / 'h.db'}"))
    yield db, {target: _workspace(db, target) for target in ("licence", "invoice_line")}
    db.dispose()


@settings(max_examples=30, deadline=None)
@given(
    chosen=st.lists(
        st.tuples(
            st.sampled_from([ref for ref, _ in ACCOUNTS]),
            st.sampled_from([client_id for client_id, _, _ in HALO_CLIENTS]),
        ),
        max_size=6,
    ),
    target=st.sampled_from(["licence", "invoice_line"]),
)
def test_a_batch_of_chosen_mappings_saves_what_map_account_one_at_a_time_would(
    two_targets: tuple[Database, dict[str, int]], chosen: list[tuple[str, int]], target: str
) -> None:
    """Whatever the rows, the batch (one INSERT) says and saves what mapping each row in
    turn by map_account (an account mapped already kept as it is) says and saves."""
    database, workspaces = two_targets
    ws = workspaces[target]

    def in_one_batch(session: Session) -> tuple[list[bool], dict[str, tuple[int, int | None]]]:
        outcomes = save_chosen_mappings(session, ws, [ChosenMapping(r, c) for r, c in chosen])
        return [o.saved for o in outcomes], _mappings_of(session, ws)

    def one_at_a_time(session: Session) -> tuple[list[bool], dict[str, tuple[int, int | None]]]:
        saved: list[bool] = []
        for ref, client_id in chosen:
            if ref in _mappings_of(session, ws):
                saved.append(False)
                continue
            try:
                map_account(session, ws, ref, client_id)
            except ValidationFailedError:
                saved.append(False)
            else:
                saved.append(True)
        return saved, _mappings_of(session, ws)

    assert _rolled_back(database, in_one_batch) == _rolled_back(database, one_at_a_time)


def _rolled_back(database: Database, work: Callable[[Session], T]) -> T:
    """What ``work`` answers in a session whose writes are then rolled back."""
    answers: list[T] = []
    try:
        with database.session() as session:
            answers.append(work(session))
            raise _RolledBack
    except _RolledBack:
        return answers[0]


def _mappings_of(session: Session, workspace_id: int) -> dict[str, tuple[int, int | None]]:
    return {
        ref: (client_id, invoice_id)
        for ref, client_id, invoice_id in session.execute(
            select(Account.ref, AccountMapping.halo_client_id, AccountMapping.recurring_invoice_id)
            .join(Account, Account.id == AccountMapping.account_id)
            .where(AccountMapping.workspace_id == workspace_id)
        )
    }
