-- Chinese names of division and grid codes, in one statement.
-- codes: a text array.  A grid code is named from the plan that holds it, published plans
-- first, then the newest (a retired code still has the name it had); a grid stored without
-- a name is named by its sequence number (第3网格, sub-grid 第3网格第1单元).
SELECT d.code, d.name
FROM divisions d
WHERE d.code = ANY(CAST(:codes AS text[]))
UNION ALL
SELECT g.code,
       coalesce(g.name,
                '第' || CAST(substr(g.code, 13, 3) AS int) || '网格'
                || CASE WHEN length(g.code) = 17 THEN '第' || CAST(substr(g.code, 16, 2) AS int) || '单元' ELSE '' END)
FROM (
    SELECT DISTINCT ON (g.code) g.code, g.name
    FROM grids g
    JOIN plans p ON p.id = g.plan_id
    WHERE g.code = ANY(CAST(:codes AS text[]))
    ORDER BY g.code, (p.status = 'published') DESC, p.id DESC
) g
