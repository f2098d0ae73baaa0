"""Suggest Mappings: match vendor account names to Halo client names, one to one.

Names are normalised (case, accents, punctuation, "&"/"and", legal suffixes such as Ltd,
Inc, LLC, GmbH, Pty Ltd) and looked up exactly first; the rest are scored with rapidfuzz
against clients that share a word start or end with them, which keeps 20,000 × 20,000
names to seconds. Saved mappings are never suggested over.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rapidfuzz import fuzz, process

DEFAULT_MIN_SCORE = 85

_LEGAL_SUFFIXES: tuple[tuple[str, ...], ...] = tuple(
    tuple(suffix.split())
    for suffix in sorted(
        {
            "ltd", "limited", "inc", "incorporated", "llc", "llp", "lp", "plc", "gmbh",
            "pty", "pty ltd", "pty limited", "proprietary limited", "co", "co ltd", "company",
            "corp", "corporation", "sa", "sas", "sarl", "srl", "spa", "bv", "nv", "ag", "kg",
            "gmbh co kg", "ab", "as", "asa", "oy", "aps", "sl", "pte", "pte ltd", "pvt",
            "pvt ltd", "private limited", "kk", "ltda", "pllc", "lc", "ulc",
        },
        key=lambda text: -len(text.split()),
    )
)  # fmt: skip
_DOTTED_INITIALS = re.compile(r"\b(?:[a-z]\.){2,}")
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")
_BLOCK_LIMIT = 400  # block keys shared by more clients than this carry no signal


@dataclass(frozen=True, slots=True)
class AccountName:
    """A vendor account to find a Halo client for."""

    account_ref: str
    name: str


@dataclass(frozen=True, slots=True)
class ClientName:
    """A Halo client that could be suggested (inactive ones never are)."""

    halo_client_id: int
    name: str
    active: bool = True


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A proposed account -> Halo client mapping with a 0–100 score."""

    account_ref: str
    halo_client_id: int
    score: int
    account_name: str
    halo_client_name: str
    exact: bool
    tied_with: tuple[int, ...] = ()
    """Other Halo clients that score as high for this account (a tie at its score: names
    differing only by case or spaces, say): it is then not ``exact``, and accepting the
    suggestions never saves it, since nothing says which client is the account's."""

    @property
    def tie(self) -> bool:
        """Another client scores as high: a person must choose."""
        return bool(self.tied_with)

    @property
    def tie_note(self) -> str:
        """What to say of a tie: "a tie: clients 13 and 14 both score 100 for 'Delta Ltd'"."""
        ids = [self.halo_client_id, *self.tied_with]
        named = ", ".join(str(i) for i in ids[:-1]) + f" and {ids[-1]}"
        return f"a tie: clients {named} score {self.score} alike for '{self.account_name}'"


def normalise_name(name: str) -> str:
    """Lower-case ASCII words without punctuation, "&" as "and", legal suffixes dropped."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = text.replace("&", " and ").replace("+", " and ")
    # "S.A." and "L.L.C." are single tokens, not letters to drop one by one.
    text = _DOTTED_INITIALS.sub(lambda m: m.group(0).replace(".", ""), text)
    tokens = _NOT_ALNUM.sub(" ", text).split()
    stripped = True
    while stripped:
        stripped = False
        for suffix in _LEGAL_SUFFIXES:
            if len(tokens) > len(suffix) and tuple(tokens[-len(suffix) :]) == suffix:
                tokens = tokens[: -len(suffix)]
                stripped = True
                break
        if len(tokens) > 1 and tokens[0] == "the":
            tokens = tokens[1:]
            stripped = True
    return " ".join(tokens)


def _block_keys(normalised: str) -> set[str]:
    keys = set()
    for token in normalised.split():
        keys.add("<" + token[:4])
        keys.add(">" + token[-4:])
    return keys


def suggest_mappings(
    accounts: Iterable[AccountName],
    halo_clients: Iterable[ClientName],
    already_mapped: Mapping[str, int],
    *,
    min_score: int = DEFAULT_MIN_SCORE,
) -> list[Suggestion]:
    """One suggestion per unmapped account at most, each Halo client used at most once.

    ``already_mapped`` maps account_ref -> Halo client id of saved mappings: those accounts
    get no suggestion and those clients are never offered. Best scores win; ties go to
    the lower account ref, then the lower client id. Sorted by account ref.
    """
    taken_clients = set(already_mapped.values())
    clients = [c for c in halo_clients if c.active and c.halo_client_id not in taken_clients]
    todo = [a for a in accounts if a.account_ref not in already_mapped]
    client_norm = [normalise_name(c.name) for c in clients]
    exact: defaultdict[str, list[int]] = defaultdict(list)
    compact: defaultdict[str, list[int]] = defaultdict(list)
    blocks: defaultdict[str, list[int]] = defaultdict(list)
    for index, norm in enumerate(client_norm):
        if not norm:
            continue
        exact[norm].append(index)
        compact[norm.replace(" ", "")].append(index)
        for key in _block_keys(norm):
            blocks[key].append(index)
    # (score, exact, account position, client position) for every acceptable pair.
    candidates: list[tuple[int, bool, int, int]] = []
    for position, account in enumerate(todo):
        norm = normalise_name(account.name)
        if not norm:
            continue
        hits = exact.get(norm) or compact.get(norm.replace(" ", ""))
        if hits:
            candidates.extend((100, True, position, index) for index in hits)
            continue
        pool: set[int] = set()
        keys = _block_keys(norm)
        for key in keys:
            members = blocks.get(key, [])
            if len(members) <= _BLOCK_LIMIT or len(keys) <= 2:
                pool.update(members)
        if not pool:
            continue
        ordered = sorted(pool)
        for _choice, score, offset in process.extract(
            norm,
            [client_norm[i] for i in ordered],
            scorer=fuzz.token_sort_ratio,
            score_cutoff=min_score,
            limit=5,
        ):
            candidates.append((min(99, int(score)), False, position, ordered[offset]))
    candidates.sort(key=lambda c: (-c[0], todo[c[2]].account_ref, clients[c[3]].halo_client_id))
    # Clients by (account, score): a suggestion whose score another client matches is a tie.
    scored: defaultdict[tuple[int, int], list[int]] = defaultdict(list)
    for score, _exact, position, index in candidates:
        scored[(position, score)].append(clients[index].halo_client_id)
    used_accounts: set[int] = set()
    used_clients: set[int] = set()
    suggestions: list[Suggestion] = []
    for score, is_exact, position, index in candidates:
        if score < min_score or position in used_accounts or index in used_clients:
            continue
        used_accounts.add(position)
        used_clients.add(index)
        account, client = todo[position], clients[index]
        tied = tuple(i for i in scored[(position, score)] if i != client.halo_client_id)
        suggestions.append(
            Suggestion(
                account_ref=account.account_ref,
                halo_client_id=client.halo_client_id,
                score=score,
                account_name=account.name,
                halo_client_name=client.name,
                exact=is_exact and not tied,
                tied_with=tied,
            )
        )
    return sorted(suggestions, key=lambda s: s.account_ref)
