-- Households and address counts of the published grids holding the given addresses, from the
-- addresses' (register-derived) households.  Parameter ids = the address ids.  A 15-digit grid counts the
-- addresses of its sub-grids too, as plan_refresh_counts.sql counts them; only these grids are
-- touched, so a register import in one village does not rewrite the county's grids.
WITH touched AS (
    SELECT DISTINCT g.id, g.code
    FROM addresses a
    JOIN grids g ON g.code IN (a.grid_code, left(a.grid_code, 15))
    JOIN plans p ON p.id = g.plan_id AND p.status = 'published'
    WHERE a.id = ANY(:ids)
),
counts AS (
    SELECT t.id, coalesce(sum(a.households), 0) AS households, count(a.id) AS n
    FROM touched t
    LEFT JOIN addresses a ON a.grid_code = t.code OR (length(t.code) = 15 AND left(a.grid_code, 15) = t.code)
    GROUP BY t.id
)
UPDATE grids g SET households = counts.households, address_count = counts.n
FROM counts
WHERE g.id = counts.id
