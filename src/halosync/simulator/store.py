"""The in-memory Halo database: upsert, delete, list queries and rendering of records.

Rows are stored sparse (only the fields that were set); a read merges them over the
entity's defaults and fills derived fields (``client_name``, line totals...). Writes
validate a whole batch on a staged copy and commit it at once, so a bad element leaves
nothing half-applied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from halosync.simulator.entities import (
    CLIENT,
    CLIENT_CONTRACT,
    ENTITIES,
    INVOICE,
    ITEM,
    LINE_DEFAULTS,
    QUANTITY_LINK_DEFAULTS,
    RECURRING_INVOICE,
    SCHEMA_FIELDS,
    SITE,
    SOFTWARE_LICENCE,
    EntityKind,
)
from halosync.simulator.fieldtypes import ValidationProblem, coerce_fields, coerce_value

Row = dict[str, Any]
Table = dict[int, Row]

_LINE_FIELDS = SCHEMA_FIELDS["InvoiceDetail"]
_QUANTITY_FIELDS = SCHEMA_FIELDS["InvoiceDetailQuantity"]
_QUANTITY_ARRAYS = (
    "quantity_licences",
    "quantity_subscriptions",
    "quantity_users",
    "quantity_assets",
)
_QUERY_CACHE_SIZE = 64


def _truthy(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in ("true", "1", "yes")


def _int_param(params: Mapping[str, str], name: str, errors: dict[str, list[str]]) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        errors.setdefault(name, []).append(f"The value '{raw}' is not valid.")
        return None


class Staging:
    """A copy-on-write view of the store for one write batch."""

    def __init__(self, store: HaloStore) -> None:
        self._store = store
        self.tables: dict[str, Table] = {}
        self.counters = dict(store.counters)

    def read(self, table: str) -> Table:
        """The table as this batch sees it."""
        return self.tables.get(table, self._store.tables[table])

    def write(self, table: str) -> Table:
        """The table, copied on first write."""
        if table not in self.tables:
            self.tables[table] = dict(self._store.tables[table])
        return self.tables[table]

    def next_id(self, counter: str, negative: bool = False) -> int:
        """Allocate an id (recurring invoices count down from -1, like Halo)."""
        value = self.counters[counter]
        self.counters[counter] = value - 1 if negative else value + 1
        return value


class HaloStore:
    """Every table, the id counters, and a version that invalidates cached list queries."""

    def __init__(self) -> None:
        self.tables: dict[str, Table] = {kind.table: {} for kind in ENTITIES}
        self.counters: dict[str, int] = {kind.table: 1 for kind in ENTITIES}
        self.counters[RECURRING_INVOICE.table] = -1
        self.counters["lines"] = 1
        self.counters["quantity_links"] = 1
        self.version = 0
        self._query_cache: dict[tuple[Any, ...], list[int]] = {}
        self._index_cache: dict[tuple[str, str, int], dict[int, list[int]]] = {}

    # -- transactions -------------------------------------------------------------------

    def stage(self) -> Staging:
        """Start a write batch."""
        return Staging(self)

    def commit(self, staging: Staging) -> None:
        """Make a validated batch visible."""
        self.tables.update(staging.tables)
        self.counters = staging.counters
        self.version += 1
        self._query_cache.clear()

    # -- writes -------------------------------------------------------------------------

    def upsert(
        self,
        kind: EntityKind,
        elements: list[Any],
        now: str,
        *,
        path: str = "",
        staging: Staging | None = None,
    ) -> list[int]:
        """Create or update records from a POST body; return their ids in order.

        An element without ``id`` (or with 0) is created; one whose ``id`` exists is
        merged into the stored record (omitted fields kept). With ``staging`` given, the
        caller commits; otherwise this commits or raises :class:`ValidationProblem`.
        """
        own = staging is None
        batch = staging if staging is not None else self.stage()
        errors: dict[str, list[str]] = {}
        ids: list[int] = []
        for index, element in enumerate(elements):
            where = f"{path}[{index}]"
            if not isinstance(element, dict):
                errors.setdefault(where, []).append(f"expected a {kind.name} object")
                continue
            record_id = self._upsert_one(batch, kind, element, now, where, errors)
            if record_id is not None:
                ids.append(record_id)
        if errors:
            raise ValidationProblem(errors)
        if own:
            self.commit(batch)
        return ids

    def _upsert_one(
        self,
        batch: Staging,
        kind: EntityKind,
        element: Mapping[str, Any],
        now: str,
        where: str,
        errors: dict[str, list[str]],
        *,
        seeding: bool = False,
    ) -> int | None:
        error_count = sum(len(v) for v in errors.values())
        raw_id = element.get("id")
        record_id: int | None = None
        if raw_id is not None:
            converted, problem = coerce_value("integer", raw_id)
            if problem is not None:
                errors.setdefault(f"{where}.id", []).append(problem)
                return None
            record_id = converted or None
        clean = coerce_fields(
            kind.fields, element, where, errors, skip=frozenset({"id", "lines", "add_lines"})
        )
        table = batch.read(kind.table)
        existing = table.get(record_id) if record_id is not None else None
        if seeding and record_id is not None and existing is None:
            if (record_id < 0) != kind.negative_ids:
                sign = "negative" if kind.negative_ids else "positive"
                errors.setdefault(f"{where}.id", []).append(f"{kind.name} ids are {sign}.")
                return None
        elif record_id is not None and existing is None:
            errors.setdefault(f"{where}.id", []).append(
                f"There is no {kind.name} with id {record_id}; omit id (or send 0) to create one."
            )
            return None
        if existing is None:
            for required in kind.required_on_create:
                if clean.get(required) in (None, "", 0, 0.0):
                    errors.setdefault(f"{where}.{required}", []).append(
                        f"{required} is required to create a {kind.name}."
                    )
        for field_name, target in kind.references.items():
            value = clean.get(field_name, (existing or {}).get(field_name))
            if value is None:
                continue
            reference = int(value)
            if reference > 0 and reference not in batch.read(target):
                errors.setdefault(f"{where}.{field_name}", []).append(
                    f"{field_name} {reference} does not exist."
                )
        if sum(len(v) for v in errors.values()) > error_count:
            return None
        if existing is None:
            if record_id is None:
                record_id = batch.next_id(kind.table, negative=kind.negative_ids)
            else:
                counter = batch.counters[kind.table]
                batch.counters[kind.table] = (
                    min(counter, record_id - 1)
                    if kind.negative_ids
                    else max(counter, record_id + 1)
                )
            row: Row = {"id": record_id, **clean}
            self._on_create(kind, row, now)
        else:
            assert record_id is not None
            row = {**existing, **clean}
        self._on_write(kind, row, now)
        if kind.has_lines:
            lines = self._write_lines(batch, kind, row, element, where, errors, seeding=seeding)
            if lines is None:
                return None
            row["lines"] = lines
        batch.write(kind.table)[record_id] = row
        return record_id

    @staticmethod
    def _on_create(kind: EntityKind, row: Row, now: str) -> None:
        if kind is CLIENT or kind is ITEM or kind is SITE:
            row.setdefault("datecreated", now)
        elif kind.has_lines:
            row.setdefault("date_created", now)
            if kind is INVOICE:
                row.setdefault("invoice_date", now)
                row.setdefault("invoicenumber", str(row["id"]))
            else:
                row.setdefault("schedule_id", abs(row["id"]))
            row.setdefault("lines", [])

    @staticmethod
    def _on_write(kind: EntityKind, row: Row, now: str) -> None:
        if kind is CLIENT:
            row["alastupdate"] = now
        elif kind is ITEM:
            row["lastmodified"] = now
        elif kind.has_lines or kind is CLIENT_CONTRACT:
            row["last_modified"] = now

    def _write_lines(
        self,
        batch: Staging,
        kind: EntityKind,
        header: Row,
        element: Mapping[str, Any],
        where: str,
        errors: dict[str, list[str]],
        *,
        seeding: bool = False,
    ) -> list[Row] | None:
        """The header's new line set: ``lines`` replaces it, ``add_lines`` appends."""
        current: list[Row] = list(header.get("lines", []))
        before = sum(len(v) for v in errors.values())
        replace = element.get("lines")
        append = element.get("add_lines")
        for name, value in (("lines", replace), ("add_lines", append)):
            if value is not None and not isinstance(value, list):
                errors.setdefault(f"{where}.{name}", []).append(f"{name} must be an array of lines")
        if sum(len(v) for v in errors.values()) > before:
            return None
        by_id = {line["id"]: line for line in current}
        result: list[Row] = [] if replace is not None else current
        for name, incoming in (("lines", replace or []), ("add_lines", append or [])):
            for index, line_element in enumerate(incoming):
                line_where = f"{where}.{name}[{index}]"
                line = self._line(
                    batch, kind, header, by_id, line_element, line_where, errors, seeding=seeding
                )
                if line is None:
                    continue
                if name == "add_lines" and line["id"] in by_id:
                    result = [line if old["id"] == line["id"] else old for old in result]
                else:
                    result.append(line)
                by_id[line["id"]] = line
        if sum(len(v) for v in errors.values()) > before:
            return None
        next_sequence = 1
        for line in result:
            if "sequenceid" not in line:
                line["sequenceid"] = next_sequence
            next_sequence = max(next_sequence, int(line["sequenceid"]) + 1)
        if result:
            header["contains_calculated_quantity"] = any(
                line.get("recurring_invoice_quantity_type", 0) != 0 for line in result
            )
        return result

    def _line(
        self,
        batch: Staging,
        kind: EntityKind,
        header: Row,
        existing_lines: Mapping[int, Row],
        element: Any,
        where: str,
        errors: dict[str, list[str]],
        *,
        seeding: bool = False,
    ) -> Row | None:
        if not isinstance(element, dict):
            errors.setdefault(where, []).append("expected an invoice line object")
            return None
        before = sum(len(v) for v in errors.values())
        clean = coerce_fields(
            _LINE_FIELDS, element, where, errors, skip=frozenset({"id", "ihid", *_QUANTITY_ARRAYS})
        )
        line_id, problem = coerce_value("integer", element.get("id") or 0)
        if problem is not None:
            errors.setdefault(f"{where}.id", []).append(problem)
            return None
        old = existing_lines.get(line_id) if line_id else None
        if line_id and old is None and not seeding:
            errors.setdefault(f"{where}.id", []).append(
                f"Line {line_id} is not on {kind.name} {header['id']}; omit id to add a line."
            )
            return None
        item_id = clean.get("_itemid")
        item = batch.read(ITEM.table).get(item_id) if item_id and item_id > 0 else None
        if item_id is not None and item_id > 0 and item is None:
            errors.setdefault(f"{where}._itemid", []).append(f"_itemid {item_id} does not exist.")
        links: dict[str, list[Row]] = {}
        for array in _QUANTITY_ARRAYS:
            if array in element and element[array] is not None:
                links[array] = self._quantity_links(
                    batch, element[array], f"{where}.{array}", errors
                )
        if sum(len(v) for v in errors.values()) > before:
            return None
        if old is None:
            if line_id:
                batch.counters["lines"] = max(batch.counters["lines"], line_id + 1)
            else:
                line_id = batch.next_id("lines")
            line: Row = {"id": line_id, **clean}
            if item is not None:
                recurring = kind is RECURRING_INVOICE and item.get("isrecurringitem")
                price = item.get("recurringprice" if recurring else "baseprice", 0.0)
                cost = item.get("recurringcost" if recurring else "costprice", 0.0)
                line.setdefault("item_shortdescription", item.get("name", ""))
                line.setdefault(
                    "item_longdescription", item.get("description") or item.get("name", "")
                )
                line.setdefault("nominal_code", item.get("nominalcode", ""))
                line.setdefault("unit_price", price)
                line.setdefault("unit_cost", cost)
                line.setdefault("item_internal_reference", item.get("internalreference", ""))
                line.setdefault("item_external_reference", item.get("externalreference", ""))
        else:
            line = {**old, **clean}
        line["ihid"] = header["id"]
        line["original_client_id"] = header.get("client_id", 0)
        for array, rows in links.items():
            for link in rows:
                link["invoice_line_id"] = line["id"]
            line[array] = rows
        return line

    def _quantity_links(
        self, batch: Staging, value: Any, where: str, errors: dict[str, list[str]]
    ) -> list[Row]:
        if not isinstance(value, list):
            errors.setdefault(where, []).append("expected an array")
            return []
        rows: list[Row] = []
        for index, element in enumerate(value):
            item_where = f"{where}[{index}]"
            if not isinstance(element, dict):
                errors.setdefault(item_where, []).append("expected an object")
                continue
            clean = coerce_fields(
                _QUANTITY_FIELDS, element, item_where, errors, skip=frozenset({"id"})
            )
            licence_id = clean.get("licence_id", 0)
            if licence_id > 0 and licence_id not in batch.read(SOFTWARE_LICENCE.table):
                errors.setdefault(f"{item_where}.licence_id", []).append(
                    f"licence_id {licence_id} does not exist."
                )
            link_id = element.get("id")
            if not isinstance(link_id, int) or isinstance(link_id, bool) or link_id <= 0:
                link_id = batch.next_id("quantity_links")
            rows.append({"id": link_id, **clean})
        return rows

    def upsert_lines(
        self, kind: EntityKind, elements: list[Any], now: str
    ) -> list[tuple[int, int]]:
        """``POST /<Invoice>/updatelines``: lines naming their header by ``ihid``.

        Returns ``(header id, line id)`` pairs in order.
        """
        batch = self.stage()
        errors: dict[str, list[str]] = {}
        results: list[tuple[int, int]] = []
        headers = batch.read(kind.table)
        owner_of_line = {
            line["id"]: header_id
            for header_id, header in headers.items()
            for line in header.get("lines", [])
        }
        for index, element in enumerate(elements):
            where = f"[{index}]"
            if not isinstance(element, dict):
                errors.setdefault(where, []).append("expected an invoice line object")
                continue
            header_id, problem = coerce_value("integer", element.get("ihid") or 0)
            line_id, id_problem = coerce_value("integer", element.get("id") or 0)
            if problem or id_problem:
                errors.setdefault(where, []).append(problem or id_problem or "")
                continue
            if not header_id and line_id:
                header_id = owner_of_line.get(line_id, 0)
            header = batch.read(kind.table).get(header_id)
            if header is None:
                errors.setdefault(f"{where}.ihid", []).append(
                    f"ihid must name an existing {kind.name} (got {header_id})."
                )
                continue
            before = {line["id"] for line in header.get("lines", [])}
            self._upsert_one(
                batch, kind, {"id": header_id, "add_lines": [element]}, now, where, errors
            )
            updated = batch.read(kind.table)[header_id]
            if line_id:
                results.append((header_id, line_id))
            else:
                added = [line["id"] for line in updated["lines"] if line["id"] not in before]
                results.append((header_id, added[-1] if added else 0))
        if errors:
            raise ValidationProblem(errors)
        self.commit(batch)
        return results

    def delete(self, kind: EntityKind, record_id: int) -> bool:
        """Remove one record; say whether it existed."""
        if record_id not in self.tables[kind.table]:
            return False
        batch = self.stage()
        del batch.write(kind.table)[record_id]
        self.commit(batch)
        return True

    def seed(self, document: Mapping[str, Any], now: str) -> dict[str, int]:
        """Apply a seed document (see ``docs/simulator.md``) atomically; counts per key."""
        known = {kind.seed_key: kind for kind in ENTITIES}
        unknown = [key for key in document if key not in known]
        if unknown:
            raise ValidationProblem(
                {key: [f"unknown seed key; expected one of {', '.join(known)}"] for key in unknown}
            )
        batch = self.stage()
        counts: dict[str, int] = {}
        for kind in ENTITIES:
            elements = document.get(kind.seed_key)
            if elements is None:
                continue
            if not isinstance(elements, list):
                raise ValidationProblem({kind.seed_key: ["expected an array of records"]})
            self._seed_kind(batch, kind, elements, now)
            counts[kind.seed_key] = len(elements)
        self.commit(batch)
        return counts

    def _seed_kind(self, batch: Staging, kind: EntityKind, elements: list[Any], now: str) -> None:
        """Seeded records keep the ids they bring (Halo-style negative ones included)."""
        errors: dict[str, list[str]] = {}
        for index, element in enumerate(elements):
            where = f"{kind.seed_key}[{index}]"
            if not isinstance(element, dict):
                errors.setdefault(where, []).append(f"expected a {kind.name} object")
                continue
            self._upsert_one(batch, kind, element, now, where, errors, seeding=True)
        if errors:
            raise ValidationProblem(errors)

    # -- reads --------------------------------------------------------------------------

    def get_row(self, kind: EntityKind, record_id: int) -> Row | None:
        """The stored (sparse) row."""
        return self.tables[kind.table].get(record_id)

    def query_ids(
        self, kind: EntityKind, params: Mapping[str, str], errors: dict[str, list[str]]
    ) -> list[int]:
        """Ids matching a list request's filters, in Halo's order; cached per store version."""
        relevant = tuple(
            sorted(
                (key, value)
                for key, value in params.items()
                if key not in ("page_no", "page_size", "pageinate", "count", "includelines")
            )
        )
        cache_key = (kind.name, self.version, relevant)
        cached = self._query_cache.get(cache_key)
        if cached is not None:
            return cached
        predicates = self._predicates(kind, params, errors)
        table = self.tables[kind.table]
        rows: Iterable[Row] = table.values()
        client_id = params.get("client_id", "")
        if kind is not CLIENT and client_id.strip().lstrip("-").isdigit():
            # Per-client reads are common (one per mapped client), so skip the full scan.
            rows = [table[record_id] for record_id in self._by_client(kind).get(int(client_id), [])]
        ids = [row["id"] for row in rows if all(check(row) for check in predicates)]
        order = params.get("order")
        if order:
            descending = _truthy(params.get("orderdesc"), False)
            ids.sort(
                key=lambda record_id: _sort_key(
                    self._value(kind, self.tables[kind.table][record_id], order)
                ),
                reverse=descending,
            )
        if len(self._query_cache) >= _QUERY_CACHE_SIZE:
            self._query_cache.clear()
        self._query_cache[cache_key] = ids
        return ids

    def _by_client(self, kind: EntityKind) -> dict[int, list[int]]:
        """Record ids per ``client_id``, rebuilt once per store version."""
        cache_key = ("by_client", kind.name, self.version)
        cached = self._index_cache.get(cache_key)
        if cached is None:
            cached = {}
            for row in self.tables[kind.table].values():
                cached.setdefault(int(row.get("client_id") or 0), []).append(row["id"])
            self._index_cache = {cache_key: cached} | {
                key: value for key, value in self._index_cache.items() if key[2] == self.version
            }
        return cached

    def _predicates(
        self, kind: EntityKind, params: Mapping[str, str], errors: dict[str, list[str]]
    ) -> list[Callable[[Row], bool]]:
        checks: list[Callable[[Row], bool]] = []
        active_check = self._active_predicate(kind, params)
        if active_check is not None:
            checks.append(active_check)
        client_id = _int_param(params, "client_id", errors)
        if client_id is not None and kind is not CLIENT:
            checks.append(lambda row: int(row.get("client_id") or 0) == client_id)
        if params.get("client_ids") and kind.has_lines:
            try:
                wanted = {int(part) for part in params["client_ids"].split(",") if part.strip()}
            except ValueError:
                errors.setdefault("client_ids", []).append("expected comma-separated integers")
                wanted = set()
            checks.append(lambda row: int(row.get("client_id") or 0) in wanted)
        site_id = _int_param(params, "site_id", errors)
        if site_id is not None:
            field = "sitenumber" if kind.has_lines else "site_id"
            checks.append(lambda row: int(row.get(field) or 0) == site_id)
        toplevel_id = _int_param(params, "toplevel_id", errors)
        if toplevel_id is not None and kind is CLIENT:
            checks.append(lambda row: row.get("toplevel_id", 1) == toplevel_id)
        licence_type = _int_param(params, "licence_type", errors)
        if licence_type is not None and kind is SOFTWARE_LICENCE:
            checks.append(
                lambda row: row.get("type", SOFTWARE_LICENCE.defaults["type"]) == licence_type
            )
        contract_id = _int_param(params, "contract_id", errors)
        if contract_id is not None and kind.has_lines:
            checks.append(lambda row: row.get("contract_id", 0) == contract_id)
        recurring_id = _int_param(params, "recurringinvoice_id", errors)
        if recurring_id is not None and kind is INVOICE:
            checks.append(lambda row: row.get("recurring_invoice_id", 0) == recurring_id)
        if kind is ITEM and _truthy(params.get("recurringonly"), False):
            checks.append(lambda row: bool(row.get("isrecurringitem")))
        if kind is ITEM and _truthy(params.get("excluderecurring"), False):
            checks.append(lambda row: not row.get("isrecurringitem"))
        search = (params.get("search") or "").strip().lower()
        if search:
            fields = kind.search_fields
            if kind is CLIENT and _truthy(params.get("search_name_only"), False):
                fields = ("name",)
            checks.append(
                lambda row: any(
                    search in str(self._value(kind, row, name)).lower() for name in fields
                )
            )
        return checks

    @staticmethod
    def _active_predicate(
        kind: EntityKind, params: Mapping[str, str]
    ) -> Callable[[Row], bool] | None:
        if kind.active_rule == "none":
            return None
        include_active = _truthy(params.get("includeactive"), True)
        include_inactive = _truthy(params.get("includeinactive"), False)
        combined = params.get("activeinactive")
        if combined and kind.active_rule in ("inactive", "status"):
            parts = [part.strip() for part in combined.split(",")]
            if len(parts) == 2:
                include_active = _truthy(parts[0], True)
                include_inactive = _truthy(parts[1], False)
        if kind.active_rule in ("is_active", "active"):
            include_active = True
        if include_active and include_inactive:
            return None
        rule = kind.active_rule

        def is_active(row: Row) -> bool:
            if rule == "inactive":
                return not row.get("inactive", False)
            if rule == "status":
                return int(row.get("status", 0)) == 0
            return bool(row.get(rule, True))

        if include_active:
            return is_active
        if include_inactive:
            return lambda row: not is_active(row)
        return lambda row: False

    def _value(self, kind: EntityKind, row: Row, name: str) -> Any:
        if name in row:
            return row[name]
        derived = self._derived(kind, row)
        if name in derived:
            return derived[name]
        return kind.defaults.get(name, "")

    # -- rendering ----------------------------------------------------------------------

    def _derived(self, kind: EntityKind, row: Row) -> dict[str, Any]:
        """Names Halo denormalises onto a record, read from the records they refer to."""
        derived: dict[str, Any] = {}
        clients = self.tables[CLIENT.table]
        sites = self.tables[SITE.table]
        if kind is CLIENT:
            derived["key"] = row["id"]
            site = sites.get(int(row.get("main_site_id", -1)))
            if site is not None:
                derived["main_site_name"] = site.get("name", "")
            derived.setdefault("trading_name", row.get("name", ""))
            return derived
        client = clients.get(int(row.get("client_id") or 0))
        client_name = client.get("name", "") if client is not None else row.get("client_name", "")
        derived["client_name"] = client_name
        if kind is SITE:
            derived["clientsite_name"] = f"{client_name}/{row.get('name', '')}"
        if kind is SOFTWARE_LICENCE or kind is CLIENT_CONTRACT:
            site = sites.get(int(row.get("site_id") or 0))
            derived["site_name"] = site.get("name", "") if site is not None else ""
        if kind is SOFTWARE_LICENCE:
            item = self.tables[ITEM.table].get(int(row.get("item_id") or 0))
            derived["item_name"] = item.get("name", "") if item is not None else ""
            derived["licence_client_name"] = client_name
        if kind.has_lines:
            derived["name"] = client_name
            derived["original_client_id"] = row.get("client_id", 0)
            derived["original_client_name"] = client_name
            contract = self.tables[CLIENT_CONTRACT.table].get(int(row.get("contract_id") or 0))
            if contract is not None:
                derived["contract_ref"] = contract.get("ref", "")
        return derived

    def render(
        self, kind: EntityKind, row: Row, *, full: bool = True, lines: bool | None = None
    ) -> Row:
        """A record as Halo returns it: full for a single GET, slim for a list row."""
        include_lines = full if lines is None else lines
        record: Row = dict(kind.defaults)
        record.update(row)
        record.update(self._derived(kind, row))
        if kind.has_lines:
            rendered_lines = [self._render_line(line) for line in row.get("lines", [])]
            self._totals(record, rendered_lines)
            record.pop("lines", None)
            if include_lines:
                record["lines"] = rendered_lines
            if full and kind is RECURRING_INVOICE:
                record["schedule"] = self._schedule(record)
            if full:
                client = self.tables[CLIENT.table].get(int(row.get("client_id") or 0))
                if client is not None:
                    record["client"] = self.render(CLIENT, client)
        if full:
            return record
        if kind.list_fields is None:
            # Invoice list rows: the header as a single GET has it, without the nested
            # client, schedule, custom fields and (unless asked for) lines.
            slim = {k: v for k, v in record.items() if not isinstance(v, dict | list)}
        else:
            slim = {name: record[name] for name in kind.list_fields if name in record}
        if kind.has_lines and include_lines:
            slim["lines"] = record["lines"]
        return slim

    def _render_line(self, line: Row) -> Row:
        record: Row = dict(LINE_DEFAULTS)
        record.update(line)
        licences = self.tables[SOFTWARE_LICENCE.table]
        for array in _QUANTITY_ARRAYS:
            links = []
            for link in line.get(array, []):
                rendered = dict(QUANTITY_LINK_DEFAULTS)
                rendered.update(link)
                licence = licences.get(int(link.get("licence_id") or 0))
                if licence is not None:
                    rendered["licence_name"] = licence.get("name", "")
                links.append(rendered)
            record[array] = links
        if record["recurring_invoice_quantity_type"] == 1 and record["quantity_licences"]:
            # Halo calculates these lines' quantity from the linked licences' counts.
            calculated = 0
            for link in record["quantity_licences"]:
                licence = licences.get(int(link.get("licence_id") or 0))
                if licence is None or not licence.get("is_active", True):
                    continue
                count = int(licence.get("count", 0)) - int(link.get("qty_free") or 0)
                calculated += max(count, int(link.get("minimum_qty") or 0))
            record["qty_order"] = float(calculated)
            record["_is_calculated_line"] = True
        quantity = float(record["qty_order"])
        price = float(record["unit_price"])
        discount = float(record.get("discount_perc") or 0.0)
        net = quantity * price * (1 - discount / 100)
        tax = net * float(record["tax_rate"]) / 100
        record["net_amount"] = net
        record["tax_amount"] = tax
        record["total_price"] = net
        record["net_total"] = net + tax
        record["total_tax"] = tax
        record["total_discount"] = quantity * price - net
        if "baseprice" not in line:
            record["baseprice"] = price
        return record

    @staticmethod
    def _totals(record: Row, lines: Iterable[Row]) -> None:
        net = tax = cost = 0.0
        for line in lines:
            if line.get("isinactive"):
                continue
            net += line["net_amount"]
            tax += line["tax_amount"]
            cost += float(line["qty_order"]) * float(line["unit_cost"])
        total = round(net + tax, 2)
        record["total"] = total
        record["tax_total"] = round(tax, 3)
        record["revenue"] = round(net - cost, 2)
        record["amountdue"] = round(total - float(record.get("amountpaid") or 0.0), 2)
        record["invoice_display"] = (
            f"ID {record['id']} - {record.get('reference', '')} ( {net:.2f})"
        )

    @staticmethod
    def _schedule(record: Row) -> Row:
        return {
            "id": record.get("schedule_id", 0),
            "name": f"(Untitled Template {record.get('schedule_id', 0)})",
            "type": 54,
            "disabled": bool(record.get("disabled", False)),
            "lastcreated": record.get("lastcreated"),
            "nextcreationdate": record.get("nextcreationdate"),
            "startdate": record.get("period_start_date"),
            "end_date": "2099-12-31T00:00:00",
            "period": record.get("period", 2),
            "scheduletype": 2,
            "time": "1901-01-01T00:00:00",
            "every": 0,
            "dom": 0,
        }


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool | int | float):
        return (0, value)
    return (1, str(value).lower())
