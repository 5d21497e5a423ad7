"""Write the planner notebooks in notebooks/ (without outputs) from the cells below.

    .venv/bin/python scripts/make_notebooks.py

The notebooks only call geogrid; edit the cells here and re-run rather than editing the
.ipynb files, so that what is committed stays reviewable and free of outputs.  The
first code cell of each notebook carries the tag ``parameters`` (papermill convention):
tests and planners may replace it.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

KERNEL = {
    "kernelspec": {"display_name": "Python 3 (geogrid)", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}


def md(text: str) -> nbformat.NotebookNode:
    return new_markdown_cell(text.strip())


def code(text: str, *, parameters: bool = False) -> nbformat.NotebookNode:
    cell = new_code_cell(text.strip())
    if parameters:
        cell.metadata["tags"] = ["parameters"]
    return cell


PARTITION = [
    md("""
# 01 · Partition a village, then a county (网格划分)

Grids follow the published size rule (urban 300–500, rural 50–100 households), tile each
village/community without gaps or overlaps and follow its streets.  This notebook:

1. partitions one synthetic village, validates it and shows it on a map;
2. partitions a whole synthetic county (villages in parallel);
3. stores divisions, addresses and streets in PostGIS, saves the grids as a draft plan and
   publishes it.

The database is `geogrid.db.database_url()`: `GEOGRID_DATABASE_URL` when set, otherwise the
project's own local PostGIS cluster.
"""),
    code(
        """
# Parameters
HOUSEHOLDS = 20_000  # households of the synthetic county
VILLAGE_HOUSEHOLDS = 900  # households of the single village partitioned first
COUNTY = "320506"  # GB/T 2260 code of the synthetic county
SEED = 0  # same seed, same data and grids
SCHEDULER = None  # None: a local Dask cluster; "synchronous": villages one after another here
""",
        parameters=True,
    ),
    code("""
from geogrid import maps, plans
from geogrid.county import partition_county
from geogrid.db import database_url, make_engine, migrate, store
from geogrid.db import plans as db_plans
from geogrid.partition import partition
from geogrid.synthetic import make_county, make_village
"""),
    md("""
## 1. One village

A rural village (村) of synthetic detached houses, its street network and standard
addresses.  `partition` cuts the village into street blocks and groups them into
contiguous grids of 50–100 households, numbered west→east, north→south.
"""),
    code("""
VILLAGE = COUNTY + "100201"
village = make_village(households=VILLAGE_HOUSEHOLDS, kind="rural", seed=SEED, village_code=VILLAGE)
result = partition(
    village.villages, village.addresses, village.streets, "rural", seed=SEED, division_code=VILLAGE
)
result.diagnostics
"""),
    code("""
print(result.report.summary())
plans.household_table(result.grids, "rural")
"""),
    code("""
plans.household_histogram(result.grids, "rural");
"""),
    md("Grids coloured by households against the bounds (below / within / above):"),
    code("""
maps.grid_map(result.grids, rule="rural")
"""),
    md("""
## 2. A whole county

Townships (街道/镇) → villages and communities → streets → buildings → addresses.  Each
village is partitioned with the rule of its kind; a village that cannot be partitioned is
reported with its reason, never silently skipped.
"""),
    code("""
county = make_county(households=HOUSEHOLDS, seed=SEED, county_code=COUNTY)
county.villages[["code", "name", "kind", "households"]]
"""),
    code("""
county_result = partition_county(
    county.divisions, county.addresses, county.streets, seed=SEED, scheduler=SCHEDULER, progress=False
)
county_result.villages
"""),
    code("""
county_result.failed  # village code -> why it could not be partitioned
"""),
    code("""
grids = county_result.grids
checks = plans.validate_by_division(grids, county.villages)  # each village against itself and its rule
print(f"{int(checks['ok'].sum())} of {len(checks)} villages valid")
checks
"""),
    code("""
maps.grid_map(grids[grids["kind"] == "urban"], rule="urban")
"""),
    code("""
