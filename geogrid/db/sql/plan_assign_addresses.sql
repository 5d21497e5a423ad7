-- Point the addresses at the grids of the just-published plan plan_id and refresh the plan's
-- counts, in one statement:
-- * an address inside the plan's grids gets its finest grid (a sub-grid beats its 15-digit parent;
--   on a shared boundary the smaller code wins, deterministically);
-- * an address that pointed at a grid of the retired plans (retired) and lies in no grid of this
--   plan loses its grid;
-- * households and address counts of the plan's grids come from the same assignment, for the
--   villages that have a register (grids of villages without addresses keep the plan's
--   estimates); a 15-digit grid counts the addresses of its sub-grids too.
-- Cost: addresses are found through the GiST index of their points, grids by plan, every join is
-- on equal codes, and only addresses whose grid changes are written.  grid_code has no index and
-- the table keeps free room on its pages (fillfactor), so these writes are HOT updates that touch
-- no index: publishing a county costs the same in a province of a hundred counties.
WITH plan_grids AS MATERIALIZED (
    SELECT id, code, division_code, geom FROM grids WHERE plan_id = :plan_id
),
hit AS MATERIALIZED (
    SELECT DISTINCT ON (a.id) a.id, g.code, a.households
    FROM plan_grids g JOIN addresses a ON ST_Intersects(g.geom, a.geom)
    ORDER BY a.id, length(g.code) DESC, g.code
),
-- Candidates: every address in the plan's grids with its grid, every address pointing at a grid
-- of a retired plan with none; an address in both keeps its grid (sorted, not anti-joined: the
-- planner knows nothing of a plan saved a moment ago and would loop over the CTE).  The
-- addresses of each retired grid are found through the GiST index (OFFSET 0 keeps the planner
-- from turning this into a hash join on grid_code over every address of the province).
candidates AS (
    SELECT id, code, 0 AS rank FROM hit
    UNION ALL
    SELECT a.id, NULL, 1
    FROM grids r
    CROSS JOIN LATERAL (
        SELECT a.id FROM addresses a WHERE a.geom && r.geom AND a.grid_code = r.code OFFSET 0
    ) a
    WHERE r.plan_id = ANY(:retired)
),
target AS (
    SELECT DISTINCT ON (id) id, code FROM candidates ORDER BY id, rank
),
assigned AS (
    UPDATE addresses a SET grid_code = t.code
    FROM target t
    WHERE a.id = t.id AND a.grid_code IS DISTINCT FROM t.code
    RETURNING a.id
),
rolled AS (
    SELECT code, households FROM hit
    UNION ALL
    SELECT left(code, 15), households FROM hit WHERE length(code) = 17
),
totals AS (
    SELECT code, sum(households) AS households, count(*) AS n FROM rolled GROUP BY code
),
registered AS (
    SELECT DISTINCT left(code, 12) AS division_code FROM hit
)
UPDATE grids g
SET households = coalesce(t.households, 0), address_count = coalesce(t.n, 0)
FROM plan_grids pg
JOIN registered r ON r.division_code = pg.division_code
LEFT JOIN totals t ON t.code = pg.code
WHERE g.id = pg.id
  AND (g.households, g.address_count) IS DISTINCT FROM (coalesce(t.households, 0), coalesce(t.n, 0))
