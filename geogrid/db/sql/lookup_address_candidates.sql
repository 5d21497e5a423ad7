-- Candidate standard addresses for parsed address queries, in one statement (one snapshot).
-- queries: a JSON array with one object per query (built by geogrid.db.lookup):
--   number    house number ("12") or null
--   exact     every ending of the text before the number: the street is one of them
--   fuzzy     their edit keys (geogrid.address.edit_keys): a street one character away shares one
--   compound  compound name or null
--   text      the normalised query; pattern: the same as a LIKE pattern (wildcards escaped)
-- cap caps the candidates of one query, k the matches of the trigram fallback.
-- Street + number (btree and the GIN index on street_keys) or a compound find candidates; only
-- a query they find nothing for falls back to pg_trgm word similarity on the normalised text
-- (the caller set pg_trgm.word_similarity_threshold).  Ranking happens in Python
-- (geogrid.address.score_candidate).  Each candidate carries the finest published grid
-- containing it and the names of its village and township.
WITH q AS (
    SELECT (x.i - 1)::int AS i,
           x.v->>'number' AS number,
           x.v->>'compound' AS compound,
           x.v->>'text' AS t,
           x.v->>'pattern' AS pattern,
           ARRAY(SELECT jsonb_array_elements_text(x.v->'exact')) AS exact,
           ARRAY(SELECT jsonb_array_elements_text(x.v->'fuzzy')) AS fuzzy
    FROM jsonb_array_elements(%(queries)s::jsonb) WITH ORDINALITY AS x(v, i)
),
parsed AS (
    SELECT q.i, c.id, true AS parsed, 1.0::real AS similarity
    FROM q
    JOIN LATERAL (
        SELECT a.id FROM addresses a
        WHERE q.number IS NOT NULL AND a.number_key = q.number
          AND (a.street_key = ANY(q.exact) OR a.street_keys && q.fuzzy)
        UNION
        SELECT a.id FROM addresses a
        WHERE q.number IS NULL AND a.street_key = ANY(q.exact)
        UNION
        SELECT a.id FROM addresses a
        WHERE q.compound IS NOT NULL AND a.compound_key = q.compound
        LIMIT %(cap)s
    ) c ON true
),
resembling AS (
    SELECT q.i, m.id, false AS parsed, m.similarity
    FROM q
    JOIN LATERAL (
        SELECT a.id,
               CASE WHEN strpos(a.match_text, q.t) > 0 THEN 1.0::real
                    ELSE word_similarity(q.t, a.match_text) END AS similarity
        FROM addresses a
        WHERE q.t <%% a.match_text OR a.match_text LIKE q.pattern
        ORDER BY similarity DESC, a.id
        LIMIT %(k)s
    ) m ON true
    WHERE NOT EXISTS (SELECT 1 FROM parsed p WHERE p.i = q.i)
),
hit AS (
    SELECT * FROM parsed
    UNION ALL
    SELECT * FROM resembling
)
SELECT hit.i, hit.parsed, hit.similarity,
       a.id, a.source_id, a.full_text, a.households, a.division_code, ST_X(a.geom), ST_Y(a.geom),
       a.province, a.city, a.county, a.street_key, a.number_key, a.compound_key, a.building_key,
       a.unit_key, a.room_key, a.township_key, a.village_key,
       v.name, t.code, t.name, g.code, g.level, g.name, g.plan_id
FROM hit
-- By primary key, one row per hit (LIMIT keeps the planner from turning this into a hash join
-- over the whole table: it cannot know that the JSON holds a handful of queries).
CROSS JOIN LATERAL (SELECT * FROM addresses a WHERE a.id = hit.id LIMIT 1) a
LEFT JOIN divisions v ON v.code = a.division_code
LEFT JOIN divisions t ON t.code = coalesce(v.parent_code, left(a.division_code, 9) || '000')
                     AND t.level = 'township'
LEFT JOIN LATERAL (
    SELECT g.code, g.level, g.name, g.plan_id
    FROM grids g
    JOIN plans p ON p.id = g.plan_id AND p.status = 'published'
    WHERE ST_Intersects(g.geom, a.geom)
    ORDER BY length(g.code) DESC, g.level DESC, g.code
    LIMIT 1
) g ON true
ORDER BY hit.i, a.id