maps.grid_map(grids[grids["kind"] == "rural"], rule="rural")
"""),
    md("""
## 3. Store and publish

Divisions, addresses and streets go into PostGIS (each load is all or nothing); the county's
grids are saved as a draft plan and published.  Publishing assigns every address to its
grid and refreshes the household counts from the stored addresses.
"""),
    code("""
engine = make_engine(database_url())
migrate.upgrade(engine)
SCOPE = COUNTY + "000000"
"""),
    code("""
if not db_plans.list_plans(engine, scope_code=SCOPE):  # first run on this database
    store.load(engine, "divisions", county.divisions, source="synthetic divisions")
    store.load(engine, "addresses", county.addresses, source="synthetic addresses")
    store.load(engine, "streets", county.streets, source="synthetic streets")
plan_id = db_plans.save_plan(engine, grids, scope_code=SCOPE, author="planner", note="first partition")
db_plans.get_plan(engine, plan_id)
"""),
    code("""
db_plans.publish_plan(engine, plan_id)
"""),
    code("""
db_plans.list_plans(engine, scope_code=SCOPE)
"""),
]

REDRAW = [
    md("""
# 02 · Re-draw grids (动态调整)

Housing changes; grids are re-drawn.  This notebook loads the plan published by
`01_partition.ipynb` from PostGIS and adjusts one village:

1. move a street block between two neighbouring grids, and see an edit refused;
2. split a grid that grew above the bound after new housing;
3. merge two grids left small after demolition;
4. re-validate and look at the difference, numbers a planner can check by hand, on a map;
5. publish the new plan, then roll back to the previous one;
6. repair a growth scenario with the least change, beside a fresh re-draw.

Every edit returns a new plan frame and refuses, with the grid codes, households and bound
in its message, anything that would break contiguity, the household bounds or coverage.
Grids that do not change keep their codes; new grids take unused sequence numbers.
"""),
    code(
        """
# Parameters
COUNTY = "320506"  # the county published by 01_partition.ipynb
SEED = 0
NEW_BUILDINGS = 12  # a new estate built in one grid ...
HOUSEHOLDS_PER_BUILDING = 8  # ... with this many households per building
DEMOLISHED_SHARE = 0.6  # share of the addresses of two neighbouring grids demolished
""",
        parameters=True,
    ),
    code("""
import geopandas as gpd
import pandas as pd

from geogrid import maps, plans
from geogrid.blocks import make_blocks
from geogrid.db import database_url, make_engine, store
from geogrid.db import plans as db_plans
from geogrid.errors import PlanEditError
from geogrid.validate import validate
"""),
    md("## 1. Load the published plan"),
    code("""
engine = make_engine(database_url())
SCOPE = COUNTY + "000000"
published = db_plans.load_published(engine, SCOPE)
county = db_plans.load_scope(engine, SCOPE)
plan_id = published.attrs["plan_id"]
print(f"plan {plan_id}: {len(published)} grids, {published['households'].sum()} households")
"""),
    md("The village re-drawn here is the one with the most grids; its kind gives the rule."),
    code("""
VILLAGE = published["division_code"].value_counts().index[0]
village = db_plans.load_scope(engine, VILLAGE)
RULE = village.divisions["kind"].iloc[0]
before = published[published["division_code"] == VILLAGE]
print(VILLAGE, village.divisions["name"].iloc[0], RULE)
plans.household_table(before, RULE)
"""),
    code("""
maps.grid_map(before, rule=RULE)
"""),
    md("""
## 2. Move a block between neighbouring grids

The village's street blocks, and the single-block moves the rule allows (the most balancing
first).
"""),
    code("""
blocks = make_blocks(village.divisions, village.streets)
options = plans.movable_blocks(published, blocks, rule=RULE, addresses=county.addresses, codes=before["code"])
options.head()
"""),
    code("""
