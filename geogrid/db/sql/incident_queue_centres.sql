-- Queue bulk-loaded incidents (those after the given id) at the lowest centre above them: their village's,
-- else their township's, else their county's; at that centre's level.
UPDATE incidents i
SET centre_code = q.code, level = q.level
FROM (
    SELECT DISTINCT ON (i2.id) i2.id, c.code, c.level
    FROM incidents i2
    JOIN centres c ON c.code IN (
        i2.village_code, i2.township_code, left(coalesce(i2.village_code, i2.township_code), 6) || '000000'
    )
    WHERE i2.id > :first
    ORDER BY i2.id, CASE c.level WHEN 'village' THEN 0 WHEN 'township' THEN 1 ELSE 2 END
) q
WHERE i.id = q.id
