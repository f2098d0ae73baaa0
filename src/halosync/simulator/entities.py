"""The Halo entities the simulator serves: routes, scopes, list keys and record templates.

Field names and types come from Halo's published OpenAPI document (``halo_fields.json``
holds each schema's fields with their JSON type, ``date-time`` for ``format: date-time``
strings); the defaults mirror a real recurring-invoice response (sentinel dates
``1899-12-30T00:00:00`` and ``-1`` for "no reference").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import Any, Literal

EMPTY_DATE = "1899-12-30T00:00:00"
OPEN_END_DATE = "2099-12-31T00:00:00"

ActiveRule = Literal["inactive", "status", "is_active", "active", "none"]


def _load_schema_fields() -> dict[str, dict[str, str]]:
    text = resources.files("halosync.simulator").joinpath("halo_fields.json").read_text("utf-8")
    loaded: dict[str, dict[str, str]] = json.loads(text)
    return loaded


SCHEMA_FIELDS = _load_schema_fields()

# Fields real responses carry that the 2024 OpenAPI document does not list.
_EXTRA_FIELDS: dict[str, dict[str, str]] = {
    "Licence_List": {
        "item_id": "integer",
        "item_name": "string",
        "monthly_price": "number",
        "monthly_cost": "number",
    },
    "InvoiceHeader": {"type": "integer", "credit_total": "number", "csp_invoice_id": "integer"},
    "InvoiceDetail": {
        "autorenewperiod": "integer",
        "discount": "number",
        "conversion_rate": "number",
        "item_taxable": "boolean",
        "csp_invoice_id": "integer",
        "consumption_line_type": "integer",
        "consumption_markup": "number",
        "consumption_cost": "number",
    },
    "InvoiceDetailQuantity": {
        "use_linked_subscription_price": "boolean",
        "use_linked_subscription_cost": "boolean",
    },
    "Area": {"is_account": "boolean", "main_contact_email": "string", "key": "integer"},
}
for _schema, _fields in _EXTRA_FIELDS.items():
    SCHEMA_FIELDS[_schema].update(_fields)


def _frozen(values: dict[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(values)


CLIENT_DEFAULTS = _frozen(
    {
        "id": 0,
        "name": "",
        "toplevel_id": 1,
        "toplevel_name": "Clients",
        "inactive": False,
        "colour": "#2bd3c6",
        "use": "client",
        "key": 0,
        "table": 2,
        "ref": "",
        "accountsid": "",
        "trading_name": "",
        "customertype": 0,
        "is_vip": False,
        "is_account": False,
        "isopportunity": 0,
        "stopped": 0,
        "taxable": True,
        "main_site_id": -1,
        "main_site_name": "",
        "main_phonenumber": "",
        "main_contact_name": "",
        "default_currency_code": 1,
        "client_to_invoice": 0,
        "client_to_invoice_recurring": 0,
        "item_tax_code": 5,
        "service_tax_code": 5,
        "contract_tax_code": 5,
        "prepay_tax_code": 5,
        "accountsemailaddress": "",
        "billingtemplate_id": 0,
        "website": "",
        "domain": "",
        "notes": "",
        "dontinvoice": False,
        "needsinvoice": False,
        "datecreated": EMPTY_DATE,
        "alastupdate": EMPTY_DATE,
        "customfields": [],
        "external_links": [],
    }
)
CLIENT_LIST_FIELDS = (
    "id",
    "name",
    "toplevel_id",
    "toplevel_name",
    "inactive",
    "colour",
    "use",
    "key",
    "table",
    "ref",
    "accountsid",
    "customertype",
    "is_vip",
    "stopped",
    "taxable",
    "main_site_id",
    "main_site_name",
)

SITE_DEFAULTS = _frozen(
    {
        "id": 0,
        "name": "",
        "client_id": 0.0,
        "client_name": "",
        "clientsite_name": "",
        "inactive": False,
        "isinvoicesite": False,
        "sla_id": -1,
        "phonenumber": "",
        "colour": "",
        "timezone": "",
        "notes": "",
        "isstocklocation": False,
        "maincontact_name": "",
        "maincontact_id": -1,
        "delivery_address_line1": "",
        "delivery_address_line2": "",
        "delivery_address_line3": "",
        "delivery_address_line4": "",
        "delivery_address_line5": "",
        "datecreated": EMPTY_DATE,
        "use": "site",
        "customfields": [],
    }
)
SITE_LIST_FIELDS = (
    "id",
    "name",
    "client_id",
    "client_name",
    "clientsite_name",
    "inactive",
    "isinvoicesite",
    "phonenumber",
    "timezone",
    "use",
)

ITEM_DEFAULTS = _frozen(
    {
        "id": 0,
        "use": "item",
        "name": "",
        "status": 0,
        "description": "",
        "note": "",
        "assetgroup_id": 0,
        "assetgroup_name": "",
        "supplier_part_code": "",
        "internalreference": "",
        "externalreference": "",
        "accountsid": "",
        "nominalcode": "",
        "baseprice": 0.0,
        "costprice": 0.0,
        "recurringprice": 0.0,
        "recurringcost": 0.0,
        "isrecurringitem": False,
        "item_default_billing_period": 1,
        "update_recurring_invoice_price": False,
        "update_recurring_invoice_cost": False,
        "taxcode": 5,
        "taxable": True,
        "supplier_id": -1,
        "supplier_name": "",
        "type": 0,
        "quantity_in_stock": 0.0,
        "dont_track_stock": True,
        "datecreated": EMPTY_DATE,
        "lastmodified": EMPTY_DATE,
        "customfields": [],
    }
)
ITEM_LIST_FIELDS = (
    "id",
    "use",
    "name",
    "status",
    "description",
    "internalreference",
    "externalreference",
    "supplier_part_code",
    "baseprice",
    "costprice",
    "recurringprice",
    "recurringcost",
    "isrecurringitem",
    "taxcode",
    "type",
)

LICENCE_DEFAULTS = _frozen(
    {
        "id": 0,
        # What Halo stores when a POST leaves ``type`` out: no source names a default, so 0,
        # the value an int column takes; vendor-seat syncs send 1 for a subscription.
        "type": 0,
        "name": "",
        "count": 0,
        "client_id": 0,
        "client_name": "",
        "site_id": -1,
        "site_name": "",
        "item_id": -1,
        "item_name": "",
        "purchase_price": 0.0,
        "price": 0.0,
        "monthly_price": 0.0,
        "monthly_cost": 0.0,
        "start_date": EMPTY_DATE,
        "end_date": EMPTY_DATE,
        "manufacturer": "",
        "vendor": "",
        "distributor": "",
        "notes": "",
        "supplier_id": -1,
        "supplier_name": "",
        "billing_cycle": "",
        "term_duration": "",
        "status": "Active",
        "autorenew": False,
        "is_active": True,
        "deleted": False,
        "licences_in_use": 0,
        "licences_in_use_user": 0,
        "licences_available": 0,
        "tenant_id": "",
        "tenant_name": "",
        "thirdparty_client_id": "",
        "product_sku": "",
        "vendor_product_sku": "",
        "third_party_product": "",
        "parent_id": 0,
        "requested_quantity": 0,
        "requested_quantity_date": EMPTY_DATE,
        "licence_roles": [],
        "licence_match": [],
    }
)
LICENCE_LIST_FIELDS = (
    "id",
    "type",
    "name",
    "count",
    "client_id",
    "client_name",
    "site_id",
    "site_name",
    "item_id",
    "purchase_price",
    "price",
    "start_date",
    "end_date",
    "vendor",
    "manufacturer",
    "billing_cycle",
    "term_duration",
    "status",
    "is_active",
    "deleted",
)

CONTRACT_DEFAULTS = _frozen(
    {
        "id": 0,
        "client_id": 0,
        "client_name": "",
        "ref": "",
        "refextra": "",
        "start_date": EMPTY_DATE,
        "end_date": OPEN_END_DATE,
        "started": True,
        "expired": False,
        "active": True,
        "status": 1,
        "contract_status": "Active",
        "billingperiod": 2,
        "billing_period_string": "Monthly",
        "periodchargeamount": 0.0,
        "next_invoice_date": EMPTY_DATE,
        "periodicinvoicenextdate": EMPTY_DATE,
        "contracttype": 0,
        "contracttype_name": "",
        "subtype": 0,
        "site_id": -1,
        "site_name": "",
        "note": "",
        "billingplans": [],
        "customfields": [],
        "last_modified": EMPTY_DATE,
        "use": "contract",
    }
)
CONTRACT_LIST_FIELDS = (
    "id",
    "client_id",
    "client_name",
    "ref",
    "start_date",
    "end_date",
    "active",
    "expired",
    "status",
    "contract_status",
    "billingperiod",
    "billing_period_string",
    "periodchargeamount",
    "site_id",
)

INVOICE_DEFAULTS = _frozen(
    {
        "disabled": False,
        "customfields": [],
        "id": 0,
        "use": "invoice",
        "client_id": 0,
        "client_name": "",
        "sitenumber": 0,
        "site_name": "",
        "uid": 0,
        "invoicenumber": "0",
        "thirdpartyinvoicenumber": "",
        "posted": False,
        "name": "",
        "invoice_date": EMPTY_DATE,
        "schedule_date": EMPTY_DATE,
        "last_modified": EMPTY_DATE,
        "notes_1": "",
        "notes_2": "",
        "notes_3": "",
        "salesorder_id": -2,
        "datetype": 1,
        "percent": 100.0,
        "type": 1,
        "contract_id": 0,
        "contract_ref": "",
        "datesent": EMPTY_DATE,
        "currency": "£",
        "currency_code": 1,
        "currency_conversion_rate": 1.0,
        "paymentterms": 0,
        "hideinvoice": False,
        "ticket_id": 0,
        "invoicetype": 0,
        "paymentstatus": -1,
        "amountpaid": 0.0,
        "amountdue": 0.0,
        "emailstatus": 0,
        "pdftemplate_id": 0,
        "total": 0.0,
        "tax_total": 0.0,
        "revenue": 0.0,
        "reference": "",
        "duedate": EMPTY_DATE,
        "is_recurring_invoice": False,
        "schedule_id": 0,
        "lastcreated": EMPTY_DATE,
        "nextcreationdate": EMPTY_DATE,
        "period": 0,
        "recurring_invoice_id": 0,
        "due_date_int": 30,
        "due_date_type": 0,
        "createdbyagentname": "API",
        "internal_note": "",
        "original_client_id": 0,
        "original_client_name": "",
        "date_created": EMPTY_DATE,
        "invoice_prorata_periods_ahead": 0,
        "period_start_date": EMPTY_DATE,
        "period_end_date": EMPTY_DATE,
        "reviewrequired": False,
        "xero_line_tax": "Exclusive",
        "invoice_percent_increase": 0.0,
        "assigned_agent": 1,
        "assigned_agent_name": "Unassigned",
        "approval_status": 0,
        "requires_approval": False,
        "contains_calculated_quantity": False,
        "credit_total": 0.0,
        "supplier_id": 0,
        "invoice_display": "",
    }
)
RECURRING_INVOICE_DEFAULTS = _frozen(
    {
        **INVOICE_DEFAULTS,
        "is_recurring_invoice": True,
        "schedule_id": 0,
        "period": 2,
        "invoice_prorata_periods_ahead": 1,
        "nextcreationperiod": "",
        "requires_approval": True,
    }
)
LINE_DEFAULTS = _frozen(
    {
        "customfields": [],
        "id": 0,
        "ihid": 0,
        "item_code": "",
        "item_shortdescription": "",
        "item_longdescription": "",
        "nominal_code": "",
        "tax_code": "5",
        "qty_order": 0.0,
        "unit_price": 0.0,
        "net_amount": 0.0,
        "tax_amount": 0.0,
        "tax_rate": 20.0,
        "itemonorder": False,
        "_itemid": -1,
        "productnumber": "",
        "unit_cost": 0.0,
        "asset_id": -1,
        "contract_id": -1,
        "recurring_invoice_id": -1,
        "recurring_invoice_line_id": 0,
        "actioncode": -1,
        "site": -1,
        "meter_id": -1,
        "ticket_id": -1,
        "lineactiondate": EMPTY_DATE,
        "prepay_id": -1,
        "calculate_price_from_assets": False,
        "calculate_price_from_users": False,
        "recurring_invoice_price_type": 0,
        "item_internal_reference": "",
        "item_external_reference": "",
        "prorata_next_invoice": False,
        "isinactive": False,
        "group_id": 0,
        "isgroupdesc": False,
        "quantity_users": [],
        "quantity_assets": [],
        "quantity_licences": [],
        "quantity_subscriptions": [],
        "recurring_invoice_quantity_type": 0,
        "_is_calculated_line": False,
        "sequenceid": 0,
        "autorenew": False,
        "onetimecharge": False,
        "discount": 0.0,
        "discount_perc": 0.0,
        "supplier": 0,
        "supplier_name": "",
        "hide_on_pdf": False,
        "original_client_id": 0,
        "conversion_rate": 1.0,
        "baseprice": 0.0,
        "net_total": 0.0,
        "total_tax": 0.0,
        "total_price": 0.0,
        "total_discount": 0.0,
        "item_taxable": True,
    }
)
QUANTITY_LINK_DEFAULTS = _frozen(
    {
        "id": 0,
        "invoice_line_id": 0,
        "kind": 1,
        "type_id": 0,
        "device_group_id": 0,
        "type_name": "",
        "device_group_name": "",
        "site_id": 0,
        "site_name": "",
        "licence_id": 0,
        "licence_name": "",
        "assigned_licences": False,
        "qty_free": 0,
        "minimum_qty": 0,
        "pro_rata": 0,
        "criteria": [],
        "use_linked_subscription_price": False,
        "use_linked_subscription_cost": False,
    }
)


@dataclass(frozen=True)
class EntityKind:
    """How one Halo entity is routed, permitted, listed, filtered and validated."""

    name: str
    table: str
    list_key: str
    schema: str
    resource: str
    seed_key: str
    defaults: Mapping[str, Any]
    list_fields: tuple[str, ...] | None
    """A list row's fields; None: every field but nested objects and arrays (lines)."""
    search_fields: tuple[str, ...]
    active_rule: ActiveRule = "none"
    required_on_create: tuple[str, ...] = ()
    references: Mapping[str, str] = field(default_factory=dict)
    negative_ids: bool = False
    has_lines: bool = False
    bare_array_quirk: bool = False

    @property
    def fields(self) -> Mapping[str, str]:
        """Field name -> JSON type, for what a POST may set."""
        return SCHEMA_FIELDS[self.schema]