move = options.iloc[0]
plan = plans.move_blocks(
    published, blocks, [move.block_id], move.to_code, rule=RULE, addresses=county.addresses
)
plans.household_table(plan[plan["code"].isin([move.from_code, move.to_code])], RULE)
"""),
    md("An edit that would break the bounds is refused, and the message says why:"),
    code("""
try:
    plans.merge_grids(plan, move.from_code, move.to_code, rule=RULE)
except PlanEditError as refused:
    print(refused)
"""),
    md("""
## 3. New housing: split the grid that grew above the bound

A new estate is built in the grid that just received a block.  The grid is partitioned
again along its streets into parts within the bounds; the parts get unused codes and the old
code is retired.
"""),
    code("""
GROW = move.to_code
site = plan.loc[plan["code"] == GROW].sample_points(NEW_BUILDINGS, rng=SEED).explode(index_parts=False)
new_housing = gpd.GeoDataFrame(
    {
        "address_id": [f"{GROW}-N{i + 1:02d}" for i in range(len(site))],
        "full_text": [f"新建小区{i + 1}号楼" for i in range(len(site))],
        "households": HOUSEHOLDS_PER_BUILDING,
        "village_code": VILLAGE,
    },
    geometry=site.values,
    crs="EPSG:4326",
)
addresses = pd.concat([county.addresses, new_housing], ignore_index=True)
plan = plans.recount(plan, addresses)
plans.household_table(plan[plan["division_code"] == VILLAGE], RULE).query("status != 'within'")
"""),
    code("""
plan = plans.split_grid(plan, GROW, addresses, rule=RULE, streets=village.streets, seed=SEED)
print("retired:", plan.attrs["retired_codes"])
plans.household_table(plan[plan["division_code"] == VILLAGE], RULE).tail()
"""),
    md("""
## 4. Demolition: merge two grids left small

Most buildings of two neighbouring grids are demolished; both fall below the lower bound and
are merged into one grid.
"""),
    code("""
SMALL = plan.loc[plan["division_code"] == VILLAGE, "code"].iloc[0]
NEIGHBOUR = plans.neighbours(plan, SMALL)[0]
demolished = pd.concat(
    [plans.addresses_in(plan, addresses, SMALL), plans.addresses_in(plan, addresses, NEIGHBOUR)]
).sample(frac=DEMOLISHED_SHARE, random_state=SEED)
addresses = addresses[~addresses["address_id"].isin(demolished["address_id"])]
plan = plans.recount(plan, addresses)
plans.household_table(plan[plan["code"].isin([SMALL, NEIGHBOUR])], RULE)
"""),
    code("""
plan = plans.merge_grids(plan, SMALL, NEIGHBOUR, rule=RULE)
print("retired:", plan.attrs["retired_codes"])
"""),
    md("## 5. Re-validate and compare with the published plan"),
    code("""
after = plan[plan["division_code"] == VILLAGE]
in_village = addresses[addresses["village_code"] == VILLAGE]
print(validate(after, parent=village.divisions, rule=RULE, addresses=in_village))
"""),
    md("""
Every number of the diff counts one snapshot, `addresses` (today's register: the new estate in,
the demolished buildings out).  Per grid: `households_before` is what lies in the old grid
today, `households_after` what lies in the new one, `households_out` / `households_in` the parts
that left / came, so that **after = before − out + in** on every row.  `households_recorded` is
what the published plan counted when it was made; `growth` = before − recorded is new housing
and demolition, not moves.  The table sums grids (15-digit codes): sub-grids are counted inside
their parents, never added.
"""),
    code("""
diff = plans.diff_plans(published, plan, addresses=addresses)
print(diff)
columns = ["code", "code_before", "change", "households_recorded", "growth",
           "households_before", "households_out", "households_in", "households_after"]
diff.frame.loc[diff.frame["change"] != "unchanged", columns]
"""),
    md("The summary is the sum of the table: check it by hand against the column sums below."),
    code("""
diff.summary()
"""),
    code("""
