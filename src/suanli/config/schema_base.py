"""Building blocks of the scenario file's models: the strict base, ids and locations."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

Identifier = str  # lower-case id: letters, digits, '-', '_'
ID_PATTERN = r"^[a-z0-9][a-z0-9_\-]*$"


class Strict(BaseModel):
    """Base: unknown fields are errors, objects are immutable, numbers finite."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Location(Strict):
    """Where a site or a user region is (WGS84 degrees)."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    province: str = ""
    source: str = ""
