-- Best matching standard addresses for many normalised query texts, in one statement.
-- Parameters: texts = text array, likes = the same texts as LIKE patterns (wildcards
-- escaped), k = matches per text.  (Never write a placeholder in a comment: psycopg2 fills
-- placeholders client-side, comments included, so user text would land in the SQL text.)
-- The caller set pg_trgm.word_similarity_threshold, which the
-- word-similarity operator uses; both conditions are served by the GIN trigram index on
-- addresses.full_text.
-- Score: 1 when the full text contains the query exactly, else pg_trgm word_similarity
-- (the query against the best-matching stretch of the full text, so a query without
-- province/city/county still scores high).  The exact-substring arm matters for short
-- Chinese queries: pg_trgm pads each word with blanks, and a CJK address is one long
-- "word", so the padded trigrams of a 3-character query never match mid-text and its
-- word similarity stays at 1/4 even when it occurs verbatim.
-- Each match carries the finest published grid containing the address point.
SELECT q.i - 1 AS index, m.id, m.source_id, m.full_text, m.households, m.division_code,
       m.lon, m.lat, m.score, hit.code, hit.level, hit.name, hit.plan_id,
       (SELECT d.name FROM divisions d WHERE d.code = m.division_code) AS division_name
FROM unnest(%(texts)s::text[], %(likes)s::text[]) WITH ORDINALITY AS q(t, pattern, i)
JOIN LATERAL (
    SELECT a.id, a.source_id, a.full_text, a.households, a.division_code, a.geom,
           ST_X(a.geom) AS lon, ST_Y(a.geom) AS lat,
           CASE WHEN strpos(a.full_text, q.t) > 0 THEN 1.0::real
                ELSE word_similarity(q.t, a.full_text) END AS score
    FROM addresses a
    WHERE q.t <%% a.full_text OR a.full_text LIKE q.pattern
    ORDER BY score DESC, a.id
    LIMIT %(k)s
) m ON true
LEFT JOIN LATERAL (
    SELECT g.code, g.level, g.name, g.plan_id
    FROM grids g
    JOIN plans p ON p.id = g.plan_id AND p.status = 'published'
    WHERE ST_Intersects(g.geom, m.geom)
    ORDER BY length(g.code) DESC, g.level DESC, g.code
    LIMIT 1
) hit ON true
ORDER BY q.i, m.score DESC, m.id