sums = diff.frame[["households_before", "households_out", "households_in", "households_after", "growth"]].sum()
print(sums.to_string())
assert (diff.frame["households_after"] == diff.frame["households_before"] - diff.frame["households_out"]
        + diff.frame["households_in"]).all()
pd.concat({"published": plans.plan_totals(published), "edited": plans.plan_totals(plan)})
"""),
    md("Changed grids highlighted; popups show the households before and after:"),
    code("""
maps.diff_map(before, after, diff.frame[diff.frame["division_code"] == VILLAGE])
"""),
    code("""
plans.household_histogram(after, RULE);
"""),
    md("""
## 6. Publish

The address register is updated first (new estate in, demolished buildings out): publishing
re-assigns addresses and recounts households from it, which must agree with the plan.
"""),
    code("""
store.load(engine, "addresses", new_housing, source="new estate")
db_plans.delete_addresses(engine, demolished["address_id"].tolist())
draft = db_plans.save_plan(engine, plan, scope_code=SCOPE, author="planner", note=f"re-drawn {VILLAGE}")
db_plans.publish_plan(engine, draft)
"""),
    code("""
print(plans.diff_plans(plan, db_plans.load_published(engine, SCOPE)))  # stored as edited
db_plans.list_plans(engine, scope_code=SCOPE)
"""),
    md("## 7. Roll back to the previous plan"),
    code("""
db_plans.rollback_plan(engine, SCOPE)
db_plans.list_plans(engine, scope_code=SCOPE)
"""),
    md("""
## 8. Growth in one corner: repair with the least change

A new estate in the north-east corner pushes a few grids of the village over the upper bound.
`plans.repair` fixes those grids and touches as few neighbours as it must (split along streets,
hand blocks over, merge; a small region re-drawn only when nothing local works).  Every other
grid keeps its code and its geometry bit for bit, so its staff, residents' cards and incident
history stay with it.  Beside it: a fresh re-draw of the village with `recode`.
"""),
    code("""
from geogrid.codes import recode
from geogrid.partition import partition
from geogrid.scenarios import growth

grown = growth(before, village.addresses, RULE, share=0.1, seed=SEED)
print("over the upper bound:", grown.over)
repaired = plans.repair(before, grown.addresses, village.streets, RULE, seed=SEED)
print(repaired)
repaired.changes
"""),
    code("""
def kept_exactly(new):
    same = new.set_index("code").geometry
    old = before.set_index("code").geometry
    return sum(c in same.index and same[c].equals_exact(old[c], 0) for c in old.index)

fresh = partition(village.divisions, grown.addresses, village.streets, RULE, division_code=VILLAGE,
                  seed=SEED, validate=False)
redrawn = recode(fresh.grids.drop(columns="code"), before).grids
print(f"grids kept exactly (code and geometry), of {len(before)}: repair {kept_exactly(repaired.plan)}, "
      f"fresh re-draw + recode {kept_exactly(redrawn)}")
print(validate(repaired.plan, parent=village.divisions, rule=RULE, addresses=grown.addresses))
"""),
    md("The repair's diff, checked the same way, and only the changed grids on the map:"),
    code("""
repair_diff = plans.diff_plans(before, repaired.plan, addresses=grown.addresses)
print(repair_diff)
repair_diff.summary()
"""),
    code("""
changed = repair_diff.frame[repair_diff.frame["change"] != "unchanged"]
maps.diff_map(before[before["code"].isin(changed["code_before"])], repaired.plan, changed)
"""),
]


def write(name: str, cells: list) -> Path:
    nb = new_notebook(cells=cells, metadata=KERNEL)
    nbformat.validate(nb)
    path = NOTEBOOKS / name
    path.parent.mkdir(exist_ok=True)
    nbformat.write(nb, path)
    return path


def main() -> None:
    for name, cells in (("01_partition.ipynb", PARTITION), ("02_redraw.ipynb", REDRAW)):
        print(write(name, cells))


if __name__ == "__main__":
    main()
