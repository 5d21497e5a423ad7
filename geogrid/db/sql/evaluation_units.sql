-- Every unit of a level under a code prefix (the units with no case are listed too),
-- with its Chinese name and households (grids of published plans).  {level} picks one branch.
WITH g AS (
    SELECT g.code, g.name, g.division_code, g.households
    FROM grids g JOIN plans p ON p.id = g.plan_id AND p.status = 'published'
    WHERE g.code LIKE :prefix AND length(g.code) = 15
)
SELECT * FROM (
    SELECT 'grid' AS level, g.code AS unit, coalesce(g.name, g.code) AS name, g.households::bigint AS households FROM g
    UNION ALL
    SELECT 'village', d.code, d.name, (SELECT sum(g.households) FROM g WHERE g.division_code = d.code)
    FROM divisions d WHERE d.level = 'village' AND d.code LIKE :prefix
    UNION ALL
    SELECT 'township', d.code, d.name, (SELECT sum(g.households) FROM g WHERE g.division_code LIKE substr(d.code, 1, 9) || '%')
    FROM divisions d WHERE d.level = 'township' AND d.code LIKE :prefix
    UNION ALL
    SELECT 'centre', c.code, c.name, (
        SELECT sum(g.households) FROM g
        WHERE g.code LIKE rtrim(CASE WHEN c.code LIKE '%000000' THEN substr(c.code, 1, 6)
                                     WHEN c.code LIKE '%000' THEN substr(c.code, 1, 9) ELSE c.code END) || '%')
    FROM centres c WHERE c.code LIKE :prefix
    UNION ALL
    SELECT 'department', dp.code, dp.name, NULL FROM departments dp WHERE dp.division_code LIKE :prefix
) u
WHERE u.level = :level
ORDER BY u.unit
