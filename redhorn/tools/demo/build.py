"""The demo databases: Visma-shaped SQLite files with realistic, deterministic data.

`build_demo(folder, scale=1.0)` writes `vbsys.db` (companies and users), `Catalog.db`, `F9999.db`
(5,000 associates, 20,000 products, 200,000 orders, 1,000,000 order lines at scale 1) and a small
second company `F0001`. Data is stored as Visma stores it: dates as int yyyymmdd (0 when empty),
times as int hhmm, 0 or '' rather than NULL for "not set", text compared case-insensitively as in
SQL Server's default collation. One Data Model Extension (the table `ACME_DelRoute` and the column
`Actor.ACME_Segment`) is added outside the model.

The demo is the whole model: a company database holds all 320 tables of the Visma Business model
(`metadata/visma-model.json`) with all their stored columns, in column-number order, because a real
installation does and the API, OpenAPI and `$metadata` must be shown at that size. Where the model
does not know a SQL name, the demo uses the **stand-in convention**: the SQL table name is the
table's English identifier and the SQL column name the column's English identifier (`Country`,
`Country.IsoCode`), the names the crawler gives such tables. Unknown types and keys stand in by the
rules in `redhorn.tools.demo.schema` (types by format, value domain and identifier ending; keys by
`PrimaryKey`, parent number and `LineNo`, the table's own number, the first `...No`).

The demo's story (associates, products, orders, ledger, ...) fills ~40 of those tables; their other
columns keep Visma's 'not set' defaults. Every other table gets a few deterministic rows
(`redhorn.tools.demo.filler`), so every resource has something to read by key.

Files are built under temporary names and renamed into place, so a reader never sees half a file.

Why this module is long: one builder method per Visma table of the story, in the order the tables
depend on each other, sharing one random generator so the data is deterministic; read top to
bottom, it is the demo's whole story. The word pools live in `redhorn.tools.demo.words`.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from redhorn.catalog.model import load_model
from redhorn.tools.demo.filler import fill_empty_tables
from redhorn.tools.demo.schema import DemoSchema, DemoTable, create_table_statement, create_view_statement
from redhorn.tools.demo.words import (
    ACCOUNTS,
    CURRENCIES,
    DELIVERY_METHODS,
    FAMILY,
    FIRST,
    FORM,
    GIVEN,
    ITEM,
    MATERIAL,
    PLACES,
    PRODUCT_GROUPS,
    SECOND,
    STREET,
    UNITS,
)
from redhorn.writers import tombstones
from redhorn.writers.numberseries import set_default_interval

logger = logging.getLogger("redhorn.demo")

# The company's default number series: (table, column, column number, interval).
DEFAULT_NUMBER_SERIES = (
    ("Actor", "ActNo", 4028, (1, 99_999_999)),
    ("Actor", "CustNo", 4045, (10_000, 49_999)),
    ("Actor", "SupNo", 4046, (50_000, 59_999)),
    ("Actor", "EmpNo", 0, (1, 9_999)),
    ("Ord", "OrdNo", 2868, (1, 99_999_999)),
)
# Payment terms (days) the associates have, in turn.
PAYMENT_TERMS = (10, 14, 30)
DEMO_COMPANY = 9999
SMALL_COMPANY = 1
SEED = 9999


def create_schema(connection: sqlite3.Connection, tables: Sequence[DemoTable]) -> None:
    """Create the tables, then the views over them (see `redhorn.tools.demo.schema`)."""
    for table in tables:
        if table.kind == "table":
            connection.execute(create_table_statement(table))
    for table in tables:
        if table.kind == "view":
            connection.execute(create_view_statement(table, tables))


def _insert(connection: sqlite3.Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" for _ in columns)
    connection.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows)


def _date(day: dt.date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def _company_name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)}{rng.choice(SECOND)} {rng.choice(FORM)}"


class _Company:
    """Generates one company database's rows; counts scale with `scale`."""

    def __init__(self, connection: sqlite3.Connection, rng: random.Random, scale: float, today: dt.date) -> None:
        self.db = connection
        self.rng = rng
        self.scale = scale
        self.today = today
        self.first_day = today - dt.timedelta(days=6 * 365)
        # (number, name, address, post code, area, country, currency, payment terms)
        self.customers: list[tuple[int, str, str, str, str, int, int, int]] = []
        self.suppliers: list[tuple[int, str, str, str, str, int, int, int]] = []
        self.products: list[tuple[str, str, float, int]] = []

    def count(self, full: int, minimum: int = 5) -> int:
        return max(minimum, int(full * self.scale))

    def day(self, position: float) -> dt.date:
        span = (self.today - self.first_day).days
        return self.first_day + dt.timedelta(days=int(span * position))

    def build(self) -> None:
        self.reference_tables()
        self.associates()
        self.products_and_stock()
        self.orders()
        self.ledger()
        self.other_tables()
        self.extension()

    def reference_tables(self) -> None:
        _insert(
            self.db,
            "Cur",
            ("CurNo", "ISO", "Nm", "ExRt", "ChDt"),
            [(no, iso, name, rate, _date(self.today)) for no, iso, name, rate in CURRENCIES],
        )
        _insert(self.db, "Unit", ("UnitNo", "Descr", "Dec"), UNITS)
        texts = [(16, lang, no, name) for lang in (44, 46, 47) for no, name, _ in UNITS]
        texts += [(5, lang, no, name) for lang in (44, 46, 47) for no, name in DELIVERY_METHODS]
        _insert(self.db, "Txt", ("TxtTp", "Lang", "TxtNo", "Txt"), texts)
        _insert(
            self.db,
            "Ac",
            ("AcNo", "Nm", "AcGr", "TxCd", "ChDt", "CreDt"),
            [
                (no, name, str(no // 1000), 1 if no // 1000 == 3 else 0, 0, _date(self.first_day))
                for no, name in ACCOUNTS
            ],
        )
        _insert(
            self.db,
            "AcNoSer",
            ("AcCl", "FrNo", "ToNo", "AcIntProc", "Descr"),
            [
                (1, 10000, 49999, 0, "Customers"),
                (2, 50000, 59999, 0, "Suppliers"),
                (3, 1000, 9999, 0, "GL accounts"),
                (5, 1, 9999, 0, "Employees"),
            ],
        )
        for n in range(1, 13):
            rows = [
                (i if n <= 6 else f"R{n}-{i:03d}", f"Unit {n}.{i} {self.rng.choice(FIRST)}") for i in range(1, 6 + n)
            ]
            _insert(self.db, f"R{n}", ("RNo", "Nm"), rows)

    def associates(self) -> None:
        rng = self.rng
        total = self.count(5000, 30)
        suppliers = max(5, total // 6)
        employees = max(3, total // 25)
        rows = []
        for act_no in range(1, total + 1):
            post_code, area, country = rng.choice(PLACES)
            cust_no = sup_no = emp_no = 0
            if act_no <= employees:
                emp_no = act_no
                name = f"{rng.choice(GIVEN)} {rng.choice(FAMILY)}"
            elif act_no <= employees + suppliers:
                sup_no = 50000 + act_no
                name = _company_name(rng)
            else:
                cust_no = 10000 + act_no
                name = _company_name(rng)
            address = f"{rng.choice(STREET)} {rng.randint(1, 120)}"
            currency = {47: 47, 46: 46, 45: 45}[country] if rng.random() < 0.9 else 49
            created = self.day(rng.random() * 0.5)
            payment_terms = PAYMENT_TERMS[act_no % len(PAYMENT_TERMS)]
            row = (
                act_no,
                name,
                name.split()[0][:80],
                cust_no,
                sup_no,
                emp_no,
                address,
                post_code,
                area,
                country,
                f"+{country} {rng.randint(20000000, 99999999)}",
                f"post@{name.split()[0].lower()}.example",
                currency,
                payment_terms,
                1 + act_no % 5,
                _date(created),
                _date(self.day(0.5 + rng.random() * 0.5)),
            )
            rows.append(row)
            entry = (act_no, name, address, post_code, area, country, currency, payment_terms)
            if cust_no:
                self.customers.append((cust_no, *entry[1:]))
            elif sup_no:
                self.suppliers.append((sup_no, *entry[1:]))
        _insert(
            self.db,
            "Actor",
            (
                "ActNo",
                "Nm",
                "Shrt",
                "CustNo",
                "SupNo",
                "EmpNo",
                "Ad1",
                "PNo",
                "PArea",
                "Ctry",
                "Phone",
                "MailAd",
                "Cur",
                "PmtTrm",
                "R1",
                "CreDt",
                "ChDt",
            ),
            rows,
        )

    def products_and_stock(self) -> None:
        rng = self.rng
        total = self.count(20000, 40)
        rows, stock, scans = [], [], []
        for i in range(1, total + 1):
            group = PRODUCT_GROUPS[i % len(PRODUCT_GROUPS)]
            prod_no = f"{group}-{i:06d}"
            description = f"{rng.choice(MATERIAL)} {rng.choice(ITEM)} {rng.randint(4, 60)}x{rng.randint(10, 400)}"
            price = round(rng.uniform(5, 5000), 2)
            unit = rng.choice(UNITS)[0]
            self.products.append((prod_no, description, price, unit))
            rows.append(
                (
                    prod_no,
                    description,
                    unit,
                    1 + i % 40,
                    1 + i % 3,
                    i % 20 + 1,
                    round(rng.uniform(0.01, 40), 3),
                    _date(self.day(rng.random())),
                    _date(self.day(0.2 * rng.random())),
                )
            )
            for warehouse in (1, 2) if i % 3 == 0 else (1,):
                stock.append(
                    (
                        prod_no,
                        warehouse,
                        rng.randint(0, 500),
                        rng.randint(0, 50),
                        rng.randint(0, 40),
                        round(price * 0.6, 2),
                    )
                )
            scans.append((prod_no, f"{7040000000000 + i * 7:013d}", "EAN-13"))
        _insert(
            self.db,
            "Prod",
            ("ProdNo", "Descr", "StSaleUn", "ProdGr", "ProdTp", "PrCatNo", "NWgtU", "ChDt", "CreDt"),
            rows,
        )
        _insert(self.db, "StcBal", ("ProdNo", "StcNo", "Bal", "StcInc", "ShpRsv", "PhCstPr"), stock)
        _insert(self.db, "ScanCd", ("ProdNo", "SCd", "Descr"), scans)
        _insert(
            self.db,
            "ProdCat",
            ("PrCatNo", "Descr"),
            [(i, f"{rng.choice(MATERIAL)} {rng.choice(ITEM)}s") for i in range(1, 21)],
        )
        # Every product's list price (no customer, no dates), then customers' own prices and discounts.
        matrix = [
            (line, prod_no, 0, price, 0, round(price * 0.6, 2), 0, 0)
            for line, (prod_no, _, price, _) in enumerate(self.products, start=1)
        ]
        for line in range(len(matrix) + 1, len(matrix) + self.count(5000) + 1):
            prod_no, _, price, _ = rng.choice(self.products)
            cust_no = rng.choice(self.customers)[0] if rng.random() < 0.5 else 0
            matrix.append(
                (
                    line,
                    prod_no,
                    cust_no,
                    round(price * rng.uniform(0.8, 1.0), 2),
                    rng.choice((0, 5, 10, 15)),
                    round(price * 0.6, 2),
                    _date(self.day(rng.random() * 0.8)),
                    0,
                )
            )
        _insert(self.db, "PrDcMat", ("LnNo", "ProdNo", "CustNo", "SalePr", "SaleDcP", "CstPr", "FrDt", "ToDt"), matrix)

    def orders(self) -> None:
        rng = self.rng
        total = self.count(200_000, 50)
        target_lines = self.count(1_000_000, 250)
        counts = [rng.randint(1, 9) for _ in range(total)]
        difference = target_lines - sum(counts)
        step = 1 if difference > 0 else -1
        index = 0
        while difference:
            if 1 <= counts[index % total] + step <= 20:
                counts[index % total] += step
                difference -= step
            index += 1
        heads = []
        products, random_ = self.products, rng.random

        def lines() -> Iterator[tuple[Any, ...]]:
            for order_no in range(1, total + 1):
                position = order_no / total
                order_day = self.day(position)
                sale = random_() < 0.85
                party = rng.choice(self.customers if sale else self.suppliers)
                number, name, address, post_code, area, _, currency, payment_terms = party
                invoiced = position < 0.97
                delivery = order_day + dt.timedelta(days=rng.randint(1, 21))
                order_sum = 0.0
                for line_no in range(1, counts[order_no - 1] + 1):
                    prod_no, description, price, unit = products[int(random_() * len(products))]
                    quantity = rng.randint(1, 40) if random_() < 0.8 else round(random_() * 100, 2)
                    amount = round(quantity * price, 2)
                    order_sum += amount
                    yield (
                        order_no,
                        line_no,
                        prod_no,
                        description,
                        quantity,
                        price,
                        amount,
                        unit,
                        1 if sale else 6,
                        _date(order_day) if invoiced else 0,
                        _date(delivery),
                        currency,
                        quantity if invoiced else 0,
                        line_no * 10,
                    )
                heads.append(
                    (
                        order_no,
                        _date(order_day),
                        1 if sale else 6,
                        number if sale else 0,
                        0 if sale else number,
                        name,
                        address,
                        post_code,
                        area,
                        name,
                        address,
                        post_code,
                        area,
                        rng.choice(DELIVERY_METHODS)[0],
                        _date(delivery),
                        f"PO-{rng.randint(1000, 99999)}",
                        currency,
                        1.0,
                        f"INV{order_no:08d}" if invoiced and sale else "",
                        rng.randint(1, 5),
                        payment_terms,
                        round(order_sum, 2),
                    )
                )

        _insert(
            self.db,
            "OrdLn",
            (
                "OrdNo",
                "LnNo",
                "ProdNo",
                "Descr",
                "NoInvoAb",
                "Price",
                "Am",
                "Un",
                "TrTp",
                "TrDt",
                "DelDt",
                "Cur",
                "NoInvo",
                "Srt",
            ),
            lines(),
        )
        _insert(
            self.db,
            "Ord",
            (
                "OrdNo",
                "OrdDt",
                "TrTp",
                "CustNo",
                "SupNo",
                "Nm",
                "Ad1",
                "PNo",
                "PArea",
                "DelNm",
                "DelAd1",
                "DelPNo",
                "DelPArea",
                "DelMt",
                "DelDt",
                "CSOrdNo",
                "Cur",
                "ExRt",
                "InvoNo",
                "R1",
                "PmtTrm",
                "OrdSum",
            ),
            heads,
        )

    def ledger(self) -> None:
        rng = self.rng
        customer_rows, supplier_rows, gl_rows, open_rows = [], [], [], []
        for entry in range(1, self.count(30000) + 1):
            customer = rng.choice(self.customers)
            voucher_day = self.day(entry / self.count(30000))
            amount = round(rng.uniform(100, 50000), 2)
            customer_rows.append(
                (
                    entry // 10 + 1,
                    entry,
                    customer[0],
                    100000 + entry,
                    _date(voucher_day),
                    _date(voucher_day + dt.timedelta(days=14)),
                    "Invoice",
                    f"INV{entry:08d}",
                    rng.randint(1, 1000),
                    amount,
                    amount,
                    customer[6],
                    1.0,
                )
            )
            gl_rows.append(
                (
                    entry // 10 + 1,
                    entry,
                    rng.choice(ACCOUNTS)[0],
                    100000 + entry,
                    _date(voucher_day),
                    _date(voucher_day),
                    "Invoice",
                    amount,
                    47,
                    1.0,
                    amount,
                    1,
                )
            )
            if entry % 10 == 0:
                open_rows.append(
                    (
                        entry // 10 + 1,
                        entry,
                        customer[0],
                        f"INV{entry:08d}",
                        _date(voucher_day + dt.timedelta(days=14)),
                        amount,
                    )
                )
        for entry in range(1, self.count(5000) + 1):
            supplier = rng.choice(self.suppliers)
            voucher_day = self.day(entry / self.count(5000))
            supplier_rows.append(
                (
                    entry // 10 + 1,
                    entry,
                    supplier[0],
                    200000 + entry,
                    _date(voucher_day),
                    _date(voucher_day + dt.timedelta(days=30)),
                    f"S{entry:07d}",
                    -round(rng.uniform(100, 20000), 2),
                )
            )
        _insert(
            self.db,
            "CustTr",
            ("JNo", "EntNo", "CustNo", "VoNo", "VoDt", "DueDt", "Txt", "InvoNo", "OrdNo", "Am", "CurAm", "Cur", "ExRt"),
            customer_rows,
        )
        _insert(
            self.db,
            "AcTr",
            ("JNo", "EntNo", "AcNo", "VoNo", "VoDt", "ValDt", "Txt", "AcAm", "Cur", "ExRt", "CurAm", "VoTp"),
            gl_rows,
        )
        _insert(self.db, "SupTr", ("JNo", "EntNo", "SupNo", "VoNo", "VoDt", "DueDt", "InvoNo", "CurAm"), supplier_rows)
        _insert(self.db, "OpCustEnt", ("JNo", "EntNo", "CustNo", "InvoNo", "DueDt", "CurAm"), open_rows)

    def other_tables(self) -> None:
        rng = self.rng
        structures = [
            (prod[0], line, rng.choice(self.products)[0], rng.randint(1, 8), "Component")
            for prod in self.products[: self.count(400)]
            for line in range(1, 4)
        ]
        _insert(self.db, "Struct", ("ProdNo", "LnNo", "SubProd", "NoPerStr", "Descr"), structures)
        _insert(
            self.db,
            "ProdDesc",
            ("ProdNo", "LnNo", "Lang", "Descr"),
            [(prod[0], 1, 44, prod[1]) for prod in self.products[: self.count(5000)]],
        )
        _insert(
            self.db,
            "ProdTr",
            ("JNo", "EntNo", "ProdNo", "TrDt", "NoInvoAb", "OrdNo"),
            [
                (
                    i // 10 + 1,
                    i,
                    rng.choice(self.products)[0],
                    _date(self.day(i / self.count(20000))),
                    rng.randint(-20, 50),
                    rng.randint(1, 1000),
                )
                for i in range(1, self.count(20000) + 1)
            ],
        )
        _insert(
            self.db,
            "ActInf",
            ("ActNo", "InfTp", "LnNo", "Txt"),
            [
                (c[0] - 10000, 1, 1, f"Contact: {rng.choice(GIVEN)} {rng.choice(FAMILY)}")
                for c in self.customers[: self.count(2000)]
            ],
        )
        _insert(
            self.db,
            "FreeInf1",
            ("PK", "ActNo", "ProdNo", "Val1", "Txt1"),
            [
                (
                    i,
                    rng.choice(self.customers)[0] - 10000,
                    rng.choice(self.products)[0],
                    round(rng.uniform(0, 100), 2),
                    "Campaign",
                )
                for i in range(1, self.count(500) + 1)
            ],
        )
        _insert(
            self.db,
            "Doc",
            ("DocNo", "VerNo", "Nm", "FlNm", "CreDt"),
            [
                (i, 1, f"Contract {i}", f"contract-{i}.pdf", _date(self.day(rng.random())))
                for i in range(1, self.count(500) + 1)
            ],
        )
        _insert(
            self.db,
            "BgtLn",
            ("BgtNo", "LnNo", "AcNo", "Yr", "Pr", "Am"),
            [
                (1, i, rng.choice(ACCOUNTS)[0], self.today.year, 1 + i % 12, round(rng.uniform(1000, 90000), 2))
                for i in range(1, self.count(2000) + 1)
            ],
        )
        appointments = []
        for i in range(1, self.count(3000) + 1):
            customer = rng.choice(self.customers)
            day = _date(self.day(rng.random()))
            start = rng.choice((800, 900, 1000, 1300, 1400))
            appointments.append(
                (
                    customer[0] - 10000,
                    i,
                    customer[0] - 10000,
                    rng.randint(1, 1000),
                    day,
                    day,
                    start,
                    start + 100,
                    "Customer visit",
                    customer[0],
                    rng.randint(1, 20),
                    day,
                    day,
                    "system",
                )
            )
        _insert(
            self.db,
            "Agr",
            (
                "AgrActNo",
                "AgrNo",
                "ActNo",
                "OrdNo",
                "FrDt",
                "ToDt",
                "FrTm",
                "ToTm",
                "Descr",
                "CustNo",
                "EmpNo",
                "CreDt",
                "ChDt",
                "CreUsr",
            ),
            appointments,
        )

    def extension(self) -> None:
        """A Data Model Extension the dictionary does not know: one table and one nullable column."""
        self.db.execute(
            'CREATE TABLE "ACME_DelRoute" ("RouteNo" INTEGER NOT NULL PRIMARY KEY, '
            '"Nm" VARCHAR(80) NOT NULL DEFAULT \'\' COLLATE NOCASE, "DriverEmpNo" INT NOT NULL DEFAULT 0, '
            '"WeekDays" VARCHAR(20) NOT NULL DEFAULT \'\', "CapacityKg" DECIMAL(18,2) NOT NULL DEFAULT 0)'
        )
        _insert(
            self.db,
            "ACME_DelRoute",
            ("RouteNo", "Nm", "DriverEmpNo", "WeekDays", "CapacityKg"),
            [
                (i, f"Route {place[1].title()}", i, "Mon,Wed,Fri" if i % 2 else "Tue,Thu", 1200.5 * i)
                for i, place in enumerate(PLACES[:8], start=1)
            ],
        )
        self.db.execute('ALTER TABLE "Actor" ADD COLUMN "ACME_Segment" VARCHAR(20) NULL COLLATE NOCASE')
        self.db.execute(
            'UPDATE "Actor" SET "ACME_Segment" = CASE "ActNo" % 4 WHEN 0 THEN NULL WHEN 1 THEN \'Retail\' '
            "WHEN 2 THEN 'Wholesale' ELSE 'Public' END"
        )


def _write_database(path: Path, fill: Any) -> None:
    temporary = path.with_name(path.name + ".building")
    temporary.unlink(missing_ok=True)
    connection = sqlite3.connect(temporary, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode = OFF")
        connection.execute("PRAGMA synchronous = OFF")
        connection.execute("BEGIN")
        fill(connection)
        connection.execute("COMMIT")
        connection.execute("ANALYZE")
        # Write-ahead logging lets the read pool go on reading while a write commits.
        connection.execute("PRAGMA journal_mode = WAL")
    finally:
        connection.close()
    temporary.replace(path)


def company_references(company: _Company) -> dict[str, Sequence[int | str]]:
    """The first numbers of the populated tables, by the identifier that refers to them, for the filler rows."""
    return {
        "AssociateNo": [1, 2, 3],
        "EmployeeNo": [1, 2, 3],  # the first associates are the employees
        "CustomerNo": [customer[0] for customer in company.customers[:3]],
        "SupplierNo": [supplier[0] for supplier in company.suppliers[:3]],
        "ProductNo": [product[0] for product in company.products[:3]],
        "OrderNo": [1, 2, 3],
        "CurrencyNo": [currency[0] for currency in CURRENCIES[:3]],
        "AccountNo": [account[0] for account in ACCOUNTS[:3]],
        "UnitNo": [unit[0] for unit in UNITS[:3]],
        "WarehouseNo": [1, 2],
        "CountryNo": [47, 46, 45],
        "LanguageNo": [47, 46, 44],
    }


def build_company(path: Path, schema: DemoSchema, *, scale: float, seed: int, today: dt.date) -> None:
    """One company database: the whole model's tables, the demo's story in ~40 of them, a few rows in the rest."""

    def fill(connection: sqlite3.Connection) -> None:
        tables = schema.tables["company"]
        create_schema(connection, tables)
        company = _Company(connection, random.Random(seed), scale, today)
        company.build()
        fill_empty_tables(connection, schema.model, tables, company_references(company), today)
        for table, column, column_no, interval in DEFAULT_NUMBER_SERIES:
            set_default_interval(connection, table, column, interval, column_no=column_no)
        tombstones.ensure_tables(connection)
        connection.execute('CREATE INDEX "Ord_CustNo" ON "Ord" ("CustNo")')
        connection.execute('CREATE INDEX "Actor_CustNo" ON "Actor" ("CustNo")')
        connection.execute('CREATE INDEX "Actor_SupNo" ON "Actor" ("SupNo")')
        connection.execute('CREATE INDEX "PrDcMat_ProdNo" ON "PrDcMat" ("ProdNo", "CustNo")')

    _write_database(path, fill)


def build_system(path: Path, schema: DemoSchema, companies: Sequence[tuple[int, str]]) -> None:
    """The system database: the companies and the users."""

    def fill(connection: sqlite3.Connection) -> None:
        create_schema(connection, schema.tables["vbsys"])
        _insert(
            connection,
            "Company",
            ("FrmNo", "Nm", "OrgNo", "Ctry", "Cur"),
            [(no, name, f"9{no:08d}", 47, 47) for no, name in companies],
        )
        _insert(
            connection,
            "Usr",
            ("Usr", "Nm", "AccGr", "FrmGr", "VbsTp"),
            [("system", "System", 1, 1, 1), ("vbsint", "VBS integration", 1, 1, 1), ("anne", "Anne Hansen", 2, 1, 0)],
        )

    _write_database(path, fill)


def build_catalog(path: Path, schema: DemoSchema) -> None:
    """The Catalog database: one row per table and view of a company database, under its demo SQL name."""

    def fill(connection: sqlite3.Connection) -> None:
        create_schema(connection, schema.tables["catalog"])
        rows = [(t.number or 10000 + i, t.identifier, t.sql) for i, t in enumerate(schema.tables["company"])]
        _insert(connection, "ModelTable", ("TableNo", "Identifier", "SqlName"), rows)

    _write_database(path, fill)


DEMO_FILES = ("vbsys.db", "Catalog.db", "F0001.db", "F9999.db")
# Which demo the files hold: raised when the demo's tables change, so that `redhorn demo --if-missing`
# builds again over an older demo instead of serving it. 2: the whole model, 320 tables; 3: tombstones
# of deleted rows, for delta links.
DEMO_EDITION = "3"
EDITION_FILE = "demo-edition.txt"


class DemoInUse(OSError):
    """A demo database is open in a running server; rebuilding it under the server would corrupt it."""


def release_for_rebuild(path: Path) -> None:
    """Make sure no one has `path` open, and leave it without write-ahead log files.

    Switching a database out of WAL mode needs every other connection closed, so it is the test:
    a running server keeps its read connections open. On success the log is checkpointed and its
    `-wal` and `-shm` files are gone, so none can be replayed into the file that replaces it (which
    once corrupted a rebuilt demo).

    Raises:
        DemoInUse: another process has the database open.
    """
    if not path.exists():
        return
    try:
        connection = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            mode = connection.execute("PRAGMA journal_mode = DELETE").fetchone()[0]
        finally:
            connection.close()
    except sqlite3.OperationalError:
        mode = "wal"
    except sqlite3.DatabaseError:  # not a database at all: nothing can be using it as one
        mode = "delete"
    if str(mode).lower() == "wal":
        raise DemoInUse(f"{path} is open in a running server; stop the server, then build the demo again")
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def build_demo(folder: Path, *, scale: float = 1.0, today: dt.date | None = None) -> float:
    """Build every demo database in `folder`; returns the seconds it took.

    Raises:
        DemoInUse: a server has one of the demo databases open (no data was changed).
    """
    started = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    for name in DEMO_FILES:
        release_for_rebuild(folder / name)
    schema = DemoSchema.of(load_model())
    day = today or dt.date(2026, 11, 24)
    build_system(folder / "vbsys.db", schema, [(DEMO_COMPANY, "Demo Company AS"), (SMALL_COMPANY, "Småbedrift AS")])
    build_catalog(folder / "Catalog.db", schema)
    build_company(folder / "F0001.db", schema, scale=min(scale, 0.01), seed=SEED + 1, today=day)
    build_company(folder / "F9999.db", schema, scale=scale, seed=SEED, today=day)
    (folder / EDITION_FILE).write_text(DEMO_EDITION + "\n", encoding="utf-8")
    elapsed = time.perf_counter() - started
    logger.info("Built the demo databases in %s in %.1f s", folder, elapsed)
    return elapsed


def demo_exists(folder: Path) -> bool:
    """Whether `folder` holds this edition of the demo: every file, built by this version's builder."""
    edition = folder / EDITION_FILE
    if not edition.is_file() or edition.read_text(encoding="utf-8").strip() != DEMO_EDITION:
        return False
    return all((folder / name).is_file() for name in DEMO_FILES)
