"""Can setup finish? One rule for the wizard's "Next" and Finish, the REST summary and the
dashboard.

Each step of Connect → Test → Account mapping → Service mapping has a rule; a step whose
rule does not hold names what to do. Setup may finish when every step's rule holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from halosync.connection.probe import SUCCESS
from halosync.errors import ValidationFailedError
from halosync.mapping.grid import MappingCounts, account_mapping_grid, mapping_counts
from halosync.store.base import utcnow
from halosync.store.connections import connection_test_state
from halosync.store.workspaces import WorkspaceRepository
from halosync.sync.activity import add_log_entry

SETUP_STEPS: tuple[str, ...] = ("connect", "test", "accounts", "services")
"""The steps that have a rule, in the wizard's order (the summary has none)."""

NO_CONNECTION = "Save the connection settings first."
NOT_TESTED = "Run Test Connection until it says \u201cTest is successful.\u201d"
NO_SERVICE = "Map at least one service to a Halo item."


def required_problem(required: int) -> str:
    """Mapped accounts without a recurring invoice (``invoice_line`` target only)."""
    return (
        f"{required} mapped account(s) have no recurring invoice (status Required): "
        "pick another client or create the invoice in HaloPSA and Sync Organizations."
    )


def response_error_problem(errors: int) -> str:
    """Mapped accounts whose Halo client halosync could not read."""
    return f"{errors} mapping(s) show Response Error: run Sync Organizations again."


@dataclass(frozen=True, slots=True)
class SetupProblem:
    """A step whose rule does not hold, and what to do about it."""

    step: str
    message: str


@dataclass(frozen=True, slots=True)
class SetupReadiness:
    """Every step's rule checked at once, with the totals the summary shows."""

    target: str
    counts: MappingCounts
    accounts_required: int
    accounts_response_error: int
    problems: tuple[SetupProblem, ...]

    @property
    def can_finish(self) -> bool:
        """True when every step's rule holds."""
        return not self.problems

    @property
    def blocking(self) -> list[str]:
        """What blocks finishing, in the wizard's order, each reason once."""
        return list(dict.fromkeys(problem.message for problem in self.problems))

    def problem_of(self, step: str) -> str | None:
        """Why ``step`` may not move on yet; None when its rule holds (or it has none)."""
        return next((p.message for p in self.problems if p.step == step), None)

    def first_problem(self) -> SetupProblem | None:
        """The earliest step that blocks finishing, if any."""
        return self.problems[0] if self.problems else None


def setup_readiness(session: Session, workspace_id: int) -> SetupReadiness:
    """Check every step's rule of the workspace's setup.

    Connect: a connection is saved. Test: its last test said "Test is successful.".
    Account mapping: no mapped account is Required (no recurring invoice, ``invoice_line``
    target) or shows Response Error (its Halo client was not seen by Sync Organizations).
    Service mapping: at least one service is mapped to a Halo item.
    """
    problems: list[SetupProblem] = []
    tested = connection_test_state(session, workspace_id)
    if tested is None:
        problems.append(SetupProblem("connect", NO_CONNECTION))
        problems.append(SetupProblem("test", NO_CONNECTION))
    elif tested.last_successful_test_at is None or tested.last_test_message != SUCCESS:
        problems.append(SetupProblem("test", NOT_TESTED))
    required = account_mapping_grid(session, workspace_id, status="required", page_size=1).total
    errors = account_mapping_grid(session, workspace_id, status="response_error", page_size=1).total
    if required:
        problems.append(SetupProblem("accounts", required_problem(required)))
    if errors:
        problems.append(SetupProblem("accounts", response_error_problem(errors)))
    counts = mapping_counts(session, workspace_id)
    if not counts.services_mapped:
        problems.append(SetupProblem("services", NO_SERVICE))
    return SetupReadiness(
        target=WorkspaceRepository(session).get(workspace_id).target,
        counts=counts,
        accounts_required=required,
        accounts_response_error=errors,
        problems=tuple(problems),
    )


class SetupNotReadyError(ValidationFailedError):
    """Finish was asked for while a step's rule does not hold."""

    def __init__(self, problem: SetupProblem) -> None:
        super().__init__(f"Setup cannot finish yet: {problem.message}")
        self.problem = problem


def finish_setup(session: Session, workspace_id: int) -> SetupReadiness:
    """Finish setup once every step's rule holds: automatic syncs start from now on.

    The first Finish is recorded (``workspace.setup_finished_at``) and logged; finishing
    again changes nothing. Refused with the first step that blocks, while one does.
    """
    readiness = setup_readiness(session, workspace_id)
    problem = readiness.first_problem()
    if problem is not None:
        raise SetupNotReadyError(problem)
    workspace = WorkspaceRepository(session).get(workspace_id)
    if workspace.setup_finished_at is None:
        workspace.setup_finished_at = utcnow()
        add_log_entry(
            session,
            workspace_id,
            "INFO",
            "Setup finished",
            "Automatic syncs start now, on the workspace's schedules.",
        )
    return readiness


def setup_finished(session: Session, workspace_id: int) -> bool:
    """Whether the workspace's setup was finished (its schedules run)."""
    return WorkspaceRepository(session).get(workspace_id).setup_finished_at is not None