CLIENT = EntityKind(
    name="Client",
    table="clients",
    list_key="clients",
    schema="Area",
    resource="customers",
    seed_key="clients",
    defaults=CLIENT_DEFAULTS,
    list_fields=CLIENT_LIST_FIELDS,
    search_fields=("name", "ref", "accountsid", "trading_name"),
    active_rule="inactive",
    required_on_create=("name",),
)
SITE = EntityKind(
    name="Site",
    table="sites",
    list_key="sites",
    schema="Site",
    resource="customers",
    seed_key="sites",
    defaults=SITE_DEFAULTS,
    list_fields=SITE_LIST_FIELDS,
    search_fields=("name", "client_name"),
    active_rule="inactive",
    required_on_create=("name", "client_id"),
    references={"client_id": "clients"},
)
ITEM = EntityKind(
    name="Item",
    table="items",
    list_key="items",
    schema="Item",
    resource="items",
    seed_key="items",
    defaults=ITEM_DEFAULTS,
    list_fields=ITEM_LIST_FIELDS,
    search_fields=("name", "description", "internalreference", "externalreference"),
    active_rule="status",
    required_on_create=("name",),
    bare_array_quirk=True,
)
INVOICE = EntityKind(
    name="Invoice",
    table="invoices",
    list_key="invoices",
    schema="InvoiceHeader",
    resource="invoices",
    seed_key="invoices",
    defaults=INVOICE_DEFAULTS,
    list_fields=None,
    search_fields=("invoicenumber", "reference", "client_name"),
    required_on_create=("client_id",),
    references={"client_id": "clients", "recurring_invoice_id": "recurring_invoices"},
    has_lines=True,
    bare_array_quirk=True,
)
RECURRING_INVOICE = EntityKind(
    name="RecurringInvoice",
    table="recurring_invoices",
    list_key="invoices",
    schema="InvoiceHeader",
    resource="invoices",
    seed_key="recurring_invoices",
    defaults=RECURRING_INVOICE_DEFAULTS,
    list_fields=None,
    search_fields=("reference", "client_name", "notes_1"),
    required_on_create=("client_id",),
    references={"client_id": "clients", "contract_id": "contracts"},
    negative_ids=True,
    has_lines=True,
    bare_array_quirk=True,
)
CLIENT_CONTRACT = EntityKind(
    name="ClientContract",
    table="contracts",
    list_key="contracts",
    schema="ContractHeader",
    resource="contracts",
    seed_key="contracts",
    defaults=CONTRACT_DEFAULTS,
    list_fields=CONTRACT_LIST_FIELDS,
    search_fields=("ref", "client_name"),
    active_rule="active",
    required_on_create=("client_id",),
    references={"client_id": "clients", "site_id": "sites"},
)
SOFTWARE_LICENCE = EntityKind(
    name="SoftwareLicence",
    table="licences",
    list_key="licences",
    schema="Licence_List",
    resource="softwarelicensing",
    seed_key="licences",
    defaults=LICENCE_DEFAULTS,
    list_fields=LICENCE_LIST_FIELDS,
    search_fields=("name", "vendor", "manufacturer"),
    active_rule="is_active",
    required_on_create=("name", "client_id"),
    references={"client_id": "clients", "site_id": "sites", "item_id": "items"},
)

ENTITIES: tuple[EntityKind, ...] = (
    CLIENT,
    SITE,
    ITEM,
    CLIENT_CONTRACT,
    SOFTWARE_LICENCE,
    RECURRING_INVOICE,
    INVOICE,
)
"""In dependency order: what a seed document applies first comes first."""

_BY_ROUTE = {kind.name.lower(): kind for kind in ENTITIES}
_BY_ANY_NAME = {
    **{kind.table: kind for kind in ENTITIES},
    **{kind.seed_key: kind for kind in ENTITIES},
    **_BY_ROUTE,
}


def entity_for_route(segment: str) -> EntityKind | None:
    """The entity behind ``/api/<segment>`` (case-insensitive), if any."""
    return _BY_ROUTE.get(segment.lower())


def entity_named(name: str) -> EntityKind:
    """An entity by route name (any case) or storage/seed key; a clear error otherwise."""
    kind = _BY_ANY_NAME.get(name.lower()) or _BY_ANY_NAME.get(name)
    if kind is None:
        known = ", ".join(kind.name for kind in ENTITIES)
        raise KeyError(f"unknown Halo entity {name!r}; known entities: {known}")
    return kind
