"""CSV and JSON import: validation first, one transaction, idempotent re-import, snapshots."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from halosync.sources.errors import ImportValidationError, MassCancelError
from halosync.sources.importer import import_document, import_file
from halosync.store.database import Database
from halosync.store.usage import AccountRepository, ServiceRepository, SubscriptionRepository
from halosync.store.workspaces import WorkspaceRepository
from halosync.sync.gather import load_inputs
from tests.sources.conftest import GOOD_CSV, HEADER


def _write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def _counts(db: Database, workspace_id: int) -> tuple[int, int, int]:
    with db.session() as session:
        return (
            AccountRepository(session, workspace_id).count(),
            ServiceRepository(session, workspace_id).count(),
            SubscriptionRepository(session, workspace_id).count(),
        )


def test_csv_import_creates_then_reimport_changes_nothing(
    database: Database, workspace_id: int, tmp_path: Path
) -> None:
    path = _write(tmp_path, "usage.csv", GOOD_CSV)
    first = import_file(database, workspace_id, path)
    assert first.as_dict()["accounts"] == {"created": 2, "updated": 0, "unchanged": 0}
    assert first.subscriptions.created == 3
    with database.session() as session:
        subs = SubscriptionRepository(session, workspace_id).all()
        first_stamp = {s.id: s.updated_at for s in subs}
        acme_email = next(s for s in subs if (s.account.ref, s.service.ref) == ("A1", "S1"))
        assert acme_email.quantity == 10
        assert acme_email.cost_price == Decimal("50.0000")
        assert acme_email.status == "active"
        beta = AccountRepository(session, workspace_id).get_by_ref("A2")
        assert beta is not None
        assert (beta.status, beta.billed) == ("trial", False)

    again = import_file(database, workspace_id, path)
    assert not again.changed
    assert again.subscriptions.unchanged == 3
    with database.session() as session:
        subs = SubscriptionRepository(session, workspace_id).all()
        assert {s.id: s.updated_at for s in subs} == first_stamp


def test_changed_row_updates_only_that_subscription(
    database: Database, workspace_id: int, tmp_path: Path
) -> None:
    import_file(database, workspace_id, _write(tmp_path, "a.csv", GOOD_CSV))
    changed = GOOD_CSV.replace("S2,Backup,3,", "S2,Backup,4,")
    report = import_file(database, workspace_id, _write(tmp_path, "b.csv", changed))
    counts = report.subscriptions
    assert (counts.created, counts.updated, counts.unchanged) == (0, 1, 2)


def test_a_file_with_one_bad_row_changes_nothing(
    database: Database, workspace_id: int, tmp_path: Path
) -> None:
    import_file(database, workspace_id, _write(tmp_path, "good.csv", GOOD_CSV))
    before = _counts(database, workspace_id)
    bad = (
        GOOD_CSV.replace("S2,Backup,3,", "S2,Backup Plus,3,")  # renames a service
        + "A9,New Co,active,true,S9,New,-1,2024-01-01,,monthly,12 months,,,\n"
    )
    with pytest.raises(ImportValidationError) as caught:
        import_file(database, workspace_id, _write(tmp_path, "bad.csv", bad))
    assert [str(e) for e in caught.value.errors] == [
        "line 5, column quantity: must be a number from 0 to 2147483647 with at most 4 decimal "
        'places, got "-1"'
    ]
    assert _counts(database, workspace_id) == before
    with database.session() as session:
        service = ServiceRepository(session, workspace_id).get_by_ref("S2")
        assert service is not None
        assert service.name == "Backup"


def test_csv_errors_name_line_and_column(
    workspace_id: int, database: Database, tmp_path: Path
) -> None:
    content = (
        f"{HEADER}\n"
        "A1,Acme,activ,true,S1,Mail,1,2024-01-01,,monthly,1y,,,\n"
        "A2,Beta,active,maybe,S1,Mail,1,2024-02-30,,monthly,1y,,12.34567,\n"
        '"A3","Multi\nline",active,true,S1,Mail,1,2024-01-01,2023-01-01,monthly,1y,,,\n'
        "A4,Four,active,true,S1,Mail,1\n"
    )
    with pytest.raises(ImportValidationError) as caught:
        import_file(database, workspace_id, _write(tmp_path, "e.csv", content))
    messages = [str(e) for e in caught.value.errors]
    assert messages[0].startswith("line 2, column account_status: must be one of active")
    assert messages[1] == 'line 3, column billed: must be true or false, got "maybe"'
    assert messages[2].startswith("line 3, column start_date: must be a date as YYYY-MM-DD")
    assert messages[3].startswith("line 3, column cost_price: must be a decimal amount")
    assert messages[4].startswith("line 4, column account_name: contains control characters")
    assert messages[5] == "line 6: has 7 cells but the header has 14 columns"
    assert len(messages) == 6
    assert _counts(database, workspace_id) == (0, 0, 0)


def test_header_problems_are_reported_once(
    database: Database, workspace_id: int, tmp_path: Path
) -> None:
    content = "account_ref,name,quantity,quantity\nA1,x,1,1\n"
    with pytest.raises(ImportValidationError) as caught:
        import_file(database, workspace_id, _write(tmp_path, "h.csv", content))
    (error,) = caught.value.errors
    assert error.location == "line 1 (header)"
    assert "duplicate column(s): quantity" in error.message
    assert "unknown column(s): name" in error.message
    assert "missing required column(s): account_name" in error.message


def test_contradicting_rows_are_errors(
    database: Database, workspace_id: int, tmp_path: Path
) -> None:
    content = (
        f"{HEADER}\n"
        "A1,Acme,active,true,S1,Mail,1,2024-01-01,,monthly,1y,,,\n"
        "A1,Acme Two,active,true,S2,Mail,1,2024-01-01,,monthly,1y,,,\n"
        "A2,Beta,active,true,S1,Mail,1,2024-01-01,,monthly,1y,,,\n"
        "A2,Beta,active,true,S1,Mail,2,2024-01-01,,monthly,1y,,,\n"
    )
    with pytest.raises(ImportValidationError) as caught:
        import_file(database, workspace_id, _write(tmp_path, "c.csv", content))
    assert [str(e) for e in caught.value.errors] == [
        "line 3, column account_name: account 'A1' has name 'Acme Two' here but 'Acme' at line 2",
        "line 5: a second, different subscription of account 'A2' to service 'S1' in term "
        "'1y' (the first is at line 4); one account × service may be sent once per term",
    ]


def test_bom_blank_lines_optional_columns_and_any_order(
    database: Database, workspace_id: int, tmp_path: Path
) -> None:
    content = (
        "\ufeffQuantity,service_ref,service_name,account_ref,account_name,account_status,"
        "billed,start_date,billing_cycle,term\n"
        "\n"
        "7,S1,Mail,A1,Acme,Active,YES,2024-01-01,monthly,1y\n"
    )
    report = import_file(database, workspace_id, _write(tmp_path, "o.csv", content))
    assert report.subscriptions.created == 1
    with database.session() as session:
        (sub,) = SubscriptionRepository(session, workspace_id).all()
        assert (sub.quantity, sub.end_date, sub.cost_price, sub.account.billed) == (
            Decimal(7),
            None,
            None,
            True,
        )


def test_snapshot_cancels_absent_subscriptions_and_reports_them(
    database: Database, workspace_id: int, tmp_path: Path
) -> None:
    import_file(database, workspace_id, _write(tmp_path, "full.csv", GOOD_CSV))
    partial = "\n".join(GOOD_CSV.splitlines()[:2]) + "\n"
    plain = import_file(database, workspace_id, _write(tmp_path, "p.csv", partial))
    assert plain.cancelled == []
    # Two of three is more than the default limit (50 %): the operator says so explicitly.
    with pytest.raises(MassCancelError, match="would cancel 2 of 3 subscriptions"):
        import_file(database, workspace_id, tmp_path / "p.csv", snapshot=True)
    report = import_file(
        database, workspace_id, tmp_path / "p.csv", snapshot=True, allow_mass_cancel=True
    )
    assert report.cancelled == [("A1", "S2", "12 months"), ("A2", "S1", "12 months")]
    assert report.as_dict()["cancelled"][0] == {
        "account_ref": "A1",
        "service_ref": "S2",
        "term": "12 months",
    }
    with database.session() as session:
        statuses = {
            (s.account.ref, s.service.ref): s.status
            for s in SubscriptionRepository(session, workspace_id).all()
        }
    assert statuses == {
        ("A1", "S1"): "active",
        ("A1", "S2"): "cancelled",
        ("A2", "S1"): "cancelled",
    }
    again = import_file(database, workspace_id, tmp_path / "p.csv", snapshot=True)
    assert again.cancelled == []
    assert not again.changed


@pytest.mark.parametrize("ended", ["Cancelled", " CANCELLED ", "canceled", "Terminated", "expired"])
def test_a_snapshot_does_not_cancel_what_the_vendor_already_ended_in_any_spelling(
    database: Database, workspace_id: int, tmp_path: Path, ended: str
) -> None:
    """The import's "still active?" is the planner's reading of the vendor's status text
    (domain.models.subscription_status): case, spaces and aliases included. A snapshot that
    leaves out a subscription the vendor ended is not cancelling anything."""
    rows = GOOD_CSV.splitlines()
    ended_rows = [
        rows[0],
        rows[1],
        *(row.replace(",12 months,,", f",12 months,{ended},") for row in rows[2:]),
    ]
    import_file(database, workspace_id, _write(tmp_path, "full.csv", "\n".join(ended_rows) + "\n"))
    partial = "\n".join(rows[:2]) + "\n"
    report = import_file(database, workspace_id, _write(tmp_path, "p.csv", partial), snapshot=True)
    assert report.cancelled == []


def test_json_import_errors_use_json_paths(
    database: Database, workspace_id: int, tmp_path: Path
) -> None:
    document = {
        "accounts": [{"ref": "A1", "name": "Acme", "status": "active", "billed": "yes"}],
        "services": [{"ref": "S1", "name": "Mail", "colour": "red"}],
        "subscriptions": [
            {
                "account_ref": "A1",
                "service_ref": "S1",
                "quantity": 2.50001,
                "start_date": "2024-01-01",
                "billing_cycle": "monthly",
            }
        ],
    }
    path = _write(tmp_path, "u.json", json.dumps(document))
    with pytest.raises(ImportValidationError) as caught:
        import_file(database, workspace_id, path)
    assert [str(e) for e in caught.value.errors] == [
        '$.accounts[0].billed: must be true or false, got "yes"',
        "$.services[0].colour: is not a known field",
        "$.subscriptions[0].quantity: must be a number from 0 to 2147483647 with at most 4 "
        "decimal places, got 2.50001",
        "$.subscriptions[0].term: is required",
    ]


@pytest.mark.parametrize(("typed", "named"), [("null", "null"), ("true", "true"), ("1e-5", "1e-5")])
def test_a_refused_json_value_is_named_in_json_words(
    database: Database, workspace_id: int, tmp_path: Path, typed: str, named: str
) -> None:
    subscription = {"account_ref": "A1", "service_ref": "S1", "quantity": "QUANTITY"}
    document = json.dumps({"subscriptions": [subscription]}).replace('"QUANTITY"', typed)
    path = _write(tmp_path, "u.json", document)
    with pytest.raises(ImportValidationError) as caught:
        import_file(database, workspace_id, path)
    assert (
        "$.subscriptions[0].quantity: must be a number from 0 to 2147483647 with at most 4 "
        f"decimal places, got {named}"
    ) in [str(e) for e in caught.value.errors]


def test_json_syntax_error_names_line_and_column(
    database: Database, workspace_id: int, tmp_path: Path
) -> None:
    path = _write(tmp_path, "broken.json", '{\n  "accounts": [,]\n}')
    with pytest.raises(ImportValidationError, match=r"line 2, column 16: invalid JSON"):
        import_file(database, workspace_id, path)


def test_json_subscriptions_may_reference_existing_accounts_but_not_unknown_ones(
    database: Database, workspace_id: int, tmp_path: Path
) -> None:
    import_file(database, workspace_id, _write(tmp_path, "u.csv", GOOD_CSV))
    subscription = {
        "account_ref": "A2",
        "service_ref": "S2",
        "quantity": 1,
        "start_date": "2024-03-01",
        "billing_cycle": "monthly",
        "term": "12 months",
        "cost_price": 1.25,
        "customer_price": "2.5",
    }
    report = import_document(database, workspace_id, {"subscriptions": [subscription]})
    assert report.subscriptions.created == 1
    unknown = dict(subscription, account_ref="NOPE")
    with pytest.raises(ImportValidationError) as caught:
        import_document(database, workspace_id, {"subscriptions": [subscription, unknown]})
    assert [str(e) for e in caught.value.errors] == [
        "$.subscriptions[1].account_ref: no account 'NOPE' in this batch or in the workspace"
    ]


def test_top_level_must_be_an_object(database: Database, workspace_id: int) -> None:
    with pytest.raises(ImportValidationError, match=r"\$: must be an object"):
        import_document(database, workspace_id, [1, 2])


def test_unknown_file_type_and_missing_file(
    database: Database, workspace_id: int, tmp_path: Path
) -> None:
    with pytest.raises(Exception, match="unknown file type"):
        import_file(database, workspace_id, _write(tmp_path, "u.txt", "x"))
    with pytest.raises(Exception, match="no such file"):
        import_file(database, workspace_id, tmp_path / "missing.csv")


def test_workspaces_do_not_see_each_other(database: Database, tmp_path: Path) -> None:
    from halosync.store.workspaces import WorkspaceRepository

    with database.session() as session:
        first = WorkspaceRepository(session).create("one").id
        second = WorkspaceRepository(session).create("two").id
    import_file(database, first, _write(tmp_path, "u.csv", GOOD_CSV))
    assert _counts(database, second) == (0, 0, 0)
    report = import_file(database, second, tmp_path / "u.csv")
    assert report.accounts.created == 2


def test_end_date_before_start_date_is_named(
    database: Database, workspace_id: int, tmp_path: Path
) -> None:
    content = f"{HEADER}\nA1,Acme,active,true,S1,Mail,1,2024-01-01,2023-01-01,monthly,1y,,,\n"
    with pytest.raises(ImportValidationError) as caught:
        import_file(database, workspace_id, _write(tmp_path, "d.csv", content))
    assert [str(e) for e in caught.value.errors] == [
        "line 2, column end_date: end_date 2023-01-01 is before start_date 2024-01-01"
    ]


TERMS_CSV = f"""{HEADER}
A1,Acme Ltd,active,true,S1,Email Security,10,2024-01-01,,monthly,monthly,active,50.00,80.00
A1,Acme Ltd,active,true,S1,Email Security,5,2024-03-01,,annual,annual,active,200.00,300.00
"""


def _terms(
    db: Database, workspace_id: int
) -> dict[tuple[str, str, str], tuple[Decimal | int, str | None]]:
    with db.session() as session:
        return {
            (s.account.ref, s.service.ref, s.term): (s.quantity, s.status)
            for s in SubscriptionRepository(session, workspace_id).all()
        }


def test_one_account_and_service_in_several_terms_are_kept_apart(
    database: Database, workspace_id: int, tmp_path: Path
) -> None:
    # Monthly and annual of one account × service: neither overwrites the other.
    path = _write(tmp_path, "terms.csv", TERMS_CSV)
    first = import_file(database, workspace_id, path)
    assert first.subscriptions.created == 2
    assert _terms(database, workspace_id) == {
        ("A1", "S1", "monthly"): (10, "active"),
        ("A1", "S1", "annual"): (5, "active"),
    }
    again = import_file(database, workspace_id, path)
    assert not again.changed
    assert again.subscriptions.unchanged == 2
    # A change of one term updates that term only.
    changed = TERMS_CSV.replace(",5,2024-03-01", ",6,2024-03-01")
    report = import_file(database, workspace_id, _write(tmp_path, "t2.csv", changed))
    assert (report.subscriptions.updated, report.subscriptions.unchanged) == (1, 1)
    assert _terms(database, workspace_id)[("A1", "S1", "annual")] == (6, "active")
    assert _terms(database, workspace_id)[("A1", "S1", "monthly")] == (10, "active")


def test_a_term_in_other_letter_case_is_the_same_term_and_keeps_its_first_text(
    database: Database, workspace_id: int, tmp_path: Path
) -> None:
    # "Annual" and "annual" are one term: never a second subscription billed beside it.
    import_file(database, workspace_id, _write(tmp_path, "terms.csv", TERMS_CSV))
    shouted = TERMS_CSV.replace(",annual,active", ",ANNUAL,active").replace(",5,", ",6,")
    report = import_file(database, workspace_id, _write(tmp_path, "t2.csv", shouted))
    assert (report.subscriptions.created, report.subscriptions.updated) == (0, 1)
    assert report.several_terms == 0
    assert _terms(database, workspace_id) == {
        ("A1", "S1", "monthly"): (10, "active"),
        ("A1", "S1", "annual"): (6, "active"),
    }
    # In one file, the same term in two cases is one subscription sent twice.
    twice = TERMS_CSV + TERMS_CSV.splitlines()[2].replace(",annual,active", ",Annual,active")
    again = import_file(database, workspace_id, _write(tmp_path, "t3.csv", twice + "\n"))
    assert (again.subscriptions.created, again.subscriptions.updated) == (0, 1)
    assert len(_terms(database, workspace_id)) == 2


def test_a_delta_import_with_a_new_term_says_the_pair_now_has_several(
    database: Database, workspace_id: int, tmp_path: Path
) -> None:
    monthly, annual = TERMS_CSV.splitlines()[1:3]
    import_file(database, workspace_id, _write(tmp_path, "m.csv", f"{HEADER}\n{monthly}\n"))
    report = import_file(database, workspace_id, _write(tmp_path, "a.csv", f"{HEADER}\n{annual}\n"))
    assert report.subscriptions.created == 1
    assert report.several_terms == 1
    assert report.as_dict()["several_terms"] == 1
    # Both terms in one import of a new pair: the vendor sent them together, nothing to say.
    both = TERMS_CSV.replace("A1,", "A2,")
    assert import_file(database, workspace_id, _write(tmp_path, "b.csv", both)).several_terms == 0


def test_a_snapshot_without_one_term_cancels_that_term_only(
    database: Database, workspace_id: int, tmp_path: Path
) -> None:
    import_file(database, workspace_id, _write(tmp_path, "terms.csv", TERMS_CSV))
    monthly = "\n".join(TERMS_CSV.splitlines()[:2]) + "\n"
    report = import_file(
        database,
        workspace_id,
        _write(tmp_path, "m.csv", monthly),
        snapshot=True,
        allow_mass_cancel=True,
    )
    assert report.cancelled == [("A1", "S1", "annual")]
    assert report.as_dict()["cancelled"] == [
        {"account_ref": "A1", "service_ref": "S1", "term": "annual"}
    ]
    assert _terms(database, workspace_id) == {
        ("A1", "S1", "monthly"): (10, "active"),
        ("A1", "S1", "annual"): (5, "cancelled"),
    }


def _unlisted(db: Database, workspace_id: int) -> dict[str, bool]:
    with db.session() as session:
        return {s.term: s.unlisted for s in SubscriptionRepository(session, workspace_id).all()}


def test_a_term_a_snapshot_left_out_is_marked_no_longer_sent_until_listed_again(
    database: Database, workspace_id: int, tmp_path: Path
) -> None:
    """The vendor did not cancel a term a snapshot leaves out: it no longer sends it, and
    the sync says so. Sent again (even as cancelled, with the same values), it is not."""
    import_file(database, workspace_id, _write(tmp_path, "terms.csv", TERMS_CSV))
    assert _unlisted(database, workspace_id) == {"monthly": False, "annual": False}
    monthly = "\n".join(TERMS_CSV.splitlines()[:2]) + "\n"
    import_file(
        database,
        workspace_id,
        _write(tmp_path, "m.csv", monthly),
        snapshot=True,
        allow_mass_cancel=True,
    )
    assert _unlisted(database, workspace_id) == {"monthly": False, "annual": True}
    with database.session() as session:
        workspace = WorkspaceRepository(session).get(workspace_id)
        subs = {s.term: s for s in load_inputs(session, workspace, None).subscriptions}
    assert (
        subs["annual"].ended_reason
        == "term annual no longer sent by the vendor (not in the snapshot)"
    )
    assert subs["monthly"].ended_reason is None
    # Listed again as the snapshot left it (cancelled): the vendor sends it, cancelled.
    cancelled = TERMS_CSV.replace(",annual,annual,active,", ",annual,annual,cancelled,")
    report = import_file(database, workspace_id, _write(tmp_path, "c.csv", cancelled))
    assert (report.subscriptions.updated, report.subscriptions.unchanged) == (1, 1)
    assert _unlisted(database, workspace_id) == {"monthly": False, "annual": False}
    assert _terms(database, workspace_id)[("A1", "S1", "annual")] == (5, "cancelled")


def test_the_same_term_twice_with_other_values_is_refused_naming_both_rows(
    database: Database, workspace_id: int, tmp_path: Path
) -> None:
    content = TERMS_CSV + (
        "A1,Acme Ltd,active,true,S1,Email Security,7,2024-03-01,,annual,annual,active,,\n"
        # The very same row again is the same subscription, sent twice: not a problem.
        "A1,Acme Ltd,active,true,S1,Email Security,10,2024-01-01,,monthly,monthly,active,"
        "50.00,80.00\n"
    )
    with pytest.raises(ImportValidationError) as caught:
        import_file(database, workspace_id, _write(tmp_path, "dup.csv", content))
    assert [str(e) for e in caught.value.errors] == [
        "line 4: a second, different subscription of account 'A1' to service 'S1' in term "
        "'annual' (the first is at line 3); one account × service may be sent once per term",
    ]
    assert _counts(database, workspace_id) == (0, 0, 0)


def test_a_term_in_another_letter_case_beyond_ascii_is_the_same_term_in_one_file(
    database: Database, workspace_id: int, tmp_path: Path
) -> None:
    """ "Jährlich" and "JÄHRLICH" are one term (sources.batch.term_key): the second row is
    the same subscription again, refused when its values differ. (The spool compared terms
    by SQLite's NOCASE, which folds ASCII letters only, and took them for two.)"""
    row = "A1,Acme Ltd,active,true,S1,Email Security,{q},2024-01-01,,annual,{term},active,,\n"
    content = f"{HEADER}\n" + row.format(q=5, term="Jährlich") + row.format(q=7, term="JÄHRLICH")
    with pytest.raises(ImportValidationError) as caught:
        import_file(database, workspace_id, _write(tmp_path, "case.csv", content))
    assert [str(e) for e in caught.value.errors] == [
        "line 3: a second, different subscription of account 'A1' to service 'S1' in term "
        "'JÄHRLICH' (the first is at line 2); one account × service may be sent once per term",
    ]
    assert _counts(database, workspace_id) == (0, 0, 0)
