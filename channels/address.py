"""Free-text Chinese addresses → province / city / district, via the ``cnloc`` package.

Only the self-built shop sends unstructured addresses; the platforms give the levels already.
cnloc is conservative: it refuses what it cannot place (``朝阳区…`` alone is in Beijing *and*
Liaoning) rather than guess, and returns None for each level it could not find.

Loading cnloc costs about 2.5 s and 280 MB (importing it reads a 144k-row table), so
:class:`RegionParser` loads it on first use, once, behind a lock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cnloc import AddressParser

# Newest year of cnloc's division snapshots (1980–2024).
_YEAR = 2024
# Municipalities have no prefecture level; cnloc fills it with these placeholders.
_MUNICIPALITY_CITIES = frozenset({"市辖区", "县"})
# 省/自治区直辖县级 units (济源, 仙桃, 石河子, 陵水…) have no prefecture either.
_DIRECT_COUNTY_CITY = "直辖县"


@dataclass(frozen=True, slots=True)
class Region:
    province: str
    city: str
    district: str | None  # None where the address names no county level, or it has none (东莞)


class RegionParser:
    """Parses addresses with cnloc, loading it lazily; safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parser: AddressParser | None = None

    def parse(self, text: str) -> Region | None:
        """The region named by ``text``, or None when its province or city cannot be told.

        Placeholders are normalised: a municipality's city is the municipality itself
        (上海市/上海市/浦东新区), and a county-level unit directly under a province is both
        city and district (河南省/济源市/济源市), as Taobao reports it.
        """
        found = self._loaded().parse_single(text, year=_YEAR, drop=["id"])
        province, city, county = found["province_name"], found["city_name"], found["county_name"]
        if city in _MUNICIPALITY_CITIES:
            city = province
        elif city == _DIRECT_COUNTY_CITY:
            city = county
        if not province or not city:
            return None
        return Region(province=province, city=city, district=county)

    def _loaded(self) -> AddressParser:
        if self._parser is None:
            with self._lock:
                if self._parser is None:
                    import cnloc  # the slow part: builds cnloc's singleton and reads its data

                    # parse_single needs the year's matcher; only the public batch API builds it.
                    cnloc.getlocation("北京市", year=_YEAR)
                    self._parser = cnloc.AddressParser()
        return self._parser
