"""The organisation units a staff member can see: their own unit and everything below."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentUser, EngineDep
from api.queries import visible_org_units

router = APIRouter(prefix="/api", tags=["reference data"])


class OrgUnitPublic(BaseModel):
    id: int
    code: str
    name: str
    level: str
    parent_id: int | None
    path: str


@router.get(
    "/org-units",
    response_model=list[OrgUnitPublic],
    summary="Org units of my subtree / 本机构及下级机构",
)
async def list_org_units(engine: EngineDep, user: CurrentUser) -> list[OrgUnitPublic]:
    """My own unit and every unit below it (a village station sees only itself), parents
    before children; these are the units I may register veterans at."""

    def read() -> list[OrgUnitPublic]:
        with Session(engine) as s:
            return [
                OrgUnitPublic(**r.model_dump(exclude={"level"}), level=str(r.level))
                for r in visible_org_units(s, user.org_path)
            ]

    return await run_in_threadpool(read)
