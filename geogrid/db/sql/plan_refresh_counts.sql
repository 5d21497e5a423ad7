-- Households and address counts of the grids of plan plan_id from the address register, for the
-- villages that have a register (grids of villages without addresses keep the plan's estimates).
-- A 15-digit grid counts the addresses of its sub-grids too.
WITH registered AS (
    SELECT DISTINCT g.division_code
    FROM grids g JOIN addresses a ON a.grid_code LIKE g.division_code || '%'
    WHERE g.plan_id = :plan_id
),
by_grid AS (
    SELECT grid_code, sum(households) AS households, count(*) AS n
    FROM addresses WHERE grid_code IS NOT NULL GROUP BY grid_code
),
counts AS (
    SELECT g.id,
           coalesce(sum(b.households), 0) AS households,
           coalesce(sum(b.n), 0) AS n
    FROM grids g
    JOIN registered r ON r.division_code = g.division_code
    LEFT JOIN by_grid b ON b.grid_code = g.code OR (length(g.code) = 15 AND left(b.grid_code, 15) = g.code)
    WHERE g.plan_id = :plan_id
    GROUP BY g.id
)
UPDATE grids g SET households = counts.households, address_count = counts.n
FROM counts
WHERE g.id = counts.id
