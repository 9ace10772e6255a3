"""The peer a Visma integrator would otherwise write: FastAPI, SQLAlchemy 2 (async) and Pydantic.

Written as FastAPI's and SQLAlchemy's documentation teach, neither slowed down nor tuned beyond
them: an async engine on `sqlite+aiosqlite`, a session per request from a dependency, a declarative
model of Ord and a Pydantic response model of its row. Both models are generated from the 308
columns, with the property names redhorn's catalog gives them, so the body has the keys of
redhorn's page; decimals are floats, as SQLite stores them. `GET /orders?top=100` answers the
newest 100 orders in `{"value": [...]}`.
Run: DATA=data/F9999.db uvicorn bench.fastapi_peer:app --http httptools
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from pydantic import BaseModel, ConfigDict, create_model
from sqlalchemy import URL, Float, Integer, String, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, mapped_column

from bench.order_table import order_table

DATABASE = Path(os.environ.get("DATA", "data/F9999.db"))
TABLE = order_table(DATABASE)
SQL_TYPES: dict[str, Any] = {"integer": Integer, "decimal": Float, "string": String}
PYTHON_TYPES: dict[str, Any] = {"integer": int, "decimal": float, "string": str}

engine = create_async_engine(URL.create("sqlite+aiosqlite", database=str(DATABASE)))
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)


class Base(DeclarativeBase):
    pass


Order: Any = type(
    "Order",
    (Base,),
    {
        "__tablename__": TABLE.sql_name,
        **{
            column.name: mapped_column(
                column.sql_name, SQL_TYPES[column.kind], primary_key=column in TABLE.key, nullable=column.nullable
            )
            for column in TABLE.columns
        },
    },
)

ROW_FIELDS: dict[str, Any] = {
    column.name: (PYTHON_TYPES[column.kind] | None if column.nullable else PYTHON_TYPES[column.kind], ...)
    for column in TABLE.columns
}
OrderRow: Any = create_model("OrderRow", __config__=ConfigDict(from_attributes=True), **ROW_FIELDS)


class OrderPage(BaseModel):
    value: list[OrderRow]


async def get_session() -> AsyncIterator[AsyncSession]:
    async with SessionLocal() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    await engine.dispose()


app = FastAPI(lifespan=lifespan)


@app.get("/orders", response_model=OrderPage)
async def read_orders(session: SessionDep, top: int = 100) -> Any:
    result = await session.execute(select(Order).order_by(Order.OrderNo.desc()).limit(top))
    return {"value": result.scalars().all()}
